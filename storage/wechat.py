"""WeChat's rows: when each follower last wrote, the shared access token, and who carries a
reply (a passive answer or a customer-service copy), for every process at once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, or_, select, update

from storage.fast import Prepared
from storage.models import InboundLog, WeChatContact, WeChatToken

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

_CHANNEL = "wechat"  # the channel name the gateway logs WeChat messages under


class Contact(NamedTuple):
    """When a follower last wrote (customer service is open 48 h after) and last clicked,
    followed or scanned (open 1 minute after)."""

    openid: str
    last_message_at: datetime | None
    last_event_at: datetime | None


class StoredToken(NamedTuple):
    access_token: str | None
    expires_at: datetime | None


def _touch(column: str) -> Prepared:
    """An upsert of the contact's `column` (per dialect: INSERT ... ON CONFLICT)."""

    def build(insert: Any) -> Any:
        stmt = insert(WeChatContact).values(
            openid=bindparam("b_openid"), **{column: bindparam("b_now")}
        )
        return stmt.on_conflict_do_update(
            index_elements=["openid"], set_={column: stmt.excluded[column]}
        )

    return Prepared.per_dialect(build)


_TOUCH = {"message": _touch("last_message_at"), "event": _touch("last_event_at")}
_CONTACT = Prepared(
    select(WeChatContact.openid, WeChatContact.last_message_at, WeChatContact.last_event_at).where(
        WeChatContact.openid == bindparam("b_openid")
    )
)


async def touch_contact(uow: UnitOfWork, openid: str, now: datetime, event: bool = False) -> None:
    """Remember that the follower wrote (event: clicked the menu, followed or scanned) now."""
    await _TOUCH["event" if event else "message"].run(uow, {"b_openid": openid, "b_now": now})


async def contact(uow: UnitOfWork, openid: str) -> Contact | None:
    row = await _CONTACT.first(uow, {"b_openid": openid})
    return None if row is None else Contact(*row)


# The access token: one row per app, and a lease so that one process at a time renews it.
_APP = WeChatToken.app_id == bindparam("b_app")
_TOKEN = Prepared(select(WeChatToken.access_token, WeChatToken.expires_at).where(_APP))
_TOKEN_ROW = Prepared.per_dialect(
    lambda insert: (
        insert(WeChatToken)
        .values(app_id=bindparam("b_app"), updated_at=bindparam("b_now"))
        .on_conflict_do_nothing(index_elements=["app_id"])
    )
)
_TAKE_LEASE = Prepared(
    update(WeChatToken)
    .where(
        _APP, or_(WeChatToken.lease_until.is_(None), WeChatToken.lease_until < bindparam("b_now"))
    )
    .values(lease_until=bindparam("b_until"))
)
_RELEASE = Prepared(
    update(WeChatToken).where(_APP).values(lease_until=None, updated_at=bindparam("b_now"))
)
_STORE = Prepared(
    update(WeChatToken)
    .where(_APP)
    .values(
        lease_until=None,
        updated_at=bindparam("b_now"),
        access_token=bindparam("b_token"),
        expires_at=bindparam("b_expires"),
    )
)


async def stored_token(uow: UnitOfWork, app_id: str) -> StoredToken | None:
    row = await _TOKEN.first(uow, {"b_app": app_id})
    return None if row is None else StoredToken(*row)


async def take_token_lease(uow: UnitOfWork, app_id: str, now: datetime, until: datetime) -> bool:
    """The right to renew the token until `until` (the row made first if absent); False while
    another process holds an unexpired lease."""
    await _TOKEN_ROW.run(uow, {"b_app": app_id, "b_now": now})
    return await _TAKE_LEASE.run(uow, {"b_app": app_id, "b_now": now, "b_until": until}) == 1


async def release_token_lease(
    uow: UnitOfWork,
    app_id: str,
    now: datetime,
    token: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    """End the lease, keeping the renewed token when there is one."""
    if token:
        params = {"b_app": app_id, "b_now": now, "b_token": token, "b_expires": expires_at}
        await _STORE.run(uow, params)
    else:
        await _RELEASE.run(uow, {"b_app": app_id, "b_now": now})


# Across processes a redelivery can reach a process that did not handle the message, while
# the one that did sends the reply by customer service: each passive answer and each
# customer-service copy first claims the message's reply_via, and only the first kind to
# claim delivers. A passive answer ("p:<token>") may take over an earlier passive claim
# (WeChat redelivers only when that answer did not reach it in time), never a "push".
_INBOUND = InboundLog.__table__.c
_THIS = (_INBOUND.channel == _CHANNEL) & (_INBOUND.message_id == bindparam("b_msg"))
_CLAIM_PASSIVE = Prepared(
    update(InboundLog)
    .where(_THIS, or_(_INBOUND.reply_via.is_(None), _INBOUND.reply_via.like("p:%")))
    .values(reply_via=bindparam("b_via"))
)
_CLAIM_PUSH = Prepared(
    update(InboundLog)
    .where(_THIS, or_(_INBOUND.reply_via.is_(None), _INBOUND.reply_via == bindparam("b_mine")))
    .values(reply_via="push")
)
_LOGGED = Prepared(select(_INBOUND.id).where(_THIS))


async def claim_passive_reply(uow: UnitOfWork, message_id: str, token: str) -> bool:
    """Whether this delivery (token) may answer the message passively; also True when the
    message left no inbound row (nothing to share)."""
    params = {"b_msg": message_id, "b_via": f"p:{token}"}
    return await _claimed(uow, _CLAIM_PASSIVE, params)


async def claim_pushed_reply(uow: UnitOfWork, message_id: str, token: str) -> bool:
    """Whether the reply may go by customer service: no delivery but this process's own
    (token) answered it passively; also True when the message left no inbound row."""
    return await _claimed(uow, _CLAIM_PUSH, {"b_msg": message_id, "b_mine": f"p:{token}"})


async def _claimed(uow: UnitOfWork, claim: Prepared, params: dict[str, str]) -> bool:
    return bool(await claim.run(uow, params) or await _LOGGED.first(uow, params) is None)
