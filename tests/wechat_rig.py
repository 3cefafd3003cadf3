"""farmchat serving /webhooks/wechat on loopback.

Alongside it run the fake WeChat API and a pusher acting as WeChat.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import SERVICES, create_app
from bot.fakes.wechat import FakeWeChat, WeChatPusher
from storage.models import Outbox
from tests.conftest import make_settings

TOKEN, APP_ID, SECRET = "farmchatToken2026", "wx1234567890abcdef", "test-app-secret"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OLD_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
ACCOUNT = "gh_10f6c3c3ac5a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wechat_env(fake_url: str, mode: str = "safe", budget: float = 4.0, **extra) -> dict:
    return {
        "FARMCHAT_WECHAT__TOKEN": TOKEN,
        "FARMCHAT_WECHAT__APP_ID": APP_ID,
        "FARMCHAT_WECHAT__APP_SECRET": SECRET,
        "FARMCHAT_WECHAT__ENCODING_AES_KEY": KEY,
        "FARMCHAT_WECHAT__PREVIOUS_ENCODING_AES_KEY": OLD_KEY,
        "FARMCHAT_WECHAT__MODE": mode,
        "FARMCHAT_WECHAT__API_BASE": fake_url,
        "FARMCHAT_WECHAT__TIMEOUT_SECONDS": "2",
        "FARMCHAT_WECHAT__REPLY_BUDGET_SECONDS": str(budget),
        **extra,
    }


class WeChatRig:
    def __init__(self, app, fake: FakeWeChat, url: str, session: aiohttp.ClientSession, mode: str):
        self.app, self.fake, self.url, self.session, self.mode = app, fake, url, session, mode
        self.pusher = self.make_pusher()

    @property
    def svc(self):
        return self.app[SERVICES]

    def make_pusher(self, key: str = KEY, **kw) -> WeChatPusher:
        return WeChatPusher(
            self.url + "/webhooks/wechat",
            TOKEN,
            APP_ID,
            key,
            kw.pop("mode", self.mode),
            account=ACCOUNT,
            **kw,
        )

    async def say(self, openid: str, text: str, msg_id: int | None = None) -> str:
        """Text as a WeChat user; what the user reads in reply."""
        reply = await self.push(self.pusher.text(openid, text, msg_id))
        assert reply is not None
        return reply

    async def push(self, fields, expect_reply: bool = True) -> str | None:
        """Push as WeChat; the passive reply or, after `success` (a slow reply), the
        customer-service message that follows it."""
        openid = dict(fields)["FromUserName"]
        before = len(self.fake.texts_to(openid))
        delivery = await self.pusher.push(self.session, fields)
        assert delivery.status == 200, delivery.body
        if delivery.reply or not expect_reply:
            return delivery.reply["Content"] if delivery.reply else None
        for _ in range(200):
            sent = self.fake.texts_to(openid)
            if len(sent) > before:
                return sent[before]
            await asyncio.sleep(0.05)
        return ""

    async def count(self, model) -> int:
        async with self.svc.db.uow() as uow:
            return (
                await uow.session.execute(select(func.count()).select_from(model))
            ).scalar_one()

    async def user(self, channel: str, address: str):
        async with self.svc.db.uow() as uow:
            return await uow.users.by_address(channel, address)

    async def outbox(self) -> list[Outbox]:
        async with self.svc.db.uow() as uow:
            return list((await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars())

    async def settled(self, predicate, what: str, tries: int = 100):
        for _ in range(tries):
            rows = await self.outbox()
            if predicate(rows):
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"never {what}: {[(r.kind, r.status, r.error_code, r.error) for r in rows]}"
        )


@contextlib.asynccontextmanager
async def open_rig(
    db_url: str,
    nlu_cache: str,
    nlu,
    mode: str = "safe",
    budget: float = 4.0,
    fake: FakeWeChat | None = None,
    **env,
):
    async with contextlib.AsyncExitStack() as stack:
        if fake is None:
            fake = await stack.enter_async_context(FakeWeChat(APP_ID, SECRET))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        port = free_port()
        settings = make_settings(db_url, nlu_cache, **wechat_env(fake.url, mode, budget), **env)
        app = create_app(settings, nlu=nlu, background=False)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        stack.push_async_callback(server.close)
        yield WeChatRig(app, fake, f"http://127.0.0.1:{port}", session, mode)
