"""`farmchat db backup` and `db restore` as an operator runs them: a backup taken while a real
`farmchat serve` answers a stream of signed Twilio webhooks, restored into a fresh place, holds
every row committed before the backup began, and is the database as it was at one instant;
and the refusals: no such directory, not a database, a database in use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage.backup import BackupError
from storage.backup import postgres as pg_backup
from storage.db import create_engine, head_revision, upgrade
from tests.conftest import PG_URL, postgres_ready, run_farmchat
from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "3" * 32, "+15005550006"
PRODUCTS = ["apples", "pears", "walnuts", "potatoes", "honey", "garlic"]
PHONES, ROUNDS = 4, 50  # concurrent phones; each round: a farmer lists, a buyer orders (3 texts)
PAUSE = 0.02  # seconds between a phone's texts: a few hundred a second at most, modest CPU
# the columns a row never changes once written, compared between the source and the restore
KEPT = {
    "listings": "id, farmer_id, product, quantity_total, unit, price, created_at",
    "orders": "id, listing_id, buyer_id, product, quantity, created_at",
    "outbox": "id, user_id, address, text, created_at",
    "inbound_messages": "id, channel, message_id, text, reply, received_at",
}
TABLES = ("users", "listings", "orders", "outbox", "inbound_messages", "broadcasts")
REFS = re.compile(r"(?:Listing|Order|订单) ?(\d+)|(\d+)号")  # a listing or order a text names
Rows = dict[str, dict[int, tuple]]


def farmchat_env(db_url: str, nlu_cache: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_DATABASE__URL": db_url,
        "FARMCHAT_NLU__CACHE_DIR": nlu_cache,
        "FARMCHAT_BROADCAST__DIGEST_TIME": "",
        **extra,
    }


async def rows(url: str) -> Rows:
    """Every row's unchanging columns by table and id, as one transaction sees them."""
    queries = {t: f"SELECT {cols} FROM {t}" for t, cols in KEPT.items()}
    if url.startswith("sqlite"):
        conn = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        try:
            conn.execute("BEGIN")  # deferred: one snapshot beside the server's writes
            found = {t: {r[0]: tuple(r) for r in conn.execute(q)} for t, q in queries.items()}
            conn.execute("COMMIT")
            return found
        finally:
            conn.close()
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as c:
            c = await c.execution_options(isolation_level="REPEATABLE READ")
            async with c.begin():
                return {
                    t: {r[0]: tuple(r) for r in await c.execute(text(q))}
                    for t, q in queries.items()
                }
    finally:
        await engine.dispose()


class Load:
    """Phones texting the server over signed webhooks: each round a new farmer lists and a new
    buyer orders; every answer is recorded in the order it came."""

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url
        self.answered: list[str] = []  # MessageSids answered 200, in order
        self.failed: list[tuple[str, int, str]] = []
        self.stop = asyncio.Event()

    async def phone(self, first: int) -> None:
        for n in range(first, PHONES * ROUNDS, PHONES):
            if self.stop.is_set():
                return
            product = PRODUCTS[n % len(PRODUCTS)]
            farmer, buyer = f"+86138{n:08d}", f"+25470{n:07d}"
            await self.text(farmer, f"sell {50 + n}kg {product} at {2 + n % 5}/kg")
            await self.text(buyer, f"buy 5 kg {product}")
            await self.text(buyer, "1")

    async def text(self, sender: str, body: str) -> None:
        sid = "SM" + uuid.uuid4().hex
        fields = inbound_fields(sender, NUMBER, body, sid=sid)
        status, answer = await post_inbound(self.session, self.url, TOKEN, fields)
        if status == 200:
            self.answered.append(sid)
        else:
            self.failed.append((sid, status, answer[:200]))
        await asyncio.sleep(PAUSE)

    async def until(self, count: int) -> None:
        for _ in range(1200):  # bounded: two minutes
            if len(self.answered) >= min(count, PHONES * ROUNDS * 3) or self.failed:
                return
            await asyncio.sleep(0.1)


async def healthy(session: aiohttp.ClientSession, url: str, proc) -> None:
    for _ in range(600):  # bounded: a minute for the start (migrations, the cached model)
        assert proc.returncode is None, "farmchat serve ended"
        try:
            async with session.get(f"{url}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("farmchat serve never became healthy")


def reported(output: str) -> dict[str, int]:
    """The 'rows: users 5, listings 8, ...' line of a backup's or restore's report."""
    line = next(line for line in output.splitlines() if line.startswith("rows: "))
    return {name: int(n) for name, n in (part.split() for part in line[6:].split(", "))}


async def counts(url: str) -> dict[str, int]:
    queries = {t: f"SELECT count(*) FROM {t}" for t in TABLES}
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(str(make_url(url).database))) as conn:
            return {t: conn.execute(q).fetchone()[0] for t, q in queries.items()}
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as c:
            return {t: (await c.execute(text(q))).scalar_one() for t, q in queries.items()}
    finally:
        await engine.dispose()


async def fresh_pg_database(source: str) -> str:
    """An empty database beside the source one on the same server (dropped first if there)."""
    name = f"{make_url(source).database}_restore"
    engine = create_engine(source, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as c:
            await c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(source).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(source: str, target: str) -> None:
    engine = create_engine(source, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as c:
            name = make_url(target).database
            await c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


def add_user(conn: sqlite3.Connection, n: int) -> None:
    conn.execute(
        "INSERT INTO users (id, channel, address, language, role, opted_out, created_at, "
        "last_seen_at) VALUES (?, 'sms', ?, 'zh', 'user', 0, '2026-11-28 08:00:00.000000', "
        "'2026-11-28 08:00:00.000000')",
        (n, f"+86138000000{n:02d}"),
    )


async def pg_or_skip() -> None:
    if not await postgres_ready(PG_URL):
        message = f"PostgreSQL not reachable at {PG_URL}"
        if os.environ.get("FARMCHAT_REQUIRE_PG"):
            pytest.fail(message)
        pytest.skip(message + " (set FARMCHAT_REQUIRE_PG=1 to make this an error)")
    pg_tools_or_skip()


def pg_tools_or_skip() -> None:
    try:
        pg_backup.tool("pg_dump")
        pg_backup.tool("pg_restore")
    except BackupError as exc:
        if os.environ.get("FARMCHAT_REQUIRE_PG"):
            pytest.fail(str(exc))
        pytest.skip(f"{exc} (set FARMCHAT_REQUIRE_PG=1 to make this an error)")


async def test_a_backup_taken_under_load_restores_every_row_committed_before_it(
    db_url, nlu_cache, real_nlu, tmp_path
):
    sqlite = db_url.startswith("sqlite")
    if sqlite:
        (tmp_path / "fresh").mkdir()
        target = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'farm.db'}"
    else:
        pg_tools_or_skip()
        target = await fresh_pg_database(db_url)
    backup_file = tmp_path / "backups" / "farmchat.backup"
    backup_file.parent.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with FakeTwilio(SID, TOKEN) as fake, aiohttp.ClientSession() as http:
        env = farmchat_env(
            db_url,
            nlu_cache,
            FARMCHAT_SERVER__PORT=str(port),
            FARMCHAT_SERVER__PUBLIC_URL=url,
            FARMCHAT_TWILIO__ACCOUNT_SID=SID,
            FARMCHAT_TWILIO__AUTH_TOKEN=TOKEN,
            FARMCHAT_TWILIO__FROM_NUMBER=NUMBER,
            FARMCHAT_TWILIO__API_BASE=fake.url,
        )
        with open(tmp_path / "serve.log", "wb") as log:
            server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", env=env, stdout=log, stderr=log
            )
        load = Load(http, f"{url}/webhooks/twilio")
        phones: list[asyncio.Task] = []
        try:
            await healthy(http, url, server)
            phones = [asyncio.create_task(load.phone(n)) for n in range(PHONES)]
            await load.until(90)
            seen = set(load.answered)  # each of these got its 200 before the next line began
            committed = await rows(db_url)  # so each is in here, with all committed so far
            started = len(load.answered)
            code, out, err = await run_farmchat(env, "db", "backup", str(backup_file))
            answered = set(load.answered[:started])  # 200 before the backup began
            during = len(load.answered) - started
            assert code == 0, err
            ended = await rows(db_url)  # everything committed before the backup ended
            await load.until(len(load.answered) + 45)  # and the load goes on after it
            load.stop.set()
            await asyncio.gather(*phones)
            in_use = await run_farmchat(env, "db", "restore", str(backup_file))
        finally:
            load.stop.set()
            await asyncio.gather(*phones)
            server.send_signal(signal.SIGTERM)
            stopped = await asyncio.wait_for(server.wait(), 60)
    log_text = (tmp_path / "serve.log").read_text(errors="replace")
    assert stopped == 0 and "Traceback" not in log_text, log_text[-3000:]
    assert load.failed == [], load.failed[:3]
    assert during > 0, "no webhook was answered while the backup ran"
    assert in_use[0] == 2 and "in use by" in in_use[2] and "Traceback" not in in_use[2]
    assert "backup written" in out and f"revision {head_revision()}" in out
    assert list(backup_file.parent.iterdir()) == [backup_file]  # no temporary file left over

    restore_env = farmchat_env(target, nlu_cache)
    code, restored_out, err = await run_farmchat(restore_env, "db", "restore", str(backup_file))
    assert code == 0, err
    assert f"schema revision {head_revision()} (newest" in restored_out
    try:
        restored = await rows(target)
        restored_counts = await counts(target)
    finally:
        if not sqlite:
            await drop_pg_database(db_url, target)
    final = await rows(db_url)

    assert seen <= {r[2] for r in committed["inbound_messages"].values()}  # a 200: committed
    assert answered <= {r[2] for r in restored["inbound_messages"].values()}
    for table in KEPT:
        assert committed[table].keys() <= restored[table].keys(), table  # nothing lost
        assert restored[table].keys() <= ended[table].keys(), table  # nothing from after it
        assert all(final[table][i] == row for i, row in restored[table].items()), table
        assert len(final[table]) > len(restored[table]), f"no {table} row after the backup"
    assert reported(out) == reported(restored_out) == restored_counts
    # one instant: whatever a restored message's reply or a notification names is restored too
    named = {
        int(a or b) for r in restored["inbound_messages"].values() for a, b in REFS.findall(r[4])
    }
    named |= {int(a or b) for r in restored["outbox"].values() for a, b in REFS.findall(r[3])}
    assert named and named <= restored["listings"].keys() | restored["orders"].keys()
    if sqlite:  # ids are given in commit order here (one writer at a time): a prefix of each
        for table in KEPT:
            last = max(restored[table])
            assert restored[table].keys() == {i for i in final[table] if i <= last}, table
        with contextlib.closing(sqlite3.connect(str(make_url(target).database))) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


# refusals and failures ---------------------------------------------------------------------
@pytest.fixture
async def farm(tmp_path, nlu_cache) -> tuple[Path, dict[str, str]]:
    """A farmchat SQLite database with a few rows, and the environment that points at it."""
    db = tmp_path / "farm.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade(engine)
    await engine.dispose()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        add_user(conn, 1)
        conn.commit()
    return db, farmchat_env(f"sqlite+aiosqlite:///{db}", nlu_cache)


async def test_a_backup_into_a_missing_directory_is_refused_without_a_traceback(farm, tmp_path):
    _, env = farm
    code, out, err = await run_farmchat(env, "db", "backup", str(tmp_path / "nowhere" / "x.db"))
    assert code == 2 and out == ""
    assert "nowhere does not exist" in err and "Traceback" not in err
    code, _, err = await run_farmchat(env, "db", "backup", str(farm[0]))
    assert code == 2 and "is the database itself" in err


async def test_a_file_that_is_not_a_farmchat_database_is_refused_and_the_target_untouched(
    farm, tmp_path
):
    db, env = farm
    before = db.read_bytes()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database, just bytes\n" * 100)
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
    for path, why in ((junk, "is not a SQLite database"), (other, "not a farmchat database")):
        code, _, err = await run_farmchat(env, "db", "restore", str(path))
        assert code == 2 and why in err and "Traceback" not in err, err
    code, _, err = await run_farmchat(env, "db", "restore", str(tmp_path / "missing.db"))
    assert code == 2 and "no such file" in err
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


async def test_a_database_in_use_is_restored_only_with_force_and_its_users_see_the_backup(
    farm, tmp_path
):
    db, env = farm
    backup_file = tmp_path / "farm.backup"
    code, _, err = await run_farmchat(env, "db", "backup", str(backup_file))
    assert code == 0, err
    holder = sqlite3.connect(db)  # another process's view: it has the database open
    try:
        add_user(holder, 2)
        holder.commit()
        code, _, err = await run_farmchat(env, "db", "restore", str(backup_file))
        assert code == 2 and "another process" in err and "--force" in err
        assert holder.execute("SELECT count(*) FROM users").fetchone() == (2,)
        code, out, err = await run_farmchat(env, "db", "restore", "--force", str(backup_file))
        assert code == 0, err
        assert "users 1" in out
        assert holder.execute("SELECT id FROM users").fetchall() == [(1,)]  # the backup's rows
    finally:
        holder.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


async def test_a_running_farmchat_is_seen_by_its_scheduler_lock(farm, tmp_path):
    import fcntl

    db, env = farm
    backup_file = tmp_path / "farm.backup"
    assert (await run_farmchat(env, "db", "backup", str(backup_file)))[0] == 0
    fd = os.open(f"{db}.scheduler-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the scheduler's leader holds it
        code, _, err = await run_farmchat(env, "db", "restore", str(backup_file))
        assert code == 2 and "a running farmchat serve" in err
    finally:
        os.close(fd)
    code, out, err = await run_farmchat(env, "db", "restore", str(backup_file))
    assert code == 0 and "restored" in out, err


async def test_an_older_backup_is_restored_with_a_word_about_db_upgrade(farm, tmp_path):
    _, env = farm
    backup_file = tmp_path / "farm.backup"
    assert (await run_farmchat(env, "db", "backup", str(backup_file)))[0] == 0
    with contextlib.closing(sqlite3.connect(backup_file)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0010'")
        conn.commit()
    (tmp_path / "elsewhere").mkdir()
    code, out, err = await run_farmchat(
        env, "db", "restore", str(backup_file), "--database", str(tmp_path / "elsewhere" / "f.db")
    )
    assert code == 0, err
    assert "schema revision 0010 (older" in out and "farmchat db upgrade" in out
    assert (tmp_path / "elsewhere" / "f.db").exists()


def test_pg_dump_missing_is_a_clear_refusal(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg_backup, "DEBIAN_BINARIES", tmp_path / "none")
    monkeypatch.setenv("FARMCHAT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("FARMCHAT_DATABASE__URL", "postgresql+asyncpg://u:s3cret@127.0.0.1:1/x")
    assert main(["db", "backup", str(tmp_path / "x.dump")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump not found" in err and "s3cret" not in err
    assert not (tmp_path / "x.dump").exists()


FAILING_PG_DUMP = """#!/bin/sh
for arg in "$@"; do case "$arg" in --file=*) echo half a dump > "${arg#--file=}";; esac; done
echo "pg_dump: error: could not write to output file: No space left on device" >&2
exit 1
"""


@pytest.mark.postgres
async def test_a_failing_pg_dump_or_database_leaves_nothing_and_says_why(nlu_cache, tmp_path):
    await pg_or_skip()
    bin_dir, backups = tmp_path / "bin", tmp_path / "backups"
    bin_dir.mkdir()
    backups.mkdir()
    (bin_dir / "pg_dump").write_text(FAILING_PG_DUMP)
    (bin_dir / "pg_dump").chmod(0o755)
    env = farmchat_env(PG_URL, nlu_cache)
    failing = {**env, "PATH": f"{bin_dir}:{env['PATH']}"}
    code, _, err = await run_farmchat(failing, "db", "backup", str(backups / "x.dump"))
    assert code == 1 and "pg_dump failed (exit 1)" in err and "No space left" in err, err
    assert "Traceback" not in err
    missing = make_url(PG_URL).set(database=f"{make_url(PG_URL).database}_missing")
    env = farmchat_env(missing.render_as_string(hide_password=False), nlu_cache)
    code, _, err = await run_farmchat(env, "db", "backup", str(backups / "x.dump"))
    assert code == 1 and "does not exist" in err and "Traceback" not in err
    assert list(backups.iterdir()) == []  # neither the backup nor a temporary file
    bad = tmp_path / "fake.dump"
    bad.write_bytes(b"PGDMP but nothing after")
    code, _, err = await run_farmchat(farmchat_env(PG_URL, nlu_cache), "db", "restore", str(bad))
    assert code == 2 and "pg_restore failed" in err and "Traceback" not in err
