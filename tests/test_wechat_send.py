"""Outbound WeChat against the fake.

One shared token, refresh once, 48-hour window, template, quotas.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.bootstrap import open_database
from bot.channels.wechat.send import DEFAULT_MENU, WeChatSender
from bot.config import ConfigError, load_settings
from bot.fakes.wechat import FakeWeChat
from bot.outbound.sender import SendError
from storage.models import WeChatContact, WeChatToken
from tests.conftest import make_settings, run_farmchat
from tests.wechat_rig import APP_ID, SECRET, wechat_env

USER = "oUserInWindow00000000000001"
ROOT = Path(__file__).resolve().parent.parent


class Procs:
    """Two farmchat 'processes': each its own database engine and sender, one SQLite file."""

    def __init__(self, fake, senders, dbs):
        self.fake, self.senders, self.dbs = fake, senders, dbs

    async def open_window(self, openid: str, ago: timedelta = timedelta(minutes=1)) -> None:
        async with self.dbs[0].uow() as uow:
            uow.session.add(WeChatContact(openid=openid, last_message_at=datetime.now(UTC) - ago))
            await uow.commit()

    async def stored_token(self) -> str | None:
        async with self.dbs[0].uow() as uow:
            row = await uow.session.get(WeChatToken, APP_ID)
            return row.access_token if row else None


@pytest.fixture
async def procs(sqlite_url, nlu_cache):
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeWeChat(APP_ID, SECRET))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        settings = make_settings(
            sqlite_url,
            nlu_cache,
            **wechat_env(fake.url),
            FARMCHAT_WECHAT__TEMPLATE__ID="TPL1",
            FARMCHAT_WECHAT__TEMPLATE__FIELDS='{"first": "{text}", "keyword1": "{time}"}',
        )
        senders, dbs = [], []
        for _ in range(2):
            db = await open_database(settings)
            stack.push_async_callback(db.close)
            senders.append(WeChatSender(settings.wechat, session, "Asia/Shanghai", db))
            dbs.append(db)
        yield Procs(fake, senders, dbs)


async def test_one_token_is_fetched_and_shared_by_every_process(procs):
    await procs.open_window(USER)
    a, b = procs.senders
    await asyncio.gather(
        *(s.send("wechat", USER, f"hi {n}") for n, s in enumerate([a, b, a, b, a]))
    )
    assert len(procs.fake.token_requests) == 1
    assert await procs.stored_token() == procs.fake.current_token
    assert len(procs.fake.custom) == 5 and procs.fake.templates == []


async def test_an_expired_token_is_refreshed_once_and_the_send_retried_once(procs):
    await procs.open_window(USER)
    a, b = procs.senders
    await a.send("wechat", USER, "one")
    await b.send("wechat", USER, "two")  # b holds the same token in memory
    old = procs.fake.current_token
    procs.fake.expire_tokens()
    await a.send("wechat", USER, "three")
    await b.send("wechat", USER, "four")  # its token fails too, but a already stored a new one
    assert list(procs.fake.calls) == [
        ("custom", 0),
        ("custom", 0),
        ("custom", 42001),
        ("custom", 0),
        ("custom", 42001),
        ("custom", 0),
    ]
    assert len(procs.fake.token_requests) == 2 and await procs.stored_token() not in (None, old)
    assert [m["text"]["content"] for m in procs.fake.custom] == ["one", "two", "three", "four"]


async def test_a_token_wechat_rejects_but_still_hands_out_is_force_refreshed(procs):
    await procs.open_window(USER)
    sender = procs.senders[0]
    await sender.send("wechat", USER, "one")
    procs.fake.fail_next("custom", 40001)  # e.g. the token was replaced elsewhere
    await sender.send("wechat", USER, "two")
    assert [r["force_refresh"] for r in procs.fake.token_requests] == [False, False, True]
    assert len(procs.fake.custom) == 2


async def test_a_token_error_that_persists_is_not_retried_forever(procs):
    await procs.open_window(USER)
    procs.fake.fail_next("custom", 40014, times=5)
    with pytest.raises(SendError) as err:
        await procs.senders[0].send("wechat", USER, "hi")
    assert err.value.code == 40014 and [c for c, _ in procs.fake.calls] == ["custom", "custom"]


async def test_outside_the_48_hour_window_a_template_is_sent(procs):
    await procs.open_window(USER, ago=timedelta(hours=49))
    msgid = await procs.senders[0].send("wechat", USER, "Order 1023 accepted")
    [tpl] = procs.fake.templates
    assert procs.fake.custom == [] and tpl["template_id"] == "TPL1" and str(tpl["msgid"]) == msgid
    assert (
        tpl["data"]["first"]["value"] == "Order 1023 accepted"
        and tpl["data"]["keyword1"]["value"][:2] == "20"
    )


@pytest.mark.parametrize("code", [45015, 45047])
async def test_customer_service_refusals_fall_back_to_the_template(procs, code):
    await procs.open_window(USER)
    procs.fake.fail_next("custom", code)
    assert await procs.senders[0].send("wechat", USER, "hello") is not None
    assert (
        procs.fake.calls == [("custom", code), ("template", 0)] and len(procs.fake.templates) == 1
    )


async def test_an_unfollowed_user_is_a_permanent_opt_out(procs):
    procs.fake.fail_to(USER, 43004)
    with pytest.raises(SendError) as err:
        await procs.senders[0].send("wechat", USER, "hello")
    assert err.value.permanent and err.value.opted_out and err.value.code == 43004


async def test_the_daily_quota_pauses_sending(procs):
    procs.fake.fail_next("template", 45009)
    for _ in range(2):
        with pytest.raises(SendError) as err:
            await procs.senders[0].send("wechat", USER, "hello")
        assert err.value.code == 45009 and not err.value.permanent  # retried later from the outbox
    assert procs.fake.calls == [("template", 45009)]  # the second never reached WeChat


async def test_without_a_template_outside_the_window_is_a_permanent_failure(sqlite_url, nlu_cache):
    async with FakeWeChat(APP_ID, SECRET) as fake, aiohttp.ClientSession() as session:
        settings = make_settings(sqlite_url, nlu_cache, **wechat_env(fake.url))
        db = await open_database(settings)
        try:
            with pytest.raises(SendError, match="no template") as err:
                await WeChatSender(settings.wechat, session, "UTC", db).send("wechat", USER, "hi")
        finally:
            await db.close()
    assert err.value.permanent and fake.calls == []


async def test_a_slow_wechat_is_not_sent_twice(procs):
    await procs.open_window(USER)
    await procs.senders[0].send("wechat", USER, "warm up")  # fetch the token first
    procs.fake.slow_next(3)  # the timeout is 2 s
    with pytest.raises(SendError, match="not resent") as err:
        await procs.senders[0].send("wechat", USER, "hello")
    assert err.value.permanent


# operator tools ---------------------------------------------------------------------------


async def test_farmchat_wechat_menu_installs_the_default_menu(sqlite_url, nlu_cache):
    async with FakeWeChat(APP_ID, SECRET) as fake:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
            "FARMCHAT_DATABASE__URL": sqlite_url,
            **wechat_env(fake.url),
        }
        code, out, err = await run_farmchat(env, "wechat", "menu")
        assert code == 0 and "menu installed" in out and "Traceback" not in err
        assert fake.menus == [DEFAULT_MENU]
        fake.fail_next("menu", 40164)
        code, out, err = await run_farmchat(env, "wechat", "menu")
        assert code == 1 and "40164" in err and "whitelist" in err and "Traceback" not in err


async def test_an_incomplete_wechat_config_is_a_clear_startup_error():
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_WECHAT__APP_ID": APP_ID,
    }
    code, _, err = await run_farmchat(env, "serve")
    assert code == 2 and "wechat" in err and "token, app_secret, encoding_aes_key" in err


@pytest.mark.parametrize(
    "env, message",
    [
        ({"FARMCHAT_WECHAT__TOKEN": "tok"}, "set app_id, app_secret, encoding_aes_key"),
        (
            {**wechat_env("http://x"), "FARMCHAT_WECHAT__TOKEN": "no spaces!"},
            "3 to 32 letters or digits",
        ),
        (
            {**wechat_env("http://x"), "FARMCHAT_WECHAT__ENCODING_AES_KEY": "short"},
            "43 letters or digits",
        ),
        ({**wechat_env("http://x"), "FARMCHAT_WECHAT__MODE": "secret"}, "wechat.mode"),
    ],
)
def test_wechat_settings_are_validated(env, message):
    with pytest.raises(ConfigError, match="wechat") as err:
        load_settings(ROOT / "config.yaml", environ=env)
    assert message in str(err.value)


def test_plaintext_mode_needs_no_aes_key():
    env = {k: v for k, v in wechat_env("http://x", mode="plaintext").items() if "AES_KEY" not in k}
    settings = load_settings(ROOT / "config.yaml", environ=env)
    assert settings.wechat.enabled and settings.wechat.aes_keys == []


async def test_the_readme_demo_farmchat_serve_and_fake_wechat_send(
    sqlite_url, nlu_cache, real_nlu
):
    from tests.wechat_rig import KEY, TOKEN, free_port

    port = free_port()
    async with FakeWeChat(APP_ID, SECRET) as fake, aiohttp.ClientSession() as session:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
            "FARMCHAT_DATABASE__URL": sqlite_url,
            "FARMCHAT_NLU__CACHE_DIR": nlu_cache,
            "FARMCHAT_SERVER__PORT": str(port),
            **wechat_env(fake.url),
        }
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
            url = f"http://127.0.0.1:{port}/webhooks/wechat"
            code, out, err = await run_farmchat(
                env,
                "fake-wechat",
                "send",
                "--url",
                url,
                "--app-id",
                APP_ID,
                "--token",
                TOKEN,
                "--aes-key",
                KEY,
                "--from",
                "oFarmer1",
                "卖50斤苹果 三块五一斤",
            )
            assert code == 0 and out.startswith("已发布"), (out, err)
            code, out, _ = await run_farmchat(
                env,
                "fake-wechat",
                "send",
                "--url",
                url,
                "--app-id",
                APP_ID,
                "--token",
                "wrongToken",
                "--aes-key",
                KEY,
                "hi",
            )
            assert code == 1 and "HTTP 403" in out
        finally:
            server.terminate()
            await server.wait()
