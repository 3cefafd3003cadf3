"""The dashboard as a coordinator meets it: `farmchat serve`'s application on a loopback
port with the real NLU, a real database, the fake Twilio behind it, accounts made as
`farmchat admin add` makes them, and a signed-in HTTP client or a real headless Chromium.

Browser tests drive Debian's chromium through Playwright (never a downloaded browser). They
are skipped where /usr/bin/chromium is missing, unless FARMCHAT_REQUIRE_BROWSER=1 (.ci/run
sets it, and installs chromium and fonts-noto-cjk). Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.bootstrap import SERVICES
from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage import accounts
from tests.conftest import make_settings
from tests.test_twilio_trade import free_port

TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "2" * 32, "+15005550006"
PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("FARMCHAT_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FARMCHAT_TEST_ARTIFACTS", "test-artifacts"))
# flags for a closed network: no background fetches, no first-run work (docs/dashboard.md)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Dash:
    """farmchat serving on loopback with its dashboard, the fake Twilio, and phones."""

    def __init__(self, app, fake: FakeTwilio, url: str, session: aiohttp.ClientSession):
        self.app, self.fake, self.url, self.session = app, fake, url, session
        self._clients: list[aiohttp.ClientSession] = []

    @property
    def svc(self):
        return self.app[SERVICES]

    async def account(self, name: str, role: str = "admin", password: str = PASSWORD) -> None:
        async with self.svc.db.uow() as uow:
            await accounts.add(uow, name, role, password)
            await uow.commit()

    async def client(self) -> aiohttp.ClientSession:
        """A browser-like HTTP client of its own (its own cookies), closed with the rig."""
        client = aiohttp.ClientSession(
            base_url=self.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self._clients.append(client)
        return client

    async def signed_in(self, name: str, password: str = PASSWORD) -> aiohttp.ClientSession:
        client = await self.client()
        async with client.get("/admin/login") as page:
            csrf = csrf_of(await page.text())
        form = {"csrf": csrf, "name": name, "password": password, "next": "/admin"}
        async with client.post("/admin/login", data=form, allow_redirects=False) as done:
            assert done.status == 303, await done.text()
        return client

    async def text(self, sender: str, body: str, whatsapp: bool = False) -> str:
        """A phone texts farmchat through the Twilio webhook; the reply."""
        fields = inbound_fields(sender, NUMBER, body, whatsapp=whatsapp)
        status, xml = await post_inbound(
            self.session, self.url + "/webhooks/twilio", TOKEN, fields
        )
        assert status == 200, xml
        found = re.search(r"<Message>(.*)</Message>", xml, re.S)
        return found.group(1) if found else ""

    async def received(self, to: str, count: int = 1) -> list[str]:
        """What the fake Twilio took for `to`, once `count` messages are there (bounded)."""
        bodies: list[str] = []
        for _ in range(200):
            bodies = [m["Body"] for m in self.fake.messages if m["To"] == to]
            if len(bodies) >= count:
                return bodies
            await asyncio.sleep(0.05)
        return bodies


@pytest.fixture
async def dash(db_url, nlu_cache, real_nlu, tmp_path):
    async with (
        FakeTwilio(SID, TOKEN, callback_delay=0.05) as fake,
        aiohttp.ClientSession() as session,
    ):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = make_settings(
            db_url,
            nlu_cache,
            FARMCHAT_TWILIO__ACCOUNT_SID=SID,
            FARMCHAT_TWILIO__AUTH_TOKEN=TOKEN,
            FARMCHAT_TWILIO__FROM_NUMBER=NUMBER,
            FARMCHAT_TWILIO__API_BASE=fake.url,
            FARMCHAT_TWILIO__TIMEOUT_SECONDS="1",
            FARMCHAT_TWILIO__RATE_PER_SECOND="50",
            FARMCHAT_BROADCAST__POLL_SECONDS="0.2",
            FARMCHAT_SERVER__PUBLIC_URL=url,
            FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
            FARMCHAT_DASHBOARD__SIMULATOR_DATABASE=f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
            FARMCHAT_COORDINATORS__ADDRESSES='["+8613900000000"]',
        )
        app = create_app(settings, nlu=real_nlu, background=True)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        rig = Dash(app, fake, url, session)
        try:
            yield rig
        finally:
            for client in rig._clients:
                await client.close()
            await server.close()


@pytest.fixture
def sqlite_only(db_url):
    """For tests whose point is the browser, not the database: run them once."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the browser tests run on SQLite; the pages' queries run on both")


@pytest.fixture
async def browser():
    """A headless Debian chromium driven by Playwright."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("FARMCHAT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message + " (set FARMCHAT_REQUIRE_BROWSER=1 to make this an error)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in(page, url: str, name: str, password: str = PASSWORD) -> None:
    await page.goto(url + "/admin")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/admin")


async def signed_in_page(browser, url: str, name: str, lang: str = "zh", **options):
    """A new page, signed in as name, in lang (the test market's default is Chinese)."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, **options)
    await sign_in(page, url, name)
    if lang == "en":
        await page.select_option("#language", "en")
        await page.wait_for_selector("text=Overview")
    return page


async def shot(page, name: str) -> Path:
    """A full-page screenshot in the artifacts folder, to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
