"""The dashboard's logins: sessions kept by the digest of the cookie's secret, and the failed
passwords that throttle guessing, per account name and per address."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, func, select

from storage.accounts import AccountInfo, by_id
from storage.models import LoginFailure, WebSession

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

SEEN_PRECISION = timedelta(minutes=1)  # seen_at is not rewritten on every page


class Session(NamedTuple):
    account: AccountInfo
    csrf: str
    created_at: datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def open_session(uow: UnitOfWork, account_id: int, now: datetime) -> str:
    """A new session for the account; the secret goes in the cookie, its digest here."""
    secret = secrets.token_urlsafe(32)
    uow.session.add(
        WebSession(
            id=_digest(secret),
            account_id=account_id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            seen_at=now,
        )
    )
    await uow.session.flush()
    return secret


async def session(
    uow: UnitOfWork, secret: str, now: datetime, idle: timedelta, longest: timedelta
) -> Session | None:
    """The live session of this secret; None when there is none, or it has been idle longer
    than `idle` or open longer than `longest` (then it is deleted)."""
    if not secret or len(secret) > 100:
        return None
    row = await uow.session.get(WebSession, _digest(secret))
    if row is None:
        return None
    if now - row.seen_at > idle or now - row.created_at > longest:
        await uow.session.delete(row)
        await uow.session.flush()
        return None
    account = await by_id(uow, row.account_id)
    if account is None:
        return None
    if now - row.seen_at >= SEEN_PRECISION:
        row.seen_at = now
        await uow.session.flush()
    return Session(account, row.csrf, row.created_at)


async def close_session(uow: UnitOfWork, secret: str) -> None:
    await uow.session.execute(delete(WebSession).where(WebSession.id == _digest(secret)))


async def failures(uow: UnitOfWork, key: str, since: datetime) -> int:
    found = await uow.session.execute(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key == key, LoginFailure.at >= since)
    )
    return found.scalar_one()


async def failed(uow: UnitOfWork, keys: list[str], now: datetime) -> None:
    uow.session.add_all([LoginFailure(key=key[:128], at=now) for key in keys])
    await uow.session.flush()


async def forget(uow: UnitOfWork, key: str) -> None:
    """A right password clears its account's failures (not its address's)."""
    await uow.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


async def prune(uow: UnitOfWork, failures_before: datetime, sessions_before: datetime) -> None:
    """Drop failures older than the throttle's window and sessions idle past their end."""
    await uow.session.execute(delete(LoginFailure).where(LoginFailure.at < failures_before))
    await uow.session.execute(delete(WebSession).where(WebSession.seen_at < sessions_before))
