"""The send_pace rows: per channel, the earliest Unix time the next message may go, shared by
every sender on the database (bot/outbound/pacing.py decides the times)."""

from __future__ import annotations

from sqlalchemy import bindparam, case, select, update

from storage.fast import Prepared
from storage.models import SendPace
from storage.uow import Database, UnitOfWork

_NEXT = SendPace.__table__.c.next_at
# a message that goes at once moves the channel's next free time on by its cost; one UPDATE,
# which locks the row itself
_TAKE = Prepared(
    update(SendPace)
    .where(SendPace.channel == bindparam("b_channel"))
    .values(
        next_at=case((bindparam("b_now") < _NEXT, _NEXT), else_=bindparam("b_now"))
        + bindparam("b_cost")
    )
)
_NEW_ROW = Prepared.per_dialect(
    lambda insert: (
        insert(SendPace)
        .values(channel=bindparam("b_channel"), next_at=0.0)
        .on_conflict_do_nothing(index_elements=["channel"])
    )
)


async def next_free(uow: UnitOfWork, channel: str) -> float:
    """The channel's next free time, its row locked until commit (made first if absent;
    SQLite: the transaction is the lock)."""
    q = select(SendPace.next_at).where(SendPace.channel == channel).with_for_update()
    found = (await uow.session.execute(q)).scalar_one_or_none()
    if found is not None:
        return found
    await _NEW_ROW.run(uow, {"b_channel": channel})
    return (await uow.session.execute(q)).scalar_one()


async def book_until(uow: UnitOfWork, channel: str, next_at: float) -> None:
    """The channel is booked until next_at (its row locked by next_free)."""
    stmt = update(SendPace).where(SendPace.channel == channel).values(next_at=next_at)
    await uow.session.execute(stmt)


async def take(uow: UnitOfWork, channel: str, now: float, seconds: float) -> None:
    """One message goes now: the channel's next free time moves on by seconds (from now, or
    from the time already booked)."""
    params = {"b_channel": channel, "b_now": now, "b_cost": seconds}
    if not await _TAKE.run(uow, params):
        await _NEW_ROW.run(uow, params)
        await _TAKE.run(uow, params)


async def take_alone(db: Database, channel: str, now: float, seconds: float) -> None:
    """take(), committed at once on its own: on PostgreSQL one statement in autocommit, so
    the channel's row is locked for that statement only, never across another transaction
    (behind a pooler in transaction mode, a transaction of its own: the statement is prepared
    unnamed, and only a transaction keeps its prepare and its execution on one connection)."""
    if db.dialect != "postgresql" or db.transaction_pooling:
        await db.transact(lambda uow: take(uow, channel, now, seconds))
        return
    params = {"b_channel": channel, "b_now": now, "b_cost": seconds}
    async with db.engine.connect() as conn:
        alone = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not (await alone.execute(_TAKE.stmt, params)).rowcount:
            await alone.execute(_NEW_ROW.by_dialect["postgresql"], params)
            await alone.execute(_TAKE.stmt, params)
