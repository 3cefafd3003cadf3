"""`farmchat admin`: the accounts of admins and coordinators, managed from the shell.

    farmchat admin add amina --role coordinator      (asks for the password twice)
    echo "$PASSWORD" | farmchat admin add amina --role admin --password-stdin
    farmchat admin list
    farmchat admin passwd amina
    farmchat admin remove amina

Every change is written to the audit log with the actor 'shell'. A password or its hash is
never printed.
"""

from __future__ import annotations

import asyncio
import getpass
import sys

from bot.config import Settings
from storage import accounts
from storage.accounts import AccountError


class _Refused(Exception):
    """A usage problem (exit code 2) rather than a refused change (exit code 1)."""


def add_parser(sub) -> None:
    p = sub.add_parser("admin", help="accounts of admins and coordinators (add, list, ...)")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new account; asks for its password")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    actions.add_parser("list", help="every account: name, role, created")
    passwd = actions.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    remove = actions.add_parser("remove", help="delete an account (its audit log stays)")
    remove.add_argument("name")
    for action in (add, passwd):
        action.add_argument(
            "--password-stdin", action="store_true", help="read the password as one line"
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

    db = await open_database(settings)
    try:
        async with db.uow() as uow:
            if args.action == "list":
                _print_list(await accounts.all_accounts(uow))
                return 0
            if args.action == "add":
                made = await accounts.add(uow, args.name, args.role, password)
                done = f"account {made.name} added ({made.role})"
            elif args.action == "passwd":
                changed = await accounts.set_password(uow, args.name, password)
                done = f"password of {changed.name} changed"
            else:
                gone = await accounts.remove(uow, args.name)
                done = f"account {gone.name} removed"
            await uow.commit()
    finally:
        await db.close()
    print(done)
    return 0


def _print_list(rows: list[accounts.AccountInfo]) -> None:
    if not rows:
        print("no accounts yet (farmchat admin add NAME --role admin)")
        return
    width = max(len(r.name) for r in rows)
    for row in rows:
        print(f"{row.name:<{width}}  {row.role:<11}  created {row.created_at:%Y-%m-%d %H:%M} UTC")
