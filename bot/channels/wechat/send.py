"""Outbound WeChat: the shared access token, customer-service and template messages, the menu.

One token for every process, kept in the database (CHANNELS.md A5: "a central controller";
stable_token so parallel instances do not invalidate each other). Only the process holding
the lease refreshes; a call rejected for its token refreshes once, only if that token is
still the stored one, and is retried once (wechatpy retries without a bound).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from bot.channels.wechat.payload import fit_bytes
from bot.config import WeChatSettings
from bot.logs import mask
from bot.outbound.sender import SendError
from storage import delivery
from storage import wechat as store
from storage.uow import Database

log = logging.getLogger(__name__)
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid credential, invalid token, expired token
EARLY = timedelta(minutes=5)  # refresh this long before WeChat's expiry
MEMORY = 60.0  # seconds a process trusts its in-memory copy of the token
LEASE = timedelta(seconds=30)
WINDOW = timedelta(hours=48)  # customer-service messages after the user's last message
EVENT_WINDOW = timedelta(minutes=1)  # ... and after a menu click, a follow or a scan
QUOTA_ZONE = ZoneInfo("Asia/Shanghai")  # WeChat's daily quotas reset at midnight Beijing time
PERMANENT = {
    40003: "not a follower of this account (invalid openid)",
    40037: "invalid template_id",
    40164: "server IP not in the account's whitelist",
    40013: "invalid AppID",
    40125: "invalid AppSecret",
    43101: "user refused the message",
}

DEFAULT_MENU = {
    "button": [
        {"type": "click", "name": "我要卖", "key": "SELL"},
        {"type": "click", "name": "我要买", "key": "BUY"},
        {
            "name": "更多",
            "sub_button": [
                {"type": "click", "name": "今日价格", "key": "PRICES"},
                {"type": "click", "name": "我的货", "key": "MY_LISTINGS"},
                {"type": "click", "name": "我的订单", "key": "MY_ORDERS"},
                {"type": "click", "name": "帮助", "key": "HELP"},
            ],
        },
    ]
}


class WeChatError(SendError):
    """WeChat answered with a non-zero errcode (it answers HTTP 200 even then)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def bound(db: Database | None) -> Database:
    """The database the sender was bound to when the app started (its token and quotas)."""
    if db is None:
        raise SendError("WeChat sending started before the database was open")
    return db


def quota_day(now: datetime) -> str:
    """The date of WeChat's quota day that `now` falls in."""
    return now.astimezone(QUOTA_ZONE).date().isoformat()


def next_reset(now: datetime) -> datetime:
    """When WeChat's daily quotas next reset (midnight Beijing time), in UTC."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_ZONE)
    return midnight.astimezone(UTC)


class DailyQuota:
    """A daily send quota counted in the database, so every process shares one count.

    take() reserves one send with a single conditional UPDATE; once the day's count is used up
    this process stops asking until the reset. take(keep=n) leaves the last n for others (a
    broadcast leaves notifications their reserve).
    """

    def __init__(self, name: str, limit: int, db: Database | None = None, clock=utcnow):
        self.name, self.limit, self.db, self.clock = name, limit, db, clock
        self._spent: dict[int, str] = {}  # keep -> a day known to be used up down to it

    async def take(self, keep: int = 0) -> bool:
        if self.limit <= 0:
            return True
        day = quota_day(self.clock())
        if any(day == spent and keep >= k for k, spent in self._spent.items()):
            return False
        async with bound(self.db).uow() as uow:
            taken = await delivery.take_quota(uow, self.name, day, self.limit - keep)
            await uow.commit()
        if not taken:
            self._spent[keep] = day
        return taken

    async def spend_all(self) -> None:
        """WeChat says the quota is used up (45009): mark today's count full for every process."""
        day = quota_day(self.clock())
        self._spent[0] = day
        if self.limit <= 0:
            return
        async with bound(self.db).uow() as uow:
            await delivery.spend_quota(uow, self.name, day, self.limit)
            await uow.commit()

    def exhausted(self, reason: str) -> WeChatError:
        """The deferral for a send refused by the quota: retry when it resets."""
        return WeChatError(
            f"{reason}; waits for the daily reset", 45009, retry_at=next_reset(self.clock())
        )


class Http:
    """JSON calls to the WeChat API on the app's aiohttp session, with a timeout."""

    def __init__(self, settings: WeChatSettings, session: aiohttp.ClientSession):
        self.base, self.timeout, self.session = (
            settings.api_base.rstrip("/"),
            settings.timeout_seconds,
            session,
        )

    async def post(self, path: str, payload: dict, params: dict | None = None) -> dict:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.post(
                    self.base + path, params=params, json=payload
                ) as resp:
                    body = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            raise SendError(f"cannot connect to WeChat: {exc}") from None  # nothing was sent
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # The request may have reached WeChat: sending again could deliver it twice.
            raise SendError(
                f"no usable answer from WeChat ({type(exc).__name__}); not resent", permanent=True
            ) from None
        if not isinstance(body, dict):
            raise SendError("WeChat answered something other than a JSON object", permanent=True)
        return body


class TokenManager:
    """The access token: memory (a minute) → database row → stable_token, one refresher at a
    time."""

    def __init__(self, settings: WeChatSettings, http: Http, db: Database | None = None):
        self.settings, self.http, self.db = settings, http, db
        self._lock = asyncio.Lock()
        self._cached: tuple[str, float] | None = None

    async def get(self) -> str:
        if self._cached and self._cached[1] > time.monotonic():
            return self._cached[0]
        return await self.refresh(stale=None)

    async def refresh(self, stale: str | None) -> str:
        """A valid token other than `stale`: the stored one if another process renewed it."""
        async with self._lock:
            for _ in range(100):
                row = await self._stored()
                if (
                    row
                    and row.access_token
                    and row.access_token != stale
                    and row.expires_at is not None
                    and row.expires_at - EARLY > utcnow()
                ):
                    return self._remember(row.access_token)
                if await self._claim():
                    return self._remember(await self._renew(stale))
                await asyncio.sleep(0.1)  # another process is refreshing
        raise SendError("timed out waiting for another process to refresh the WeChat token")

    def _remember(self, token: str) -> str:
        self._cached = (token, time.monotonic() + MEMORY)
        return token

    async def _stored(self) -> store.StoredToken | None:
        async with bound(self.db).uow() as uow:
            return await store.stored_token(uow, self.settings.app_id)

    async def _claim(self) -> bool:
        """Take the refresh lease (insert the row first if absent); False if someone holds it."""
        now = utcnow()
        async with bound(self.db).uow() as uow:
            won = await store.take_token_lease(uow, self.settings.app_id, now, now + LEASE)
            await uow.commit()
        return won

    async def _renew(self, stale: str | None) -> str:
        """Ask stable_token (forcing only when it hands back the rejected token); store; release
        the lease."""
        token, expires_at = None, None
        try:
            token, expires_at = await self._fetch(force=False)
            if token == stale:
                token, expires_at = await self._fetch(force=True)
            return token
        finally:
            async with bound(self.db).uow() as uow:
                await store.release_token_lease(
                    uow, self.settings.app_id, utcnow(), token, expires_at
                )
                await uow.commit()

    async def _fetch(self, force: bool) -> tuple[str, datetime]:
        s = self.settings
        body = await self.http.post(
            "/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": s.app_id,
                "secret": s.app_secret,
                "force_refresh": force,
            },
        )
        if body.get("errcode") or not body.get("access_token"):
            raise _error(body, "stable_token")
        log.info("WeChat access token renewed (force_refresh=%s)", force)
        return body["access_token"], utcnow() + timedelta(
            seconds=int(body.get("expires_in", 7200))
        )


class WeChatApi:
    """Calls that need the access token; a rejected token is refreshed and the call retried
    once."""

    def __init__(
        self, settings: WeChatSettings, session: aiohttp.ClientSession, db: Database | None = None
    ):
        self.http = Http(settings, session)
        self.tokens = TokenManager(settings, self.http, db)
        self.clock = utcnow
        self._paused: dict[str, datetime] = {}  # API path -> its daily quota's reset (after 45009)

    def bind(self, db: Database) -> None:
        self.tokens.db = db

    async def call(self, path: str, payload: dict) -> dict:
        reset = self._paused.get(path)
        if reset and self.clock() < reset:
            raise WeChatError(
                f"WeChat {path}: daily quota reached (45009); not called until the reset",
                45009,
                retry_at=reset,
            )
        token = await self.tokens.get()
        body = await self.http.post(path, payload, {"access_token": token})
        if body.get("errcode") in TOKEN_ERRORS:
            log.info("WeChat rejected the access token (%s); refreshing once", body["errcode"])
            token = await self.tokens.refresh(stale=token)
            body = await self.http.post(path, payload, {"access_token": token})
        if body.get("errcode") == 45009:  # each API has its own daily quota: only this one waits
            self._paused[path] = next_reset(self.clock())
        if body.get("errcode"):
            raise _error(body, path, self.clock())
        return body


def _error(body: dict, what: str, now: datetime | None = None) -> WeChatError:
    code = body.get("errcode")
    reason = PERMANENT[code] if code in PERMANENT else body.get("errmsg", "no access_token")
    permanent = code in PERMANENT or code == 43004 or code == 45047
    # 45009: a daily quota, used up until it resets; not a failure of this message
    return WeChatError(
        f"WeChat {what}: {code} {reason}"[:250],
        code,
        permanent=permanent,
        opted_out=code == 43004,
        retry_at=next_reset(now or utcnow()) if code == 45009 else None,
        unreachable=permanent,  # WeChat answered: it refused the message
    )


class WeChatSender:
    """A push to a WeChat user: customer-service text within 48 h, otherwise the template."""

    def __init__(
        self,
        settings: WeChatSettings,
        session: aiohttp.ClientSession,
        timezone_name: str = "UTC",
        db: Database | None = None,
    ):
        self.settings, self.api, self.db = settings, WeChatApi(settings, session, db), db
        self.zone = ZoneInfo(timezone_name)
        self.quota = DailyQuota("wechat_template", settings.template.daily_limit, db)

    def bind(self, db: Database) -> None:
        self.db = self.quota.db = db
        self.api.bind(db)

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> str | None:
        """None for a customer-service message; the template's msgid for a template message.
        bulk (a broadcast) leaves wechat.template.notification_reserve of the day's templates."""
        if not await self.in_window(address):
            return await self.template(address, text, bulk=bulk)
        try:
            await self.api.call(
                "/cgi-bin/message/custom/send",
                {"touser": address, "msgtype": "text", "text": {"content": fit_bytes(text)}},
            )
            return None
        except WeChatError as exc:
            if exc.code not in (45015, 45047):  # outside the window / its quota used up
                raise
            log.info(
                "customer-service message to %s refused (%s); trying the template",
                mask(address),
                exc.code,
            )
            return await self.template(address, text, exc, bulk=bulk)

    async def template(
        self, address: str, text: str, cause: WeChatError | None = None, bulk: bool = False
    ) -> str | None:
        tpl = self.settings.template
        if not tpl.id:
            raise cause or WeChatError(
                "outside the 48-hour window and no template configured",
                45015,
                permanent=True,
                unreachable=True,
            )
        when = datetime.now(self.zone).strftime("%Y-%m-%d %H:%M")
        data = {
            key: {"value": value.replace("{text}", text).replace("{time}", when)[:200]}
            for key, value in tpl.fields.items()
        }
        payload = {"touser": address, "template_id": tpl.id, "data": data}
        if tpl.url:
            payload["url"] = tpl.url
        if not await self.quota.take(keep=tpl.notification_reserve if bulk else 0):
            raise self.quota.exhausted(
                "today's template messages for broadcasts are used up"
                if bulk
                else "today's template messages are used up"
            )
        try:
            body = await self.api.call("/cgi-bin/message/template/send", payload)
        except WeChatError as exc:
            if exc.code == 45009:
                await self.quota.spend_all()
            raise
        return str(body.get("msgid", "")) or None

    async def in_window(self, openid: str) -> bool:
        async with bound(self.db).uow() as uow:
            row = await store.contact(uow, openid)
        return within_window(row, utcnow())


def within_window(row: store.Contact | None, now: datetime) -> bool:
    """Whether customer-service messages reach this follower now (they wrote within 48 hours,
    or clicked, followed or scanned recently)."""
    return row is not None and (
        bool(row.last_message_at and now - row.last_message_at < WINDOW)
        or bool(row.last_event_at and now - row.last_event_at < EVENT_WINDOW)
    )


async def install_menu(api: WeChatApi, menu: dict | None = None) -> dict:
    """Create the custom menu (it replaces the current one)."""
    return await api.call("/cgi-bin/menu/create", menu or DEFAULT_MENU)
