"""Alerts and broadcasts by chat, on SQLite and PostgreSQL: who gets what, once, in which
language; preview and confirmation; subscriptions, opt-out and opt-in; digests; schedules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from bot.outbound.dispatch import Dispatcher, utcnow
from bot.scheduler import Scheduler
from handlers import broadcasts as broadcast
from handlers.segments import segments
from storage.models import Broadcast, Outbox

COORDINATOR = "+8613900000000"
EN, ZH, HIGH, LOW, OUT, ELSEWHERE, TWICE, PEAR = (
    "+254700000001",
    "+8613800000002",
    "+254700000003",
    "+8613800000004",
    "+8613800000005",
    "+254700000006",
    "+254700000007",
    "+254700000008",
)


async def send_all(chat) -> None:
    svc = chat.svc
    await Dispatcher(svc.outbound).drain(timeout=60)


async def subscribers(chat) -> None:
    for who, text in [
        (EN, "subscribe apple prices"),
        (ZH, "订阅苹果价格"),
        (HIGH, "alert me when apples go above 4 yuan"),  # ¥4/jin: 4.2/kg is 2.10/jin
        (LOW, "苹果低于3块提醒我"),
        (OUT, "订阅苹果价格"),
        (ELSEWHERE, "subscribe apple prices Chengxian"),
        (TWICE, "subscribe apple prices"),
        (TWICE, "alert me when apples go below 5 yuan"),
        (PEAR, "subscribe pear prices"),
    ]:
        reply = await chat.send(who, text)
        assert "Subscribed" in reply or "已订阅" in reply
    assert "已退订全部" in await chat.send(OUT, "退订")


async def test_a_price_broadcast_reaches_each_matching_subscriber_once_in_their_language(chat):
    await subscribers(chat)
    preview = await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg Wudu")
    assert "¥4.20/kg" in preview and "Send to 4 subscribers (1 SMS each" in preview
    await send_all(chat)
    assert chat.sender.sent == []  # nothing goes before the coordinator confirms
    assert "being sent to 4 subscribers" in await chat.send(COORDINATOR, "yes")
    await send_all(chat)
    got = Counter(to for _, to, _ in chat.sender.sent if to != COORDINATOR)
    assert got == {EN: 1, ZH: 1, LOW: 1, TWICE: 1}  # not HIGH, OUT, ELSEWHERE, PEAR
    [english] = chat.pushes_to(EN)
    [chinese] = chat.pushes_to(ZH)
    assert english.startswith("Apple price, Wudu: ¥4.20/kg") and segments(english) == 1
    assert chinese.startswith("苹果收购价（武都）：¥4.20/公斤") and segments(chinese) == 1
    [summary] = chat.pushes_to(COORDINATOR)
    assert "4 sent, 0 failed, 0 skipped" in summary or "成功4，失败0，跳过0" in summary
    assert "Wudu market ¥2.10/jin" in await chat.send(
        EN, "apple price?"
    )  # the price answer has it too


async def test_an_announcement_is_previewed_and_only_sent_when_confirmed(chat):
    await subscribers(chat)
    preview = await chat.send(COORDINATOR, "群发 明天上午9点合作社开会")
    assert "通知：明天上午9点合作社开会" in preview and "发给7位订阅者" in preview
    assert "不发送" in await chat.send(COORDINATOR, "不")
    await send_all(chat)
    assert chat.sender.sent == []
    await chat.send(COORDINATOR, "群发 明天上午9点合作社开会")
    assert "正在发给7位订阅者" in await chat.send(COORDINATOR, "是")
    await send_all(chat)
    texts = {to: text for _, to, text in chat.sender.sent if to != COORDINATOR}
    assert set(texts) == {EN, ZH, HIGH, LOW, ELSEWHERE, TWICE, PEAR}  # every subscriber but OUT
    assert set(texts.values()) == {"明天上午9点合作社开会"}
    assert "Only coordinators" in await chat.send(EN, "broadcast: market closed tomorrow")


async def test_subscriptions_are_listed_unsubscribed_and_resumed(chat):
    await chat.send(EN, "subscribe apple prices")
    assert "(daily at 18:00)" in await chat.send(EN, "daily pear prices")
    listed = await chat.send(EN, "my alerts")
    assert "apple" in listed and "pear (daily at 18:00)" in listed
    assert "Unsubscribed from apple" in await chat.send(EN, "stop apple alerts")
    assert "apple" not in await chat.send(EN, "my alerts")
    assert "no more alerts" in await chat.send(EN, "unsubscribe")
    await chat.send(COORDINATOR, "broadcast: market closed tomorrow")
    assert "No subscriber would get it" in await chat.send(
        COORDINATOR, "broadcast: market closed tomorrow"
    )
    assert "alerts are on again" in await chat.send(EN, "START")
    assert "Send to 1 subscriber (" in await chat.send(
        COORDINATOR, "broadcast: market closed tomorrow"
    )


async def test_unsubscribing_mid_broadcast_stops_what_was_not_yet_sent(chat):
    await subscribers(chat)
    await chat.send(COORDINATOR, "broadcast: market closed tomorrow")
    await chat.send(COORDINATOR, "yes")
    svc = chat.svc
    dispatcher = Dispatcher(svc.outbound)
    await dispatcher.start_queued()  # recipients resolved, nothing sent yet
    await chat.send(EN, "unsubscribe")  # opted out
    await chat.send(ZH, "退订苹果")  # the announcement is not about apples: still sent
    await dispatcher.drain(timeout=60)
    got = {to for _, to, _ in chat.sender.sent}
    assert EN not in got and ZH in got
    async with svc.db.uow() as uow:
        [bc] = (await uow.session.execute(select(Broadcast))).scalars()
        assert bc.summary == {"sent": 6, "failed": 0, "skipped": 1}


async def test_the_daily_digest_goes_to_daily_subscribers_once_a_day(chat):
    await chat.send(EN, "daily apple prices")
    await chat.send(ZH, "每天发苹果价格")
    await chat.send(HIGH, "subscribe apple prices")  # instant: no digest
    await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg Wudu")
    await chat.send(
        COORDINATOR, "yes"
    )  # published (and sent at once to HIGH, an instant subscriber)
    svc = chat.svc
    scheduler = Scheduler(svc.db, svc.settings, svc.catalog)
    assert await scheduler.digest() == 1
    assert await scheduler.digest() == 0  # the same day again: the key exists, nothing doubles
    await send_all(chat)
    [english], [chinese] = chat.pushes_to(EN), chat.pushes_to(ZH)
    assert english.startswith("Apple today: Wudu market ¥2.10/jin") and segments(english) == 1
    assert chinese.startswith("今日苹果：武都收购价¥2.10/斤") and segments(chinese) == 1
    assert not any(text.startswith("Apple today") for text in chat.pushes_to(HIGH))  # no digest


async def test_a_scheduled_broadcast_fires_once(chat):
    await chat.send(EN, "subscribe apple prices")
    svc = chat.svc
    async with svc.db.uow() as uow:
        bc = broadcast.new_announcement("Market day moved to Friday", utcnow(), None)
        uow.session.add(bc)
        await broadcast.queue(uow, bc, send_at=utcnow() + timedelta(hours=1))
        await uow.commit()
    scheduler = Scheduler(svc.db, svc.settings, svc.catalog)
    assert not await scheduler.fire(bc.id)  # not due yet
    async with svc.db.uow() as uow:
        (await uow.session.get(Broadcast, bc.id)).send_at = utcnow() - timedelta(seconds=1)
        await uow.commit()
    assert await scheduler.fire(bc.id)
    assert not await scheduler.fire(
        bc.id
    )  # a second timer (restart, second process) finds it gone
    await send_all(chat)
    await send_all(chat)
    assert chat.pushes_to(EN) == ["Market day moved to Friday"]
    async with svc.db.uow() as uow:
        rows = list((await uow.session.execute(select(Outbox))).scalars())
    assert [(r.broadcast_id, r.status) for r in rows] == [(bc.id, "sent")]
