"""The operations of /api/v1 (bot/web/api/framework.py declares, checks and documents them).
Each runs the service the dashboard page and the SMS command run."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from bot.web import broadcasts as pages
from bot.web import past
from bot.web.api import market
from bot.web.api import models as m
from bot.web.api.framework import Api, Call, Operation, Refused, after, cursor
from bot.web.base import now
from handlers import broadcasts as engine
from handlers import handoff
from handlers import prices as answers
from handlers.context import Scope
from handlers.settings import default_lang
from storage import audit, dashboard, history
from storage import broadcasts as records
from storage.models import Broadcast

EPOCH = date(1970, 1, 1)


def _scope(call: Call, uow) -> Scope:
    svc = call.svc
    return Scope(
        uow=uow,
        settings=svc.settings,
        catalog=svc.catalog,
        now=now(),
        lang=default_lang(svc.settings),
    )


def _product(call: Call, key: str) -> str:
    if key not in call.svc.catalog.products:
        raise Refused(404, "Not found", f"no product {key!r}")
    return key


def _place(call: Call, key: str | None) -> str | None:
    if key is not None and key not in call.svc.catalog.places:
        raise Refused(404, "Not found", f"no market {key!r}")
    return key


# who ------------------------------------------------------------------------------------------
async def me(call: Call) -> m.Me:
    a = call.account
    return m.Me(name=a.name, role=a.role, language=a.language)


# prices ---------------------------------------------------------------------------------------
async def price_board(call: Call) -> m.PriceBoard:
    catalog = call.svc.catalog
    out = []
    async with call.svc.db.reader() as uow:
        ctx = _scope(call, uow)
        wanted = call.query.product
        if wanted:
            _product(call, wanted)
        for key, (quotes, groups) in (
            await answers.board(ctx, [wanted] if wanted else None)
        ).items():
            out.append(
                m.ProductPrices(
                    product=key,
                    name_en=catalog.product_name(key, "en"),
                    name_zh=catalog.product_name(key, "zh"),
                    quotes=[
                        m.Quote(
                            market=q.location,
                            price=q.price,
                            currency=q.currency,
                            unit=q.unit,
                            published_at=q.published_at,
                        )
                        for q in quotes
                    ],
                    asking=[
                        m.Asking(
                            currency=g.currency,
                            unit=g.unit,
                            low=g.low,
                            high=g.high,
                            median=g.median,
                            listings=g.n,
                            change_pct=g.change_pct,
                        )
                        for g in groups
                    ],
                )
            )
    return m.PriceBoard(products=out)


async def price_history(call: Call) -> m.PriceHistory:
    product = _product(call, call.path["product"])
    at = now()
    zone_offset = int((at.astimezone(_zone(call)).utcoffset() or timedelta(0)).total_seconds())
    since = at - timedelta(days=call.query.days)
    async with call.svc.db.reader() as uow:
        points = await dashboard.price_history(uow, product, since)
        asked = await past.asked_by_day(
            call.request.app, uow, product, since, at + timedelta(seconds=1), zone_offset
        )
    return m.PriceHistory(
        product=product,
        prices=[
            m.HistoryPoint(
                market=p.location,
                price=p.price,
                currency=p.currency,
                unit=p.unit,
                published_at=p.published_at,
            )
            for p in points
        ],
        asking=[
            m.AskedDay(
                day=(EPOCH + timedelta(days=a.day)).isoformat(),
                price=a.price,
                currency=a.currency,
                unit=a.price_unit,
                listings=a.n,
            )
            for a in sorted(asked)
        ],
    )


def _zone(call: Call):
    from zoneinfo import ZoneInfo

    return ZoneInfo(call.svc.settings.market.timezone)


async def price_draft(call: Call) -> m.BroadcastOut:
    body: m.PriceDraft = call.body
    svc = call.svc
    product = _product(call, body.product)
    place = _place(call, body.market)
    bc = engine.new_price(
        svc.catalog,
        svc.settings,
        product,
        place,
        body.price,
        body.currency or svc.settings.market.currency,
        body.unit or svc.settings.market.display_unit,
        now(),
        None,
    )
    async with svc.db.uow() as uow:
        await records.save(uow, bc)
        await uow.commit()
    return await _broadcast(call, bc.id)


# broadcasts -----------------------------------------------------------------------------------
async def _out(call: Call, uow, bc: Broadcast) -> m.BroadcastOut:
    tally = await engine.counts(uow, bc.id)
    preview = None
    if bc.status == "draft":
        seen = await engine.preview(uow, bc, call.svc.settings)
        preview = m.Preview(
            audience=seen.audience,
            by_channel=seen.by_channel,
            segments=seen.segments_text(),
            cost=str(seen.cost_text()),
        )
    return m.BroadcastOut(
        id=bc.id,
        kind=bc.kind,
        status=bc.status,
        texts=dict(bc.texts or {}),
        product=bc.product,
        market=bc.location,
        price=bc.price,
        currency=bc.currency,
        unit=bc.unit,
        channel=bc.channel,
        everyone=bool(bc.everyone),
        created_at=bc.created_at,
        send_at=bc.send_at,
        started_at=bc.started_at,
        finished_at=bc.finished_at,
        recipients=bc.recipients,
        progress=m.Progress(**{k: v for k, v in tally.items() if k in m.Progress.model_fields}),
        preview=preview,
    )


async def _broadcast(call: Call, broadcast_id: int) -> m.BroadcastOut:
    async with call.svc.db.reader() as uow:
        bc = await records.get(uow, broadcast_id)
        if bc is None:
            raise Refused(404, "Not found", f"no broadcast {broadcast_id}")
        return await _out(call, uow, bc)


async def list_broadcasts(call: Call) -> m.BroadcastPage:
    q: m.PageQuery = call.query
    async with call.svc.db.reader() as uow:
        rows = await dashboard.broadcasts(uow, after(q.cursor), q.limit)
        items = [await _out(call, uow, bc) for bc in rows]
    return m.BroadcastPage(items=items, next=cursor(rows[-1].id) if len(rows) == q.limit else None)


async def announcement_draft(call: Call) -> m.BroadcastOut:
    body: m.AnnouncementDraft = call.body
    product = None if body.everyone else (body.product and _product(call, body.product))
    place = _place(call, body.market)
    by_lang = {k: v for k, v in (("en", body.text_en), ("zh", body.text_zh)) if v}
    bc = engine.new_announcement(
        body.text,
        now(),
        None,
        product,
        place,
        by_lang,
        channel=body.channel,
        everyone=body.everyone,
    )
    async with call.svc.db.uow() as uow:
        await records.save(uow, bc)
        await uow.commit()
    return await _broadcast(call, bc.id)


async def get_broadcast(call: Call) -> m.BroadcastOut:
    return await _broadcast(call, call.path["id"])


async def send_broadcast(call: Call) -> m.BroadcastOut:
    body: m.Send = call.body
    when = body.send_at
    if when is not None:
        if when.tzinfo is None:
            raise Refused(400, "Invalid request", "send_at needs a time zone, e.g. Z or +08:00")
        if when <= now():
            raise Refused(400, "Invalid request", "send_at is in the past")
        when = when.astimezone(UTC)
    current = await _broadcast(call, call.path["id"])
    if current.status != "draft":
        raise Refused(409, "Not a draft", f"broadcast {current.id} is {current.status}")
    await pages.confirm_draft(call.svc, current.id, call.account.name, when)
    return await _broadcast(call, current.id)


async def cancel_broadcast(call: Call) -> m.BroadcastOut:
    broadcast_id = call.path["id"]
    await _broadcast(call, broadcast_id)  # 404 when there is none
    async with call.svc.db.uow() as uow:
        done = await engine.cancel(uow, broadcast_id, call.account.name, now())
        await uow.commit()
    if not done:
        raise Refused(409, "Cannot cancel", "it has begun sending, or is over")
    return await _broadcast(call, broadcast_id)


# conversations --------------------------------------------------------------------------------
async def _conversation(call: Call, user_id: int) -> m.Conversation:
    async with call.svc.db.reader() as uow:
        user = await uow.users.get(user_id)
        if user is None:
            raise Refused(404, "Not found", f"no user {user_id}")
        lines = await history.timeline(uow, user_id)
    return m.Conversation(
        user=user.id,
        channel=user.channel,
        handoff_until=user.handoff_until if handoff.active(user.handoff_until, now()) else None,
        handoff_by=user.handoff_by if handoff.active(user.handoff_until, now()) else None,
        lines=[
            m.Line(
                at=x.at,
                direction="in" if x.inbound else "out",
                text=x.text,
                reply=x.reply,
                intent=x.intent,
                kind=x.kind,
                status=x.status,
                provider_status=x.provider_status,
                error=x.error,
            )
            for x in lines
        ],
    )


async def get_conversation(call: Call) -> m.Conversation:
    return await _conversation(call, call.path["id"])


async def _handoff(call: Call, what: str, words: str = "") -> m.Conversation:
    user_id = call.path["id"]
    svc = call.svc
    async with svc.db.uow() as uow:
        user = await uow.users.get(user_id)
        if user is None:
            raise Refused(404, "Not found", f"no user {user_id}")
        ctx = _scope(call, uow)
        minutes = svc.settings.dashboard.handoff_minutes
        if what == "answer":
            await handoff.answer(ctx, user, call.account.name, words, minutes)
        else:
            await handoff.hand_back(ctx, user, call.account.name)
        claimed = await svc.outbound.queue(uow, ctx.notices, ctx.now)
        await uow.commit()
    await svc.outbound.deliver(claimed)
    return await _conversation(call, user_id)


async def answer(call: Call) -> m.Conversation:
    body: m.Answer = call.body
    if not body.text.strip():
        raise Refused(400, "Invalid request", "text is empty")
    return await _handoff(call, "answer", body.text)


async def hand_back(call: Call) -> m.Conversation:
    return await _handoff(call, "back")


# audit and subscriptions ----------------------------------------------------------------------
async def audit_log(call: Call) -> m.AuditPage:
    q: m.AuditQuery = call.query
    async with call.svc.db.reader() as uow:
        rows = await audit.page(uow, after(q.cursor), q.limit, q.q)
    return m.AuditPage(
        items=[
            m.AuditEntry(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                subject=e.subject,
                detail=e.detail,
            )
            for e in rows
        ],
        next=cursor(rows[-1].id) if len(rows) == q.limit else None,
    )


async def list_subscriptions(call: Call) -> m.SubscriptionPage:
    q: m.SubscriptionQuery = call.query
    async with call.svc.db.reader() as uow:
        rows = await dashboard.subscriptions(uow, q.product, q.user, after(q.cursor), q.limit)
    return m.SubscriptionPage(
        items=[
            m.SubscriptionOut(
                id=s.id,
                user=s.user_id,
                product=s.product,
                market=s.location,
                direction=s.direction,
                threshold=s.threshold,
                currency=s.currency,
                unit=s.unit,
                mode=s.mode,
                created_at=s.created_at,
            )
            for s in rows
        ],
        next=cursor(rows[-1].id) if len(rows) == q.limit else None,
    )


def api() -> Api:
    ops = Api()
    add = ops.add
    add(Operation("GET", "/me", "me", "The token's account", me, m.Me, tag="account", errors=()))
    add(
        Operation(
            "GET",
            "/prices",
            "price_board",
            "Latest coordinator prices and asking prices",
            price_board,
            m.PriceBoard,
            query=m.BoardQuery,
            tag="prices",
        )
    )
    add(
        Operation(
            "GET",
            "/prices/{product}/history",
            "price_history",
            "A product's prices over time",
            price_history,
            m.PriceHistory,
            query=m.HistoryQuery,
            tag="prices",
        )
    )
    add(
        Operation(
            "POST",
            "/prices",
            "price_draft",
            "Draft a coordinator price (publish with POST /broadcasts/{id}/send)",
            price_draft,
            m.BroadcastOut,
            body=m.PriceDraft,
            status=201,
            tag="prices",
        )
    )
    add(
        Operation(
            "GET",
            "/broadcasts",
            "list_broadcasts",
            "Broadcasts, newest first",
            list_broadcasts,
            m.BroadcastPage,
            query=m.PageQuery,
            tag="broadcasts",
        )
    )
    add(
        Operation(
            "POST",
            "/broadcasts",
            "announcement_draft",
            "Draft an announcement, with its preview",
            announcement_draft,
            m.BroadcastOut,
            body=m.AnnouncementDraft,
            status=201,
            tag="broadcasts",
        )
    )
    add(
        Operation(
            "GET",
            "/broadcasts/{id}",
            "get_broadcast",
            "A broadcast with its progress (a draft with its preview)",
            get_broadcast,
            m.BroadcastOut,
            tag="broadcasts",
        )
    )
    add(
        Operation(
            "POST",
            "/broadcasts/{id}/send",
            "send_broadcast",
            "Confirm a draft: send now or at send_at",
            send_broadcast,
            m.BroadcastOut,
            body=m.Send,
            tag="broadcasts",
            errors=(400, 401, 403, 404, 409),
        )
    )
    add(
        Operation(
            "POST",
            "/broadcasts/{id}/cancel",
            "cancel_broadcast",
            "Cancel a broadcast not yet begun",
            cancel_broadcast,
            m.BroadcastOut,
            tag="broadcasts",
            errors=(400, 401, 403, 404, 409),
        )
    )
    add(
        Operation(
            "GET",
            "/users/{id}/conversation",
            "get_conversation",
            "Every message, reply and push of a user",
            get_conversation,
            m.Conversation,
            tag="conversations",
        )
    )
    add(
        Operation(
            "POST",
            "/users/{id}/handoff",
            "answer",
            "Answer a user as a person (the bot keeps quiet meanwhile)",
            answer,
            m.Conversation,
            body=m.Answer,
            tag="conversations",
        )
    )
    add(
        Operation(
            "POST",
            "/users/{id}/handback",
            "hand_back",
            "Let the bot answer the user again",
            hand_back,
            m.Conversation,
            tag="conversations",
        )
    )
    add(
        Operation(
            "GET",
            "/subscriptions",
            "list_subscriptions",
            "Active price subscriptions",
            list_subscriptions,
            m.SubscriptionPage,
            query=m.SubscriptionQuery,
            tag="subscriptions",
        )
    )
    add(
        Operation(
            "GET",
            "/audit",
            "audit_log",
            "The audit log, newest first",
            audit_log,
            m.AuditPage,
            query=m.AuditQuery,
            tag="audit",
        )
    )
    market.add_operations(ops)
    return ops
