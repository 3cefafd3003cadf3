"""`farmchat admin`: the accounts of admins and coordinators, managed from the shell.

    farmchat admin add amina --role coordinator      (asks for the password twice)
    echo "$PASSWORD" | farmchat admin add amina --role admin --password-stdin
    farmchat admin list
    farmchat admin passwd amina
    farmchat admin remove amina
    farmchat admin link amina +8613800000077     (that phone is amina by SMS: a coordinator)
    farmchat admin link amina whatsapp:+254700000001
    farmchat admin link amina oX3k_openid --channel wechat
    farmchat admin unlink amina +8613800000077
    farmchat admin token amina                   (prints a new API token, this once)
    farmchat admin tokens [amina]
    farmchat admin revoke 3

Every change is written to the audit log with the actor 'shell'. A password or its hash is
never printed, nor a token after the moment it is made (only its digest is kept).
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
from datetime import datetime

from bot.channels.addresses import e164
from bot.config import Settings
from storage import accounts
from storage.accounts import AccountError

CHANNELS = ("sms", "whatsapp", "wechat")
OPENID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class _Refused(Exception):
    """A usage problem (exit code 2) rather than a refused change (exit code 1)."""


class BadAddress(ValueError):
    """An address that is no channel's: `kind` is what was wrong ("channel", "phone" or
    "openid"), so the shell and the dashboard can each say it in their words."""

    def __init__(self, kind: str, address: str):
        super().__init__(kind)
        self.kind, self.address = kind, address


def address_of(raw: str, channel: str | None = None) -> tuple[str, str]:
    """(channel, address) as farmchat keeps a user: a phone in E.164 for SMS and WhatsApp, an
    OpenID as given for WeChat. Without a channel it is guessed: `+…` SMS, `whatsapp:+…`
    WhatsApp, anything else WeChat."""
    text = raw.strip()
    if channel is None or channel == "":
        if text.startswith("whatsapp:"):
            channel = "whatsapp"
        elif text.startswith("+"):
            channel = "sms"
        else:
            channel = "wechat"
    if channel not in CHANNELS:
        raise BadAddress("channel", text)
    if channel in ("sms", "whatsapp"):
        number = text.removeprefix("whatsapp:") if channel == "whatsapp" else text
        if not number.startswith("+"):
            raise BadAddress("phone", text)
        try:
            return channel, e164(number)
        except ValueError:
            raise BadAddress("phone", text) from None
    if not OPENID.fullmatch(text) or text.isdigit():  # digits alone: a number without its +
        raise BadAddress("openid", text)
    return channel, text


def _said(bad: BadAddress) -> str:
    if bad.kind == "phone":
        return f"{bad.address!r} is not a phone number in international form (+8613800000077)"
    if bad.kind == "openid":
        return (
            f"{bad.address!r} is not a WeChat OpenID (letters, digits, - and _); "
            "a phone number is written +86..."
        )
    return f"unknown channel (one of: {', '.join(CHANNELS)})"


def add_parser(sub) -> None:
    p = sub.add_parser("admin", help="accounts of admins and coordinators (add, list, ...)")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new account; asks for its password")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    actions.add_parser("list", help="every account: name, role, created, linked addresses")
    passwd = actions.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    remove = actions.add_parser("remove", help="delete an account (its audit log stays)")
    remove.add_argument("name")
    for action in (add, passwd):
        action.add_argument(
            "--password-stdin", action="store_true", help="read the password as one line"
        )
    token = actions.add_parser("token", help="a new API token for the account (shown once)")
    token.add_argument("name")
    listed = actions.add_parser("tokens", help="API tokens: id, account, prefix, use, revoked")
    listed.add_argument("name", nargs="?")
    revoke = actions.add_parser("revoke", help="revoke an API token by its id")
    revoke.add_argument("id", type=int)
    link = actions.add_parser(
        "link", help="a phone number or OpenID is the account's person by chat (a coordinator)"
    )
    unlink = actions.add_parser("unlink", help="undo a link")
    for action in (link, unlink):
        action.add_argument("name")
        action.add_argument("address", help="+8613800000077, whatsapp:+2547..., or an OpenID")
        action.add_argument(
            "--channel",
            choices=CHANNELS,
            help="default: +... sms, whatsapp:+... whatsapp, else wechat",
        )


def run(settings: Settings, args) -> int:
    try:
        password = _password(args) if args.action in ("add", "passwd") else ""
        return asyncio.run(_run(settings, args, password))
    except _Refused as exc:
        print(f"farmchat: {exc}", file=sys.stderr)
        return 2
    except AccountError as exc:
        print(f"farmchat: {exc}", file=sys.stderr)
        return 1
    except BadAddress as exc:
        print(f"farmchat: {_said(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # the database cannot be reached or opened
        print(f"farmchat: cannot open the database: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _password(args) -> str:
    """The new password, from one line of stdin or typed twice at the terminal."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise _Refused("no terminal to type the password at; use --password-stdin")
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AccountError("the passwords do not match")
    return accounts.check_password(password)


async def _run(settings: Settings, args, password: str) -> int:
    from bot.bootstrap import open_database

    where = address_of(args.address, args.channel) if args.action in ("link", "unlink") else None
    note = ""
    db = await open_database(settings)
    try:
        async with db.uow() as uow:
            if args.action == "list":
                found = await accounts.all_accounts(uow)
                _print_list(found, {a.id: await accounts.addresses(uow, a.id) for a in found})
                return 0
            if args.action == "tokens":
                if args.name is not None and await accounts.get(uow, args.name) is None:
                    raise AccountError(f"no account named {args.name.strip()!r}")
                _print_tokens(await accounts.tokens(uow, args.name))
                return 0
            if args.action == "add":
                made = await accounts.add(uow, args.name, args.role, password)
                done = f"account {made.name} added ({made.role})"
            elif args.action == "passwd":
                changed = await accounts.set_password(uow, args.name, password)
                done = f"password of {changed.name} changed"
            elif args.action == "remove":
                gone = await accounts.remove(uow, args.name)
                done = f"account {gone.name} removed"
            elif args.action == "token":
                secret = await accounts.new_token(uow, args.name)
                owner = await accounts.get(uow, args.name)
                assert owner is not None, "new_token refuses an unknown name"
                note = (
                    f"a new API token for {owner.name} ({owner.role}), shown this once: "
                    "keep it now; farmchat keeps only its digest"
                )
                done = secret
            elif args.action == "revoke":
                if not await accounts.revoke_token(uow, args.id):
                    raise AccountError(f"no token {args.id} in use (unknown, or revoked already)")
                done = f"token {args.id} revoked"
            elif args.action == "link":
                assert where is not None
                linked = await accounts.link(uow, args.name, *where)
                done = f"{where[0]} {where[1]} linked to {linked.name}: a coordinator by chat"
            else:
                assert where is not None
                if not await accounts.unlink(uow, args.name, *where):
                    known = await accounts.get(uow, args.name)
                    if known is None:
                        raise AccountError(f"no account named {args.name.strip()!r}")
                    raise AccountError(f"{where[0]} {where[1]} is not linked to {known.name}")
                done = f"{where[0]} {where[1]} unlinked from {args.name.strip()}"
            await uow.commit()
    finally:
        await db.close()
    if note:
        print(note, file=sys.stderr)
    print(done)
    return 0


def _print_list(
    rows: list[accounts.AccountInfo], linked: dict[int, list[tuple[str, str]]]
) -> None:
    if not rows:
        print("no accounts yet (farmchat admin add NAME --role admin)")
        return
    width = max(len(r.name) for r in rows)
    for row in rows:
        print(f"{row.name:<{width}}  {row.role:<11}  created {row.created_at:%Y-%m-%d %H:%M} UTC")
        for channel, address in linked.get(row.id, []):
            print(f"{'':<{width}}  linked {channel} {address}")


def _when(at: datetime | None, never: str) -> str:
    return never if at is None else f"{at:%Y-%m-%d %H:%M}"


def _print_tokens(rows: list[accounts.TokenInfo]) -> None:
    if not rows:
        print("no API tokens (farmchat admin token NAME makes one)")
        return
    table = [("id", "account", "prefix", "created (UTC)", "last used", "revoked")]
    table += [
        (
            str(t.id),
            t.account,
            t.prefix + "…",
            _when(t.created_at, "-"),
            _when(t.last_used_at, "never"),
            _when(t.revoked_at, "-"),
        )
        for t in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
