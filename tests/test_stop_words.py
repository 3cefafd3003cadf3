"""One list of stop and start words (nlu/keywords.py); each reader keeps exactly its words."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.channels.twilio import webhook
from bot.outbound.sender import RecordingSender
from handlers import alerts
from nlu import keywords
from tests.conftest import make_settings
from tests.test_twilio_webhook import TWILIO_ENV, inbound, post

# The words each reader answered to before they shared one list.
TWILIO_OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
TWILIO_OPT_IN = {"START", "UNSTOP"}
ALERTS_OPT_OUT = {
    "退订",
    "td",
    "stop",
    "unsubscribe",
    "stopall",
    "end",
    "quit",
    "取消订阅",
    "退订全部",
}
NLU_LONE_WORDS = {
    "stop": "unsubscribe",
    "stopall": "unsubscribe",
    "unsubscribe": "unsubscribe",
    "unsub": "unsubscribe",
    "td": "unsubscribe",
    "退订": "unsubscribe",
    "start": "subscribe",
    "unstop": "subscribe",
}


def test_each_reader_keeps_its_words():
    assert webhook.OPT_OUT == TWILIO_OPT_OUT and webhook.OPT_IN == TWILIO_OPT_IN
    assert alerts.OPT_OUT == ALERTS_OPT_OUT
    assert keywords.INTENT_OF_LONE_WORD == NLU_LONE_WORDS


def test_the_carrier_words_and_the_bots_differ_on_purpose():
    """Twilio's extra words are its own (cancel drops a question in a chat); 退订 is China's."""
    carrier_only = keywords.CARRIER_OPT_OUT - keywords.OPT_OUT_ALL
    bot_only = keywords.OPT_OUT_ALL - keywords.CARRIER_OPT_OUT
    assert carrier_only == {"cancel", "revoke", "optout"}
    assert bot_only == {"退订", "td", "取消订阅", "退订全部"}
    assert keywords.START <= alerts.RESUME


@pytest.mark.parametrize(
    "text", ["stop", "STOP", "Stop!", "unsub", "TD", "退订", "start", "UNSTOP"]
)
def test_the_nlu_gives_a_lone_word_its_intent(real_nlu, text):
    expected = NLU_LONE_WORDS[text.lower().strip("!")]
    assert real_nlu.parse(text)["intent"]["name"] == expected


async def test_a_lone_stop_word_ends_alerts_and_broadcasts(chat):
    """Read as unsubscribe, a stop word opts the user out; "unsub" ends only the alerts."""
    outcomes = {}
    for n, word in enumerate(
        ["stop", "stopall", "unsubscribe", "td", "退订", "end", "取消订阅", "退订全部"]
    ):
        user = f"+2547100000{n:02d}"
        await chat.send(user, "subscribe apple prices")
        await chat.send(user, word)
        outcomes[word] = await _opted_out(chat, user)
    assert all(outcomes.values()), outcomes
    await chat.send("+254710000099", "subscribe apple prices")
    assert "Unsubscribed from all price alerts" in await chat.send("+254710000099", "unsub")
    assert await _opted_out(chat, "+254710000099") is False


async def _opted_out(chat, address: str) -> bool:
    async with chat.svc.db.uow() as uow:
        return (await uow.users.by_address("console", address)).opted_out


@pytest.fixture
async def client(db_url, nlu_cache, real_nlu):
    app = create_app(
        make_settings(db_url, nlu_cache, **TWILIO_ENV), sender=RecordingSender(), nlu=real_nlu
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_every_carrier_keyword_records_consent_silently_on_sms(client):
    words = [(w, True) for w in sorted(TWILIO_OPT_OUT)] + [(w, False) for w in TWILIO_OPT_IN]
    for n, (word, opted_out) in enumerate(words):
        sender, text = f"+86138000001{n:02d}", f" {word.lower() if n % 2 else word} "
        status, body = await post(client, inbound(text, f"SM{n:032d}", sender=sender))
        assert status == 200 and "<Message>" not in body, word
        async with client.app[SERVICES].db.uow() as uow:
            user = await uow.users.by_address("sms", sender)
        assert user.opted_out is opted_out, word
