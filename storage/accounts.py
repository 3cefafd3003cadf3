"""Accounts of the people who run the co-op (admins and coordinators), their argon2 password
hashes, and the audit log of every change made to them. The hash never leaves this module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from storage.models import Account, AuditEntry

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

ROLES = ("admin", "coordinator")
MIN_PASSWORD = 8
MAX_NAME = 64
SHELL = "shell"  # the actor of a change made with `farmchat admin`
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's recommended parameters


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


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, object]


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


async def _audit(
    uow: UnitOfWork, actor: str, action: str, subject: str, at: datetime, **detail: object
) -> None:
    entry = AuditEntry(
        at=at, actor=actor, action=action, subject=subject, detail=json.dumps(detail)
    )
    uow.session.add(entry)
    await uow.session.flush()


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
        password_hash=_HASHER.hash(password),
        language="",
        created_at=at,
        updated_at=at,
    )
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError:  # added meanwhile by another process
        raise AccountError(f"an account named {clean!r} already exists") from None
    await _audit(uow, actor, "account.added", clean, at, role=role)
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
    row.password_hash = _HASHER.hash(password)
    row.updated_at = at
    await uow.session.flush()
    await _audit(uow, actor, "account.password_changed", row.name, at)
    return _info(row)


async def set_role(
    uow: UnitOfWork, name: str, role: str, actor: str = SHELL, now: datetime | None = None
) -> AccountInfo:
    check_role(role)
    row, at = await _existing(uow, name), _now(now)
    before = row.role
    row.role, row.updated_at = role, at
    await uow.session.flush()
    await _audit(uow, actor, "account.role_changed", row.name, at, role=role, was=before)
    return _info(row)


async def remove(
    uow: UnitOfWork, name: str, actor: str = SHELL, now: datetime | None = None
) -> AccountInfo:
    """Delete the account; its history stays in the audit log under its name."""
    row, at = await _existing(uow, name), _now(now)
    gone = _info(row)
    await uow.session.execute(delete(Account).where(Account.id == row.id))
    await _audit(uow, actor, "account.removed", gone.name, at, role=gone.role)
    return gone


async def verify(uow: UnitOfWork, name: str, password: str) -> AccountInfo | None:
    """The account when the password is its own, else None. A hash made with older argon2
    parameters is replaced by a new one (commit the unit of work to keep it)."""
    row = await _row(uow, name)
    if row is None or not password:
        return None
    try:
        _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
        await uow.session.flush()
    return _info(row)


async def audit_trail(uow: UnitOfWork, subject: str | None = None) -> list[AuditRecord]:
    """The audit log, oldest first; only one account's entries when subject is given."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    rows = await uow.session.execute(query)
    return [
        AuditRecord(e.id, e.at, e.actor, e.action, e.subject, json.loads(e.detail))
        for e in rows.scalars()
    ]
