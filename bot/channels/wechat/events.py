"""What farmchat does with each WeChat message type and event (CHANNELS.md A2)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from bot.channels.wechat.payload import Push
from handlers.messages import InboundMessage
from handlers.settings import default_lang
from storage import delivery
from storage import wechat as store
from storage.models import User

log = logging.getLogger(__name__)
CHANNEL = "wechat"

# Menu button key -> what a user would type for it, per language. Typing it goes through the
# same NLU and handlers as any message, so a button never behaves differently from the words.
MENU_TEXT = {
    "SELL": {"zh": "我要卖", "en": "sell"},
    "BUY": {"zh": "我要买", "en": "buy"},
    "PRICES": {"zh": "多少钱", "en": "price"},
    "MY_LISTINGS": {"zh": "我的货", "en": "my listings"},
    "MY_ORDERS": {"zh": "我的订单", "en": "my orders"},
    "HELP": {"zh": "帮助", "en": "help"},
}

TEXTS = {
    "welcome": {
        "zh": "欢迎关注！我帮您买卖农产品。\n"
        "发送：卖50斤苹果3块一斤；买20斤苹果；苹果多少钱；我的货；我的订单。\n"
        "也可以点下面的菜单，或发送位置告诉我您在哪里。",
        "en": "Welcome! I help you sell and buy farm produce.\n"
        "Send: sell 50kg apples at 3/kg; buy 20kg apples; apple price?; my listings; my orders.\n"
        "Or use the menu below, or share your location.",
    },
    "voice_unrecognized": {
        "zh": "抱歉，听不清语音，请打字发送，例如：卖50斤苹果3块一斤",
        "en": "Sorry, I can't understand voice messages. "
        "Please type, e.g. 'sell 50kg apples at 3/kg'.",
    },
    "unsupported": {
        "zh": "收到了，谢谢！不过我只能看懂文字，请打字发送，例如：买20斤苹果",
        "en": "Thanks! I can only read text, though. Please type, e.g. 'buy 20kg apples'.",
    },
    "place_set": {"zh": "已保存：地点{place}。", "en": "Saved: place {place}."},
    "place_unknown": {
        "zh": "抱歉，附近没有我知道的地点。请发送地名，例如：我在武都",
        "en": "Sorry, I don't know a place near there. Send its name, e.g. 'I am in Wudu'.",
    },
    "place_unreadable": {
        "zh": "抱歉，读不出这个位置。请发送地名，例如：我在武都",
        "en": "Sorry, I couldn't read that location. Send the place's name, e.g. 'I am in Wudu'.",
    },
}
MESSAGE_KINDS = {"text", "voice", "image", "video", "shortvideo", "location", "link", "file"}
MAX_PLACE_KM = 100.0  # farther than this from every known place: ask for the name instead


def say(key: str, lang: str, **values) -> str:
    entry = TEXTS[key]
    return entry.get(lang, entry["en"]).format(**values)


def coordinates(fields: dict[str, str], lat: str, lon: str) -> tuple[float, float] | None:
    """(lat, lon) of a location's fields; None unless both are finite numbers on the globe
    (a client can send NaN, inf or 1e999, which math's functions refuse)."""
    try:
        point = (float(fields[lat]), float(fields[lon]))
    except (KeyError, ValueError):
        return None
    if not all(map(math.isfinite, point)) or abs(point[0]) > 90 or abs(point[1]) > 180:
        return None
    return point


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def nearest_place(catalog, point: tuple[float, float]) -> str | None:
    """The gazetteer key nearest to point, if one is within MAX_PLACE_KM."""
    known = [(distance_km(point, p.coords), key) for key, p in catalog.places.items() if p.coords]
    best = min(known, default=None)
    return best[1] if best and best[0] <= MAX_PLACE_KM else None


class WeChatDispatcher:
    """Push → the reply text (None: nothing to say), through the gateway like any channel."""

    def __init__(self, svc):
        self.svc = svc
        self.default_lang = default_lang(svc.settings)

    def inbound(self, push: Push, text: str) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            sender=push.openid,
            text=text,
            message_id=push.message_id,
            received_at=datetime.fromtimestamp(push.create_time, UTC),
        )

    async def dispatch(self, push: Push) -> str | None:
        if push.kind in MESSAGE_KINDS:
            await self.touch(push.openid)
            return await self.message(push)
        if push.kind == "event":
            return await self.event(push)
        return await self.unsupported(push)

    async def message(self, push: Push) -> str | None:
        gateway, fields = self.svc.gateway, push.fields
        if push.kind == "text":
            return await gateway.handle(self.inbound(push, fields.get("Content", "")))
        if push.kind == "voice":
            heard = fields.get("Recognition", "").strip()
            if heard:  # WeChat's speech recognition, when the account has it on
                return await gateway.handle(self.inbound(push, heard))
            return say("voice_unrecognized", await self.lang_of(push.openid))
        if push.kind == "location":
            return await self.location(push)
        return await self.unsupported(push)

    async def unsupported(self, push: Push) -> str:
        return say("unsupported", await self.lang_of(push.openid))

    async def location(self, push: Push) -> str:
        point = coordinates(push.fields, "Location_X", "Location_Y")
        place = nearest_place(self.svc.catalog, point) if point else None
        label = push.fields.get("Label", "") or (
            f"{point[0]:.4f},{point[1]:.4f}" if point else "location"
        )

        def set_place(user: User, lang: str) -> str:
            if point is None:
                return say("place_unreadable", lang)
            if place is None:
                return say("place_unknown", lang)
            user.place = place
            return say("place_set", lang, place=self.svc.catalog.place_name(place, lang))

        return await self.svc.gateway.apply(self.inbound(push, label), "set_profile", set_place)

    async def event(self, push: Push) -> str | None:
        gateway, event = self.svc.gateway, push.event
        if event in ("subscribe", "click", "scan"):
            await self.touch(push.openid, event=True)
        if event == "subscribe":
            await gateway.record_consent(self.inbound(push, "subscribe"), opted_out=False)
            return say("welcome", await self.lang_of(push.openid))
        if event == "unsubscribe":  # like SMS STOP: no more broadcasts (CHANNELS.md A2)
            await gateway.record_consent(self.inbound(push, "unsubscribe"), opted_out=True)
            return None
        if event == "click":
            words = MENU_TEXT.get(push.event_key.upper(), MENU_TEXT["HELP"])
            lang = await self.lang_of(push.openid)
            return await gateway.handle(self.inbound(push, words.get(lang, words["en"])))
        if event == "templatesendjobfinish":
            await self.template_finished(push)
        return None

    async def template_finished(self, push: Push) -> None:
        """A template message's delivery result: record it on its outbox row."""
        msg_id, status = push.fields.get("MsgID", ""), push.fields.get("Status", "")
        state = "delivered" if status == "success" else "failed"
        async with self.svc.db.uow() as uow:
            await delivery.record_result(uow, CHANNEL, msg_id, state)
            await uow.commit()

    async def lang_of(self, openid: str) -> str:
        async with self.svc.db.uow() as uow:
            user = await uow.users.by_address(CHANNEL, openid)
        return (user.language if user else "") or self.default_lang

    async def touch(self, openid: str, event: bool = False) -> None:
        """Remember when the user last wrote (event: clicked, followed, scanned): it opens
        customer service."""
        async with self.svc.db.uow() as uow:
            await store.touch_contact(uow, openid, datetime.now(UTC), event)
            await uow.commit()
