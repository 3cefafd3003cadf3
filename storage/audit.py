"""The audit log: who published which price, sent or cancelled which broadcast, changed which
listing, order, role or account, and when. Written in the transaction of the change itself,
so an entry exists exactly when the change does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select

from storage.models import AuditEntry

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

MAX_ACTOR = 64
MAX_SUBJECT = 64


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, object]


def _record(e: AuditEntry) -> AuditRecord:
    return AuditRecord(e.id, e.at, e.actor, e.action, e.subject, json.loads(e.detail))


async def record(
    uow: UnitOfWork, actor: str, action: str, subject: str, at: datetime, **detail: object
) -> None:
    """One entry; detail is kept as JSON (values: strings, numbers, lists of them)."""
    entry = AuditEntry(
        at=at,
        actor=actor[:MAX_ACTOR],
        action=action,
        subject=subject[:MAX_SUBJECT],
        detail=json.dumps(detail, ensure_ascii=False, default=str),
    )
    uow.session.add(entry)
    await uow.session.flush()


async def trail(uow: UnitOfWork, subject: str | None = None) -> list[AuditRecord]:
    """The whole log, oldest first; only one subject's entries when subject is given."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return [_record(e) for e in (await uow.session.execute(query)).scalars()]


async def page(
    uow: UnitOfWork, before: int | None = None, limit: int = 50, search: str = ""
) -> list[AuditRecord]:
    """Newest first, `limit` entries older than entry `before`; search matches the actor,
    action or subject (as text: never part of the statement)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if search:
        like = f"%{search.casefold()}%"
        query = query.where(
            or_(
                func.lower(AuditEntry.actor).like(like),
                func.lower(AuditEntry.action).like(like),
                func.lower(AuditEntry.subject).like(like),
            )
        )
    return [_record(e) for e in (await uow.session.execute(query)).scalars()]
