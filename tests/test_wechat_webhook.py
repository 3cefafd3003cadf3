"""/webhooks/wechat as WeChat uses it: verified, encrypted, once per message, never a 500."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import struct
import time
from datetime import UTC
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wechat.crypto import aes_key, sign
from bot.channels.wechat.payload import parse, render
from storage.models import InboundLog, Listing, User
from tests.wechat_rig import ACCOUNT, APP_ID, KEY, OLD_KEY, TOKEN, open_rig

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


@pytest.fixture
async def rig(db_url, nlu_cache, real_nlu):
    async with open_rig(db_url, nlu_cache, real_nlu) as rig:
        yield rig


def signed_query(**extra) -> dict:
    timestamp, nonce = str(int(time.time())), "1320562132"
    return {
        "signature": sign(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


async def post(rig, query: dict, body: bytes | str):
    async with rig.session.post(
        rig.url + "/webhooks/wechat?" + urlencode(query),
        data=body if isinstance(body, bytes) else body.encode(),
    ) as resp:
        return resp.status, await resp.text()


async def nothing_changed(rig) -> bool:
    return (await rig.count(User), await rig.count(InboundLog), await rig.count(Listing)) == (
        0,
        0,
        0,
    )


# verification and the passive reply ------------------------------------------------------
async def test_the_verification_get_echoes_echostr(rig):
    query = signed_query(echostr="5927782489442352469")
    async with rig.session.get(rig.url + "/webhooks/wechat", params=query) as resp:
        assert (resp.status, await resp.text()) == (200, "5927782489442352469")
    async with rig.session.get(
        rig.url + "/webhooks/wechat", params={**query, "nonce": "1"}
    ) as resp:
        assert resp.status == 403
    async with rig.session.get(rig.url + "/webhooks/wechat") as resp:
        assert resp.status == 403


async def test_a_message_encrypted_by_wechatpy_gets_an_encrypted_chinese_reply(rig):
    from wechatpy.crypto import WeChatCrypto

    wx = WeChatCrypto(TOKEN, KEY, APP_ID)
    inner = render(
        [
            ("ToUserName", ACCOUNT),
            ("FromUserName", OPENID),
            ("CreateTime", int(time.time())),
            ("MsgType", "text"),
            ("Content", "卖50斤苹果 三块五一斤"),
            ("MsgId", 6054768590064713728),
        ]
    )
    timestamp, nonce = str(int(time.time())), "461056294"
    envelope = parse(wx.encrypt_message(inner, nonce, timestamp))
    query = {
        "signature": sign(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": OPENID,
        "encrypt_type": "aes",
        "msg_signature": envelope["MsgSignature"],
    }
    status, body = await post(
        rig, query, render([("ToUserName", ACCOUNT), ("Encrypt", envelope["Encrypt"])])
    )
    assert status == 200
    outer = parse(body)
    reply = parse(
        wx.decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    )
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (
        OPENID,
        ACCOUNT,
        "text",
    )
    assert reply["Content"].startswith("已发布") and "¥3.50/斤" in reply["Content"]
    assert await rig.count(Listing) == 1


@pytest.mark.parametrize("mode", ["plaintext", "compatible"])
async def test_plaintext_and_compatible_modes(db_url, nlu_cache, real_nlu, mode):
    async with open_rig(db_url, nlu_cache, real_nlu, mode=mode) as rig:
        delivery = await rig.pusher.push(rig.session, rig.pusher.text(OPENID, "apple price?"))
        assert delivery.status == 200 and "apple" in delivery.reply["Content"].lower()
        assert ("<Encrypt>" in delivery.body) == (mode == "compatible")


async def test_the_previous_key_still_works_and_the_reply_uses_it(rig):
    old = rig.make_pusher(key=OLD_KEY)
    delivery = await old.push(rig.session, old.text(OPENID, "帮助"))
    assert "我的订单" in delivery.reply["Content"]  # old.open_reply decrypted it with the old key


async def test_a_cdata_terminator_in_user_text_arrives_whole(rig):
    hostile = "我叫]]><MsgType>image</MsgType>"
    reply = await rig.say(OPENID, hostile, msg_id=77)
    assert reply  # a well-formed text reply (the reply side is covered in test_wechat_crypto)
    async with rig.svc.db.uow() as uow:
        assert (await uow.inbound.find("wechat", "77")).text == hostile


# forged and malformed --------------------------------------------------------------------
def raw_encrypt(plain: bytes) -> str:
    key = aes_key(KEY)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def encrypted_request(encrypt: str) -> tuple[dict, str]:
    query = signed_query(encrypt_type="aes", openid=OPENID)
    query["msg_signature"] = sign(TOKEN, query["timestamp"], query["nonce"], encrypt)
    return query, render([("ToUserName", ACCOUNT), ("Encrypt", encrypt)])


def message_xml(text: str = "sell 50kg apples at 3/kg") -> str:
    return render(
        [
            ("ToUserName", ACCOUNT),
            ("FromUserName", OPENID),
            ("CreateTime", 1700000000),
            ("MsgType", "text"),
            ("Content", text),
            ("MsgId", 42),
        ]
    )


def bad_padding() -> tuple[dict, str]:
    body = message_xml().encode()
    plain = b"r" * 16 + struct.pack(">I", len(body)) + body + APP_ID.encode()
    return encrypted_request(raw_encrypt(plain + b"\x00" * (32 - len(plain) % 32)))


def wrong_app_id() -> tuple[dict, str]:
    from bot.channels.wechat.crypto import seal

    return encrypted_request(seal(aes_key(KEY), "wx0000000000000000", message_xml()))


def forged(**change) -> tuple[dict, str]:
    from bot.channels.wechat.crypto import seal

    query, body = encrypted_request(seal(aes_key(KEY), APP_ID, message_xml()))
    return {**query, **change}, body


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<xml><ToUserName>gh</ToUserName><Encrypt>&c;</Encrypt></xml>"
)


@pytest.mark.parametrize(
    "make, status",
    [
        (lambda: forged(signature="0" * 40), 403),
        (lambda: forged(msg_signature="0" * 40), 403),
        (
            lambda: (
                {k: v for k, v in forged()[0].items() if k != "signature"}
                and ({k: v for k, v in forged()[0].items() if k != "msg_signature"}, forged()[1])
            ),
            403,
        ),
        (wrong_app_id, 403),
        (bad_padding, 400),
        (lambda: (signed_query(encrypt_type="aes", msg_signature="x"), BOMB), 400),
        (
            lambda: (signed_query(), message_xml()),
            400,
        ),  # plaintext while in safe mode: body unsigned
        (lambda: encrypted_request("bm90IGJsb2Nrcw=="), 400),
        (
            lambda: (signed_query(encrypt_type="aes"), "<xml><ToUserName>gh</ToUserName></xml>"),
            400,
        ),
    ],
    ids=[
        "signature",
        "msg_signature",
        "no msg_signature",
        "appid",
        "padding",
        "xml bomb",
        "plaintext",
        "not blocks",
        "no Encrypt",
    ],
)
async def test_forged_and_malformed_pushes_get_4xx_and_change_nothing(rig, make, status):
    query, body = make()
    assert (await post(rig, query, body))[0] == status
    assert await nothing_changed(rig)


async def test_a_10_mb_body_gets_413(rig):
    query, _ = forged()
    assert (await post(rig, query, b"<xml>" + b"x" * 10_000_000 + b"</xml>"))[0] == 413
    assert await nothing_changed(rig)


async def test_an_encrypted_message_missing_its_fields_gets_400(rig):
    from bot.channels.wechat.crypto import seal

    query, body = encrypted_request(
        seal(aes_key(KEY), APP_ID, "<xml><MsgType>text</MsgType></xml>")
    )
    assert (await post(rig, query, body))[0] == 400
    assert await nothing_changed(rig)


# once per message --------------------------------------------------------------------------
async def test_the_same_push_three_times_at_once_has_one_effect_and_one_answer(rig):
    query, body = forged()
    results = await asyncio.gather(*(post(rig, query, body) for _ in range(3)))
    results.append(await post(rig, query, body))  # a late retry
    replies = {rig.pusher.open_reply(b)["Content"] for _, b in results}
    assert {s for s, _ in results} == {200} and len(replies) == 1 and "Listing" in replies.pop()
    assert await rig.count(Listing) == 1 and await rig.count(InboundLog) == 1


def hold_database(db_url: str) -> sqlite3.Connection:
    """Another process's long write transaction: farmchat's writes wait for it."""
    conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


async def test_a_slow_reply_is_answered_success_then_sent_by_customer_service(
    sqlite_url, nlu_cache, real_nlu
):
    async with open_rig(sqlite_url, nlu_cache, real_nlu, budget=0.5) as rig:
        await rig.say(OPENID, "hello")  # the user exists and the 48-hour window is open
        held = hold_database(sqlite_url)
        started = time.monotonic()
        pending = asyncio.create_task(
            rig.pusher.push(rig.session, rig.pusher.text(OPENID, "卖50斤苹果3块一斤"))
        )
        await asyncio.sleep(1.5)
        held.execute("COMMIT")
        delivery = await pending
        assert (
            delivery.statuses == [200]
            and delivery.body == "success"
            and time.monotonic() - started < 1.6
        )
        [row] = await rig.settled(lambda rows: rows and rows[0].status == "sent", "sent")
        assert row.kind == "reply" and row.channel == "wechat"
        [sent] = rig.fake.custom
        assert sent["touser"] == OPENID and sent["text"]["content"].startswith("已发布")
        assert await rig.count(Listing) == 1


async def test_a_retry_while_the_first_is_in_flight_waits_for_it(sqlite_url, nlu_cache, real_nlu):
    async with open_rig(sqlite_url, nlu_cache, real_nlu, budget=3.0) as rig:
        await rig.say(OPENID, "hello")
        pusher = rig.make_pusher(timeout=0.5)  # WeChat's 5 s, scaled down with the budget
        held = hold_database(sqlite_url)
        pending = asyncio.create_task(
            pusher.push(rig.session, pusher.text(OPENID, "sell 50kg apples at 3/kg"))
        )
        await asyncio.sleep(1.2)  # deliveries at 0, 0.5 and 1.0 s; the first two give up
        held.execute("COMMIT")
        delivery = await pending
        assert delivery.statuses == [None, None, 200]
        assert "Listing" in delivery.reply["Content"]
        assert await rig.count(Listing) == 1 and rig.fake.custom == []


@pytest.mark.parametrize("push_first", [False, True])
async def test_a_redelivery_to_another_process_and_the_customer_service_copy_never_both_arrive(
    sqlite_url, nlu_cache, real_nlu, push_first
):
    """Two farmchat processes on one database (server.workers: 2). The first delivery reaches A,
    which is slow: WeChat gives up on it and redelivers to B. A, past its budget, would send
    the reply by customer service while B answers the redelivery passively: the user must read
    the reply once, whichever way."""
    async with (
        open_rig(sqlite_url, nlu_cache, real_nlu, budget=0.5) as a,
        open_rig(sqlite_url, nlu_cache, real_nlu, budget=4.0, fake=a.fake) as b,
    ):
        await a.say(OPENID, "hello")  # the user exists and the 48-hour window is open
        fields = a.pusher.text(OPENID, "卖50斤苹果3块一斤", msg_id=4242)
        first, retry = (
            a.make_pusher(timeout=0.3, deliveries=1),
            b.make_pusher(timeout=5.0, deliveries=1),
        )
        held = hold_database(sqlite_url)  # A's work waits: WeChat hears nothing in time
        assert (await first.push(a.session, fields)).statuses == [None]
        if push_first:  # A finishes and sends by customer service before the redelivery comes
            await asyncio.sleep(0.3)
            held.execute("COMMIT")
            await a.settled(
                lambda rows: any(r.kind == "reply" and r.status == "sent" for r in rows), "pushed"
            )
            delivery = await retry.push(b.session, fields)
            assert delivery.statuses == [200] and delivery.body == "success"
        else:  # the redelivery reaches B while A is still at work: the two race to deliver
            redelivered = asyncio.create_task(retry.push(b.session, fields))
            await asyncio.sleep(0.8)  # A's budget is over: A has answered `success` into the void
            held.execute("COMMIT")
            delivery = await redelivered
            assert delivery.statuses == [200]
        await asyncio.sleep(1.0)  # time for a customer-service copy, if one were coming
        passive = [delivery.reply["Content"]] if delivery.reply else []
        read = passive + a.fake.texts_to(OPENID)  # "hello" was answered passively, not in here
        assert len(read) == 1 and read[0].startswith("已发布"), read
        assert await a.count(Listing) == 1 and await a.count(InboundLog) == 2


# message types and events ------------------------------------------------------------------
async def push(rig, fields, expect_reply: bool = True):
    return await rig.push(fields, expect_reply)


async def test_subscribe_welcomes_in_chinese_and_unsubscribe_opts_out(rig):
    welcome = await push(rig, rig.pusher.event(OPENID, "subscribe"))
    assert welcome.startswith("欢迎关注") and (await rig.user("wechat", OPENID)).opted_out is False
    assert await push(rig, rig.pusher.event(OPENID, "unsubscribe"), expect_reply=False) is None
    assert (await rig.user("wechat", OPENID)).opted_out is True
    await push(rig, rig.pusher.event(OPENID, "subscribe", "qrscene_123", Ticket="t"))
    assert (await rig.user("wechat", OPENID)).opted_out is False


@pytest.mark.parametrize(
    "key, typed",
    [
        ("SELL", "我要卖"),
        ("BUY", "我要买"),
        ("PRICES", "多少钱"),
        ("MY_LISTINGS", "我的货"),
        ("MY_ORDERS", "我的订单"),
        ("HELP", "帮助"),
        ("UNKNOWN_KEY", "帮助"),
    ],
)
async def test_menu_clicks_do_what_typing_does(rig, key, typed):
    clicked = await push(rig, rig.pusher.event(OPENID, "CLICK", key))
    assert clicked and clicked == await rig.say("oAnotherUser000000000000001", typed)


async def test_a_location_sets_the_nearest_place(rig):
    fields = rig.pusher.message(
        OPENID,
        "location",
        Location_X="33.388",
        Location_Y="104.935",
        Scale=15,
        Label="武都区钟楼滩",
        MsgId=7,
    )
    assert await push(rig, fields) == "已保存：地点武都。"
    assert (await rig.user("wechat", OPENID)).place == "wudu"
    far = rig.pusher.message(
        OPENID, "location", Location_X="48.85", Location_Y="2.35", Scale=15, Label="Paris", MsgId=8
    )
    assert "附近没有" in await push(rig, far)
    assert (await rig.user("wechat", OPENID)).place == "wudu"


async def test_voice_with_recognition_is_text_and_other_media_get_a_polite_answer(rig):
    heard = rig.pusher.message(
        OPENID, "voice", MediaId="m", Format="amr", Recognition="我要买20斤苹果", MsgId=9
    )
    assert "苹果" in await push(rig, heard)
    silent = rig.pusher.message(
        OPENID, "voice", MediaId="m", Format="amr", Recognition="", MsgId=10
    )
    assert "请打字" in await push(rig, silent)
    image = rig.pusher.message(OPENID, "image", PicUrl="http://x/y.jpg", MediaId="m2", MsgId=11)
    assert "只能看懂文字" in await push(rig, image)
    assert (
        await push(
            rig, rig.pusher.event(OPENID, "VIEW", "https://example.org"), expect_reply=False
        )
        is None
    )


async def test_when_wechat_gives_up_on_every_delivery_the_reply_is_pushed_once(
    sqlite_url, nlu_cache, real_nlu
):
    async with open_rig(sqlite_url, nlu_cache, real_nlu, budget=3.0) as rig:
        await rig.say(OPENID, "hello")
        pusher = rig.make_pusher(timeout=0.3)
        held = hold_database(sqlite_url)
        delivery = await pusher.push(rig.session, pusher.text(OPENID, "sell 50kg apples at 3/kg"))
        held.execute("COMMIT")
        assert delivery.statuses == [None, None, None]
        await rig.settled(lambda rows: rows and rows[0].status == "sent", "sent")
        [sent] = rig.fake.custom
        assert "Listing" in sent["text"]["content"] and await rig.count(Listing) == 1


def test_openids_in_logged_urls_are_masked():
    import logging

    from bot.logs import MaskPhones

    record = logging.LogRecord(
        "aiohttp.access",
        logging.INFO,
        __file__,
        1,
        '"POST /webhooks/wechat?openid=%s&encrypt_type=aes"',
        (OPENID,),
        None,
    )
    MaskPhones().filter(record)
    assert OPENID not in record.getMessage() and "openid=oyOR" in record.getMessage()


async def test_a_template_delivery_report_updates_its_outbox_row(rig):
    from datetime import datetime

    from storage.models import Outbox

    await rig.say(OPENID, "hello")
    user = await rig.user("wechat", OPENID)
    async with rig.svc.db.uow() as uow:
        await uow.outbox.add(
            Outbox(
                user_id=user.id,
                channel="wechat",
                address=OPENID,
                text="x",
                kind="notification",
                status="sent",
                attempts=1,
                provider_sid="200163836",
                created_at=datetime.now(UTC),
            )
        )
        await uow.commit()
    report = rig.pusher.event(
        OPENID, "TEMPLATESENDJOBFINISH", MsgID=200163836, Status="failed:user block"
    )
    assert await push(rig, report, expect_reply=False) is None
    [row] = await rig.outbox()
    assert row.provider_status == "failed"


async def test_a_slow_menu_click_is_answered_by_customer_service_within_its_minute(
    sqlite_url, nlu_cache, real_nlu
):
    async with open_rig(sqlite_url, nlu_cache, real_nlu, budget=0.3) as rig:
        held = hold_database(sqlite_url)  # a user who never wrote: only the click opens the window
        pending = asyncio.create_task(
            rig.pusher.push(rig.session, rig.pusher.event(OPENID, "CLICK", "MY_ORDERS"))
        )
        await asyncio.sleep(1.0)
        held.execute("COMMIT")
        assert (await pending).body == "success"
        [row] = await rig.settled(lambda rows: rows and rows[0].status != "pending", "sent")
        assert row.status == "sent" and rig.fake.templates == []
        assert rig.fake.custom[0]["touser"] == OPENID
