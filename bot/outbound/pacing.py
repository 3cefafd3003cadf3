"""Channel pacing shared by every sender on the database: one row per channel holds the
earliest time the next message may go (storage/pacing.py), and each claim books its slots in
the same transaction that claims its rows; a notification written with the message that
caused it takes its slot as it is pushed, in a statement of its own, so that no message's
transaction holds the row. N processes together keep the channel's one rate.

Twilio limits a long code to 1 segment/s and queues the excess (CHANNELS.md B5), so an SMS
costs its segment count; other channels cost 1 per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bot.config import Settings
from handlers.segments import fit, segments
from storage import pacing
from storage.outbox import Claimed
from storage.uow import Database, UnitOfWork


def channel_rates(settings: Settings) -> dict[str, float]:
    """Messages per second per channel; SMS and WhatsApp default to twilio.rate_per_second."""
    twilio = settings.twilio.rate_per_second
    return {"sms": twilio, "whatsapp": twilio, **settings.broadcast.rates}


def cost(channel: str, text: str) -> float:
    """Rate units one message uses: SMS segments as sent (fit to 2), else 1."""
    return float(segments(fit(text, 2)) or 1) if channel == "sms" else 1.0


class Pacer:
    """Books send times on each channel's shared pace."""

    def __init__(self, rates: dict[str, float], clock: Callable[[], float] = time.time):
        self.rates, self.clock = rates, clock

    def paced(self, channel: str) -> bool:
        return self.rates.get(channel, 0) > 0

    async def book(self, uow: UnitOfWork, rows: list[Claimed], bulk: bool) -> list[Claimed]:
        """rows with the time each may go: broadcast messages queue behind the channel's
        booked slots; a notification goes at once and takes the next slot."""
        if bulk:
            return await self._queue_up(uow, rows)
        for row in rows:
            await self.take_now(uow, row.channel, cost(row.channel, row.text))
        return rows

    async def _queue_up(self, uow: UnitOfWork, rows: list[Claimed]) -> list[Claimed]:
        booked: list[Claimed] = []
        for channel in dict.fromkeys(row.channel for row in rows):
            mine = [row for row in rows if row.channel == channel]
            dues = await self.reserve(uow, channel, [cost(channel, row.text) for row in mine])
            booked += [row._replace(due=due) for row, due in zip(mine, dues, strict=True)]
        return sorted(booked)

    async def reserve(self, uow: UnitOfWork, channel: str, costs: Sequence[float]) -> list[float]:
        """Unix times at which each message may be sent (all 0 on an unpaced channel)."""
        rate = self.rates.get(channel, 0)
        if rate <= 0 or not costs:
            return [0.0] * len(costs)
        due, start = [], max(await pacing.next_free(uow, channel), self.clock())
        for units in costs:
            due.append(start)
            start += units / rate
        await pacing.book_until(uow, channel, start)
        return due

    async def take_at_push(self, db: Database, rows: Sequence[Claimed]) -> None:
        """Slots for notifications queued in a committed transaction, taken as they are
        pushed, each on its own: the message's transaction never waits on the channel's row."""
        for row in rows:
            rate = self.rates.get(row.channel, 0)
            if rate > 0:
                units = cost(row.channel, row.text)
                await pacing.take_alone(db, row.channel, self.clock(), units / rate)

    async def take_now(self, uow: UnitOfWork, channel: str, units: float) -> None:
        """A message that goes at once (an order notification) takes the channel's next slot:
        the channel's next free time moves on by its cost, so paced broadcasts make room."""
        rate = self.rates.get(channel, 0)
        if rate > 0:
            await pacing.take(uow, channel, self.clock(), units / rate)
