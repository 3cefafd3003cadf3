"""Channel pacing shared by every sender on the database: one row per channel holds the
earliest time the next message may go, and each batch reserves its slots in the same
transaction that claims its rows. N processes together keep the channel's one rate.

Twilio limits a long code to 1 segment/s and queues the excess (CHANNELS.md B5), so an SMS
costs its segment count; other channels cost 1 per message.
"""

from __future__ import annotations

import time

from sqlalchemy import bindparam, case, select, update

from bot.config import Settings
from handlers.segments import fit, segments
from storage.fast import Prepared
from storage.models import SendPace
from storage.uow import UnitOfWork

_NEXT = SendPace.__table__.c.next_at
_TAKE_NOW = Prepared(
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


def channel_rates(settings: Settings) -> dict[str, float]:
    """Messages per second per channel; SMS and WhatsApp default to twilio.rate_per_second."""
    twilio = settings.twilio.rate_per_second
    return {"sms": twilio, "whatsapp": twilio, **settings.broadcast.rates}


def cost(channel: str, text: str) -> float:
    """Rate units one message uses: SMS segments as sent (fit to 2), else 1."""
    return float(segments(fit(text, 2)) or 1) if channel == "sms" else 1.0


class Pacer:
    """Reserves send times for a batch of messages on one channel."""

    def __init__(self, rates: dict[str, float], clock=time.time):
        self.rates, self.clock = rates, clock

    def paced(self, channel: str) -> bool:
        return self.rates.get(channel, 0) > 0

    async def reserve(self, uow: UnitOfWork, channel: str, costs: list[float]) -> list[float]:
        """Unix times at which each message may be sent (all 0 on an unpaced channel)."""
        rate = self.rates.get(channel, 0)
        if rate <= 0 or not costs:
            return [0.0] * len(costs)
        next_at = await self._lock_row(uow, channel)
        due, start = [], max(next_at, self.clock())
        for units in costs:
            due.append(start)
            start += units / rate
        await uow.session.execute(
            update(SendPace).where(SendPace.channel == channel).values(next_at=start)
        )
        return due

    async def take_now(self, uow: UnitOfWork, channel: str, units: float) -> None:
        """A message that goes at once (an order notification) takes the channel's next slot:
        the channel's next free time moves on by its cost, so paced broadcasts make room.
        One UPDATE (it locks the row itself); the row is made first if no broadcast has yet."""
        rate = self.rates.get(channel, 0)
        if rate <= 0:
            return
        params = {"b_channel": channel, "b_now": self.clock(), "b_cost": units / rate}
        if not await _TAKE_NOW.run(uow, params):
            await _NEW_ROW.run(uow, params)
            await _TAKE_NOW.run(uow, params)

    @staticmethod
    async def _lock_row(uow: UnitOfWork, channel: str) -> float:
        """The channel's row, locked until commit (SQLite: the transaction is the lock)."""
        s = uow.session
        q = select(SendPace.next_at).where(SendPace.channel == channel).with_for_update()
        found = (await s.execute(q)).scalar_one_or_none()
        if found is not None:
            return found
        await _NEW_ROW.run(uow, {"b_channel": channel})
        return (await s.execute(q)).scalar_one()
