"""Accounts of admins and coordinators: `farmchat admin` as a user runs it, and the storage
functions behind it on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import open_database
from bot.cli import main
from storage import accounts
from storage.accounts import AccountError
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
FARMCHAT = [sys.executable, "-m", "bot.cli"]


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "farm.db"


@pytest.fixture
def env(db_file):
    return {
        **os.environ,
        "FARMCHAT_DATABASE__URL": f"sqlite+aiosqlite:///{db_file}",
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "PYTHONPATH": str(ROOT),
    }


def admin(env, *args, stdin=None):
    return subprocess.run(
        [*FARMCHAT, "admin", *args], env=env, capture_output=True, text=True, timeout=120,
        input=stdin,
    )  # fmt: skip


def rows(db_file, sql):
    with sqlite3.connect(db_file) as conn:
        return conn.execute(sql).fetchall()


def test_add_list_passwd_remove_through_the_command(env, db_file):
    added = admin(env, "add", "Amina", "--role", "coordinator", "--password-stdin",
                  stdin="first-secret\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "account Amina added (coordinator)" in added.stdout
    listed = admin(env, "list")
    assert listed.returncode == 0 and "Amina" in listed.stdout
    assert "coordinator" in listed.stdout and "created" in listed.stdout
    [(stored,)] = rows(db_file, "SELECT password_hash FROM accounts")
    assert stored.startswith("$argon2id$")
    changed = admin(env, "passwd", "amina", "--password-stdin", stdin="second-secret\n")
    assert changed.returncode == 0 and "password of Amina changed" in changed.stdout
    [(after,)] = rows(db_file, "SELECT password_hash FROM accounts")
    assert after != stored and after.startswith("$argon2id$")
    for done in (added, listed, changed):  # neither the password nor its hash is ever shown
        out = done.stdout + done.stderr
        assert "secret" not in out and "$argon2" not in out and stored not in out
    removed = admin(env, "remove", "AMINA")
    assert removed.returncode == 0 and "account Amina removed" in removed.stdout
    assert rows(db_file, "SELECT * FROM accounts") == []
    assert "no accounts yet" in admin(env, "list").stdout
    audit = rows(db_file, "SELECT actor, action, subject, detail FROM audit_log ORDER BY id")
    assert audit == [
        ("shell", "account.added", "Amina", '{"role": "coordinator"}'),
        ("shell", "account.password_changed", "Amina", "{}"),
        ("shell", "account.removed", "Amina", '{"role": "coordinator"}'),
    ]
    assert all("secret" not in str(row) for row in audit)


def test_refusals_are_one_line_without_a_traceback(env):
    ok = admin(env, "add", "Juma", "--role", "admin", "--password-stdin", stdin="long-enough\n")
    assert ok.returncode == 0, ok.stderr
    cases = [
        (("add", "JUMA", "--role", "admin", "--password-stdin"), "long-enough\n", 1, "exists"),
        (("add", "Wanjiru", "--role", "admin", "--password-stdin"), "short\n", 1, "shorter"),
        (("add", "Wanjiru", "--role", "admin", "--password-stdin"), "\n", 1, "empty"),
        (("passwd", "nobody", "--password-stdin"), "long-enough\n", 1, "no account"),
        (("remove", "nobody"), None, 1, "no account named 'nobody'"),
        (("add", "Wanjiru", "--role", "boss", "--password-stdin"), "long-enough\n", 2, "role"),
        (("add", "Wanjiru", "--role", "admin"), "", 2, "--password-stdin"),
    ]
    for args, stdin, code, says in cases:
        done = admin(env, *args, stdin=stdin)
        assert done.returncode == code, (args, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    names = admin(env, "list").stdout
    assert "Juma" in names and "Wanjiru" not in names


def test_the_password_is_asked_twice_at_a_terminal(env, monkeypatch, capsys):
    for key in ("FARMCHAT_DATABASE__URL", "FARMCHAT_CONFIG"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    typed = iter(["one-password", "another-one"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert main(["admin", "add", "Otieno", "--role", "admin"]) == 1
    assert "do not match" in capsys.readouterr().err
    typed = iter(["same-password", "same-password"])
    assert main(["admin", "add", "Otieno", "--role", "admin"]) == 0
    assert "account Otieno added (admin)" in capsys.readouterr().out


async def test_accounts_in_storage(db_url, nlu_cache):
    db = await open_database(make_settings(db_url, nlu_cache))
    try:
        async with db.uow() as uow:
            made = await accounts.add(uow, "Fatuma", "coordinator", "old-password")
            await uow.commit()
        assert made.name == "Fatuma" and not hasattr(made, "password_hash")
        async with db.uow() as uow:
            with pytest.raises(AccountError, match="already exists"):
                await accounts.add(uow, "fATUMA", "admin", "other-password")
        async with db.uow() as uow:
            assert await accounts.verify(uow, "fatuma", "old-password") == made
            await accounts.set_password(uow, "Fatuma", "new-password")
            await accounts.set_role(uow, "Fatuma", "admin")
            await uow.commit()
        async with db.uow() as uow:
            assert await accounts.verify(uow, "Fatuma", "old-password") is None
            seen = await accounts.verify(uow, "Fatuma", "new-password")
            assert seen is not None and seen.role == "admin"
            assert await accounts.verify(uow, "nobody", "new-password") is None
            trail = await accounts.audit_trail(uow, "Fatuma")
        assert [e.action for e in trail] == [
            "account.added",
            "account.password_changed",
            "account.role_changed",
        ]
        assert trail[2].detail == {"role": "admin", "was": "coordinator"}
        async with db.uow() as uow:
            await accounts.remove(uow, "fatuma")
            await uow.commit()
        async with db.uow() as uow:
            assert await accounts.all_accounts(uow) == []
            assert (await accounts.audit_trail(uow))[-1].action == "account.removed"
    finally:
        await db.close()


async def test_an_old_hash_is_replaced_on_a_good_password(sqlite_url, nlu_cache):
    from argon2 import PasswordHasher

    db = await open_database(make_settings(sqlite_url, nlu_cache))
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    try:
        async with db.uow() as uow:
            await accounts.add(uow, "Baraka", "admin", "a-password")
            await uow.commit()
        async with db.uow() as uow:  # as an older deployment would have hashed it
            row = await accounts._row(uow, "Baraka")
            assert row is not None
            row.password_hash = old = weak.hash("a-password")
            await uow.commit()
        async with db.uow() as uow:
            assert await accounts.verify(uow, "Baraka", "a-password") is not None
            await uow.commit()
        async with db.uow() as uow:
            row = await accounts._row(uow, "Baraka")
            assert row is not None and row.password_hash != old
            assert not accounts._HASHER.check_needs_rehash(row.password_hash)
    finally:
        await db.close()


def test_tokens_through_the_command(env, db_file):
    assert admin(env, "add", "Amina", "--role", "coordinator", "--password-stdin",
                 stdin="first-secret\n").returncode == 0  # fmt: skip
    made = admin(env, "token", "amina")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("fct_") and len(token) > 40 and "\n" not in token
    assert "shown this once" in made.stderr and token not in made.stderr
    # only the digest and the first characters are kept, and the log never has the token
    assert rows(db_file, "SELECT token_hash, prefix, revoked_at FROM api_tokens") == [
        (hashlib.sha256(token.encode()).hexdigest(), token[:12], None)
    ]
    listed = admin(env, "tokens")
    assert listed.returncode == 0 and token not in listed.stdout
    header, line = listed.stdout.splitlines()
    assert header.split() == ["id", "account", "prefix", "created", "(UTC)", "last", "used",
                              "revoked"]  # fmt: skip
    cells = line.split()
    assert cells[:3] == ["1", "Amina", token[:12] + "…"] and cells[-2:] == ["never", "-"]
    assert admin(env, "tokens", "AMINA").stdout == listed.stdout
    nobody = admin(env, "tokens", "nobody")
    assert nobody.returncode == 1 and "no account named 'nobody'" in nobody.stderr
    revoked = admin(env, "revoke", "1")
    assert revoked.returncode == 0 and "token 1 revoked" in revoked.stdout
    [(when,)] = rows(db_file, "SELECT revoked_at FROM api_tokens")
    assert when is not None
    assert admin(env, "tokens").stdout.splitlines()[1].split()[-1] != "-"
    for args in (("revoke", "1"), ("revoke", "99"), ("token", "nobody")):
        done = admin(env, *args)
        assert done.returncode == 1 and "Traceback" not in done.stderr, args
    assert admin(env, "revoke", "one").returncode == 2
    audit = rows(
        db_file, "SELECT actor, action, subject FROM audit_log WHERE action LIKE 'token.%'"
    )
    assert audit == [("shell", "token.created", "Amina"), ("shell", "token.revoked", "Amina")]
    assert token not in str(rows(db_file, "SELECT * FROM audit_log"))


def test_link_and_unlink_through_the_command(env, db_file):
    assert admin(env, "add", "Juma", "--role", "coordinator", "--password-stdin",
                 stdin="first-secret\n").returncode == 0  # fmt: skip
    for args, says in [
        (("+86 138 0000 0077",), "sms +8613800000077 linked to Juma"),
        (("whatsapp:+254700000001",), "whatsapp +254700000001 linked to Juma"),
        (("oX3k_openid-9", "--channel", "wechat"), "wechat oX3k_openid-9 linked to Juma"),
        (("+254700000002", "--channel", "whatsapp"), "whatsapp +254700000002 linked"),
    ]:
        done = admin(env, "link", "juma", *args)
        assert done.returncode == 0 and says in done.stdout, (args, done.stderr)
    linked = rows(
        db_file,
        "SELECT channel, address, role FROM users WHERE account_id IS NOT NULL ORDER BY id",
    )
    assert linked == [
        ("sms", "+8613800000077", "coordinator"),
        ("whatsapp", "+254700000001", "coordinator"),
        ("wechat", "oX3k_openid-9", "coordinator"),
        ("whatsapp", "+254700000002", "coordinator"),
    ]
    listed = admin(env, "list").stdout.splitlines()
    assert listed[0].startswith("Juma") and "coordinator" in listed[0]
    assert [line.split() for line in listed[1:]] == [
        ["linked", "sms", "+8613800000077"],
        ["linked", "whatsapp", "+254700000001"],
        ["linked", "wechat", "oX3k_openid-9"],
        ["linked", "whatsapp", "+254700000002"],
    ]
    for args, code, says in [
        (("link", "juma", "13800000077"), 1, "a phone number is written +86"),
        (("link", "juma", "+12"), 1, "not a phone number"),
        (("link", "juma", "has space", "--channel", "wechat"), 1, "not a WeChat OpenID"),
        (("link", "juma", "+8613800000078", "--channel", "fax"), 2, "channel"),
        (("link", "nobody", "+8613800000078"), 1, "no account named 'nobody'"),
        (("unlink", "nobody", "+8613800000077"), 1, "no account named 'nobody'"),
        (("unlink", "juma", "+8613800000079"), 1, "is not linked to Juma"),
    ]:
        done = admin(env, *args)
        assert done.returncode == code and says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    done = admin(env, "unlink", "Juma", "+8613800000077")
    assert done.returncode == 0 and "sms +8613800000077 unlinked from Juma" in done.stdout
    assert rows(
        db_file, "SELECT role, account_id FROM users WHERE address = '+8613800000077'"
    ) == [("user", None)]
    assert "+8613800000077" not in admin(env, "list").stdout
    audit = rows(db_file, "SELECT actor, action, detail FROM audit_log WHERE action LIKE '%link%'")
    assert [a[:2] for a in audit] == [("shell", "account.linked")] * 4 + [
        ("shell", "account.unlinked")
    ]
    assert all("+86" not in detail and "oX3k" not in detail for _, _, detail in audit)


async def test_links_and_tokens_in_storage(db_url, nlu_cache):
    db = await open_database(make_settings(db_url, nlu_cache))
    try:
        async with db.uow() as uow:
            made = await accounts.add(uow, "Fatuma", "coordinator", "old-password")
            await accounts.link(uow, "fatuma", "sms", "+8613800000077")
            token = await accounts.new_token(uow, "Fatuma")
            await uow.commit()
        async with db.uow() as uow:
            assert await accounts.addresses(uow, made.id) == [("sms", "+8613800000077")]
            user = await uow.users.by_address("sms", "+8613800000077")
            assert user is not None and user.role == "coordinator"
            assert await accounts.account_of_user(uow, user.id) == "Fatuma"
            found = await accounts.by_token(uow, token)
            assert found is not None and found.name == "Fatuma"
            await uow.commit()
            [row] = await accounts.tokens(uow)
            assert row.last_used_at is not None and row.revoked_at is None
            assert await accounts.by_token(uow, token[:-1] + "x") is None
            assert await accounts.revoke_token(uow, row.id)
            await uow.commit()
        async with db.uow() as uow:
            assert await accounts.by_token(uow, token) is None
            assert not await accounts.revoke_token(uow, row.id)
            await accounts.remove(uow, "Fatuma")
            await uow.commit()
        async with db.uow() as uow:  # the phone is a plain user again, the tokens are gone
            user = await uow.users.by_address("sms", "+8613800000077")
            assert user is not None and user.role == "user" and user.account_id is None
            assert await accounts.tokens(uow) == []
    finally:
        await db.close()
