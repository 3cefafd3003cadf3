"""What providers report after a push: delivery statuses on outbox rows (Twilio's status
callbacks, WeChat's template results), and the daily send quotas every process shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Integer, bindparam, case, func, or_, select, update

from storage.fast import Prepared
from storage.models import Outbox, SendQuota

if TYPE_CHECKING:
    from storage.uow import UnitOfWork


class Receipt(NamedTuple):
    """A provider's word on one pushed message."""

    sid: str  # the provider's id for the message
    status: str
    error_code: int | None = None
    ref: int | None = None  # the outbox id echoed back, when the provider carries one
    opted_out: bool = False  # the provider says the user has opted out


class Recorded(NamedTuple):
    """The outbox row a receipt was for, and whether its status moved on."""

    outbox_id: int
    user_id: int
    advanced: bool


_ROW_BY_REF = Prepared(
    select(Outbox.id, Outbox.user_id).where(
        Outbox.id == bindparam("b_ref"),
        or_(Outbox.provider_sid.is_(None), Outbox.provider_sid == bindparam("b_sid")),
    )
)
_ROW_BY_SID = Prepared(
    select(Outbox.id, Outbox.user_id).where(Outbox.provider_sid == bindparam("b_sid"))
)
_KEEP_SID = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("b_row_id"), Outbox.provider_sid.is_(None))
    .values(provider_sid=bindparam("b_sid"))
)


class StatusLadder:
    """A provider's delivery statuses in order: a receipt moves a message to a later status,
    never back to an earlier one (receipts arrive out of order). The rank test is in the
    UPDATE itself, so two receipts for one message in two processes cannot move it back."""

    def __init__(self, rank: Mapping[str, int]):
        self.rank = dict(rank)
        current = case(self.rank, value=Outbox.provider_status, else_=-1)
        self._advance = Prepared(
            update(Outbox)
            .where(Outbox.id == bindparam("b_row_id"), bindparam("b_rank") > current)
            .values(
                provider_status=bindparam("b_status"),
                provider_sid=func.coalesce(Outbox.provider_sid, bindparam("b_sid")),
                error_code=func.coalesce(bindparam("b_code", type_=Integer), Outbox.error_code),
            )
        )

    async def record(self, uow: UnitOfWork, receipt: Receipt) -> Recorded | None:
        """Apply the receipt to its row (the one its ref names, if the sid agrees, else the
        one with its sid); None when no row is the message's. An older status keeps the
        newer one but teaches the row its sid; an opt-out marks the user."""
        row = await self._row(uow, receipt)
        if row is None:
            return None
        params = {"b_row_id": row.id, "b_sid": receipt.sid}
        advanced = bool(
            await self._advance.run(
                uow,
                {
                    **params,
                    "b_rank": self.rank[receipt.status],
                    "b_status": receipt.status,
                    "b_code": receipt.error_code,
                },
            )
        )
        if not advanced:
            await _KEEP_SID.run(uow, params)
        elif receipt.opted_out:
            await uow.users.mark_opted_out([row.user_id])
        return Recorded(row.id, row.user_id, advanced)

    @staticmethod
    async def _row(uow: UnitOfWork, receipt: Receipt) -> Any:
        params = {"b_ref": receipt.ref, "b_sid": receipt.sid}
        row = await _ROW_BY_REF.first(uow, params) if receipt.ref is not None else None
        return row or await _ROW_BY_SID.first(uow, params)


_RESULT = Prepared(
    update(Outbox)
    .where(Outbox.channel == bindparam("b_channel"), Outbox.provider_sid == bindparam("b_sid"))
    .values(provider_status=bindparam("b_status"))
)


async def record_result(uow: UnitOfWork, channel: str, sid: str, status: str) -> int:
    """A final delivery result (no ladder: it comes once) on the channel's message sid; the
    number of rows it named."""
    return await _RESULT.run(uow, {"b_channel": channel, "b_sid": sid, "b_status": status})


# Daily quotas: one row per quota and day, taken one send at a time by a conditional UPDATE.
_QUOTA_ROW = Prepared.per_dialect(
    lambda insert: (
        insert(SendQuota)
        .values(name=bindparam("b_name"), day=bindparam("b_day"), used=0)
        .on_conflict_do_nothing(index_elements=["name", "day"])
    )
)
_THIS_DAY = (SendQuota.name == bindparam("b_name")) & (SendQuota.day == bindparam("b_day"))
_TAKE_ONE = Prepared(
    update(SendQuota)
    .where(_THIS_DAY, SendQuota.used < bindparam("b_below"))
    .values(used=SendQuota.used + 1)
)
_SPEND_ALL = Prepared(update(SendQuota).where(_THIS_DAY).values(used=bindparam("b_limit")))


async def take_quota(uow: UnitOfWork, name: str, day: str, below: int) -> bool:
    """One send from the quota's count for day, if fewer than `below` are used."""
    params = {"b_name": name, "b_day": day, "b_below": below}
    await _QUOTA_ROW.run(uow, params)
    return await _TAKE_ONE.run(uow, params) == 1


async def spend_quota(uow: UnitOfWork, name: str, day: str, limit: int) -> None:
    """Mark the day's quota used up (the provider said so), for every process."""
    await _SPEND_ALL.run(uow, {"b_name": name, "b_day": day, "b_limit": limit})
