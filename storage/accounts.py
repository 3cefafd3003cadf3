"""Accounts of the people who run the co-op (admins and coordinators), their argon2 password
hashes, and the audit log of every change made to them. The hash never leaves this module."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage import audit
from storage.audit import AuditRecord
from storage.models import Account, ApiToken, User, WebSession

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

ROLES = ("admin", "coordinator")
MIN_PASSWORD = 8
MAX_NAME = 64
SHELL = "shell"  # the actor of a change made with `farmchat admin`
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's recommended parameters
TOKEN_PREFIX = "fct_"  # API tokens start so, which makes a leaked one easy to search for


class AccountError(Exception):
    """A change to the accounts that cannot be made; the message says why, in one line."""


@dataclass(frozen=True)
class AccountInfo:
    """An account as the rest of farmchat sees it: everything but the password hash."""

    id: int
    name: str
    role: str
    language: str
    created_at: datetime
    updated_at: datetime


def _info(row: Account) -> AccountInfo:
    return AccountInfo(row.id, row.name, row.role, row.language, row.created_at, row.updated_at)


def _key(name: str) -> str:
    return name.strip().casefold()


def _clean_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise AccountError("the account name is empty")
    if len(_key(clean)) > MAX_NAME:
        raise AccountError(f"the account name is longer than {MAX_NAME} characters")
    return clean


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    return role


def check_password(password: str) -> str:
    if not password:
        raise AccountError("the password is empty")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is shorter than {MIN_PASSWORD} characters")
    return password


async def _hash(password: str) -> str:
    """argon2 takes tens of milliseconds of CPU: off the event loop, so webhooks go on."""
    return await asyncio.to_thread(_HASHER.hash, password)


@cache
def _dummy_hash() -> str:
    """A hash to check a password against when the name is unknown, so that a wrong name
    takes as long as a wrong password and the answer's time tells no names."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def _matches(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


async def _row(uow: UnitOfWork, name: str) -> Account | None:
    found = await uow.session.execute(select(Account).where(Account.name_key == _key(name)))
    return found.scalar_one_or_none()


async def _existing(uow: UnitOfWork, name: str) -> Account:
    row = await _row(uow, name)
    if row is None:
        raise AccountError(f"no account named {name.strip()!r}")
    return row


async def add(
    uow: UnitOfWork,
    name: str,
    role: str,
    password: str,
    actor: str = SHELL,
    now: datetime | None = None,
) -> AccountInfo:
    """A new account; AccountError when the name is taken (in any case) or a value is bad."""
    clean, at = _clean_name(name), _now(now)
    check_role(role)
    check_password(password)
    if await _row(uow, clean) is not None:
        raise AccountError(f"an account named {clean!r} already exists")
    row = Account(
        name=clean,
        name_key=_key(clean),
        role=role,
        password_hash=await _hash(password),
        language="",
        created_at=at,
        updated_at=at,
    )
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError:  # added meanwhile by another process
        raise AccountError(f"an account named {clean!r} already exists") from None
    await audit.record(uow, actor, "account.added", clean, at, role=role)
    return _info(row)


async def get(uow: UnitOfWork, name: str) -> AccountInfo | None:
    row = await _row(uow, name)
    return None if row is None else _info(row)


async def all_accounts(uow: UnitOfWork) -> list[AccountInfo]:
    """Every account, by name."""
    rows = await uow.session.execute(select(Account).order_by(Account.name_key))
    return [_info(row) for row in rows.scalars()]


async def set_password(
    uow: UnitOfWork, name: str, password: str, actor: str = SHELL, now: datetime | None = None
) -> AccountInfo:
    check_password(password)
    row, at = await _existing(uow, name), _now(now)
    row.password_hash = await _hash(password)
    row.updated_at = at
    await end_sessions(uow, row.id)  # a changed password logs every browser out
    await audit.record(uow, actor, "account.password_changed", row.name, at)
    return _info(row)


async def set_role(
    uow: UnitOfWork, name: str, role: str, actor: str = SHELL, now: datetime | None = None
) -> AccountInfo:
    check_role(role)
    row, at = await _existing(uow, name), _now(now)
    before = row.role
    row.role, row.updated_at = role, at
    await uow.session.flush()
    await audit.record(uow, actor, "account.role_changed", row.name, at, role=role, was=before)
    return _info(row)


async def remove(
    uow: UnitOfWork, name: str, actor: str = SHELL, now: datetime | None = None
) -> AccountInfo:
    """Delete the account; its history stays in the audit log under its name."""
    row, at = await _existing(uow, name), _now(now)
    gone = _info(row)
    await end_sessions(uow, row.id)
    await uow.session.execute(
        update(User).where(User.account_id == row.id).values(account_id=None, role="user")
    )
    await uow.session.execute(delete(ApiToken).where(ApiToken.account_id == row.id))
    await uow.session.execute(delete(Account).where(Account.id == row.id))
    await audit.record(uow, actor, "account.removed", gone.name, at, role=gone.role)
    return gone


async def verify(uow: UnitOfWork, name: str, password: str) -> AccountInfo | None:
    """The account when the password is its own, else None, in the same time whether or not
    the name exists. A hash made with older argon2 parameters is replaced by a new one
    (commit the unit of work to keep it)."""
    row = await _row(uow, name) if name.strip() else None
    hashed = row.password_hash if row is not None else await asyncio.to_thread(_dummy_hash)
    ok = bool(password) and await asyncio.to_thread(_matches, hashed, password)
    if row is None or not ok:
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = await _hash(password)
        await uow.session.flush()
    return _info(row)


async def by_id(uow: UnitOfWork, account_id: int) -> AccountInfo | None:
    row = await uow.session.get(Account, account_id)
    return None if row is None else _info(row)


async def set_language(uow: UnitOfWork, account_id: int, language: str) -> None:
    """The dashboard's language for this account ("" = the deployment's default)."""
    if language not in ("", "en", "zh"):
        raise AccountError(f"unknown language {language!r}")
    await uow.session.execute(
        update(Account).where(Account.id == account_id).values(language=language)
    )


async def end_sessions(uow: UnitOfWork, account_id: int) -> None:
    await uow.session.execute(delete(WebSession).where(WebSession.account_id == account_id))


# addresses: the account's phone numbers and OpenIDs ------------------------------------------
async def link(
    uow: UnitOfWork,
    name: str,
    channel: str,
    address: str,
    actor: str = SHELL,
    now: datetime | None = None,
) -> AccountInfo:
    """The user at (channel, address) is this account's person by chat: a coordinator there,
    and their broadcasts are the account's in the audit log. The user is made if new."""
    row, at = await _existing(uow, name), _now(now)
    user = await uow.users.get_or_create(channel, address, at, "coordinator")
    await uow.session.execute(
        update(User).where(User.id == user.id).values(account_id=row.id, role="coordinator")
    )
    await audit.record(uow, actor, "account.linked", row.name, at, channel=channel, user=user.id)
    return _info(row)


async def unlink(
    uow: UnitOfWork,
    name: str,
    channel: str,
    address: str,
    actor: str = SHELL,
    now: datetime | None = None,
) -> bool:
    """The address is no longer the account's (nor a coordinator's, unless config says so:
    coordinators.addresses makes it one again on its next message)."""
    row, at = await _existing(uow, name), _now(now)
    done = await uow.session.execute(
        update(User)
        .where(User.channel == channel, User.address == address, User.account_id == row.id)
        .values(account_id=None, role="user")
    )
    if not getattr(done, "rowcount", 0):
        return False
    await audit.record(uow, actor, "account.unlinked", row.name, at, channel=channel)
    return True


async def addresses(uow: UnitOfWork, account_id: int) -> list[tuple[str, str]]:
    """(channel, address) of every user linked to the account."""
    rows = await uow.session.execute(
        select(User.channel, User.address).where(User.account_id == account_id).order_by(User.id)
    )
    return [(c, a) for c, a in rows]


async def account_of_user(uow: UnitOfWork, user_id: int) -> str | None:
    """The name of the account a chat user is linked to, if any."""
    found = await uow.session.execute(
        select(Account.name).join(User, User.account_id == Account.id).where(User.id == user_id)
    )
    return found.scalar_one_or_none()


# API tokens ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenInfo:
    id: int
    account: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_token(
    uow: UnitOfWork, name: str, actor: str = SHELL, now: datetime | None = None
) -> str:
    """A new bearer token for the account, shown this once; only its digest is kept."""
    row, at = await _existing(uow, name), _now(now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    uow.session.add(
        ApiToken(account_id=row.id, token_hash=_digest(token), prefix=token[:12], created_at=at)
    )
    await uow.session.flush()
    await audit.record(uow, actor, "token.created", row.name, at, prefix=token[:12])
    return token


def _token_info(t: ApiToken, a: Account) -> TokenInfo:
    return TokenInfo(t.id, a.name, a.role, t.prefix, t.created_at, t.last_used_at, t.revoked_at)


async def tokens(uow: UnitOfWork, name: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken, Account).join(Account, ApiToken.account_id == Account.id)
    if name is not None:
        query = query.where(Account.name_key == _key(name))
    rows = await uow.session.execute(query.order_by(ApiToken.id))
    return [_token_info(t, a) for t, a in rows]


async def revoke_token(
    uow: UnitOfWork, token_id: int, actor: str = SHELL, now: datetime | None = None
) -> bool:
    at = _now(now)
    found = (
        await uow.session.execute(
            select(ApiToken, Account)
            .join(Account, ApiToken.account_id == Account.id)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        )
    ).first()
    if found is None:
        return False
    token, account = found
    token.revoked_at = at
    await uow.session.flush()
    await audit.record(uow, actor, "token.revoked", account.name, at, prefix=token.prefix)
    return True


async def by_token(uow: UnitOfWork, token: str, now: datetime | None = None) -> AccountInfo | None:
    """The account a bearer token acts for; None for an unknown or revoked token."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    found = (
        await uow.session.execute(
            select(ApiToken, Account)
            .join(Account, ApiToken.account_id == Account.id)
            .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
        )
    ).first()
    if found is None:
        return None
    row, account = found
    at = _now(now)
    if row.last_used_at is None or (at - row.last_used_at).total_seconds() > 60:
        row.last_used_at = at
        await uow.session.flush()
    return _info(account)


async def count(uow: UnitOfWork) -> int:
    return (await uow.session.execute(select(func.count()).select_from(Account))).scalar_one()


async def audit_trail(uow: UnitOfWork, subject: str | None = None) -> list[AuditRecord]:
    """The audit log, oldest first; only one account's entries when subject is given."""
    return await audit.trail(uow, subject)
