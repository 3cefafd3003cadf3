"""The unit tier: people write to the real handlers and the built-in NLU over an in-memory
market (tests/unit/fakes.py); no SQLite, no PostgreSQL, no HTTP. `pytest tests/unit -q`,
or `pytest -m unit` to pick these out of the whole suite.

FARMCHAT_UNIT_DB=sqlite runs the same conversations over a real SQLite file instead, to show
that the in-memory market answers as the database does."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import handlers.broadcasts
from bot.bootstrap import build_catalog, load_nlu
from bot.config import load_settings
from bot.gateway import clean_text, detect_language, fits_reply
from handlers import texts
from handlers.context import Context, DomainError, Parse
from handlers.messages import InboundMessage, Reply
from handlers.settings import default_lang
from handlers.table import route
from storage.models import Base, User
from storage.repos import OpenQuestion
from tests.conftest import Clock
from tests.unit import fakes

HERE = Path(__file__).resolve().parent
# the trained model is cached by its data, catalog and code, so a second run loads it
NLU_CACHE = HERE.parents[1] / ".farmchat-cache"
COORDINATOR = "+8613900000000"
LAST_SEEN_PRECISION = timedelta(minutes=1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: in-memory market, no database (tests/unit)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.unit)


@dataclass(frozen=True)
class Push:
    """A message the bot sent to someone other than the sender (an outbox row pushed)."""

    channel: str
    address: str
    text: str
    kind: str


class Market:
    """People writing to the bot: each message runs as bot/gateway.py runs it (the sender and
    their open question, the NLU, the routing table, one reply, the question kept, the
    notifications written to the outbox in the same transaction and pushed after it) over the
    in-memory market. A handler error fails the test instead of becoming the apology."""

    def __init__(self, db: Any, nlu: Any, settings: Any, catalog: Any):
        self.db, self.nlu, self.settings, self.catalog = db, nlu, settings, catalog
        self.clock = Clock()
        self.pushes: list[Push] = []

    async def send(
        self, sender: str, text: str, channel: str = "console", message_id: str | None = None
    ) -> str:
        msg = InboundMessage(channel, sender, text, message_id or uuid.uuid4().hex, self.clock())
        parse = Parse.from_nlu(await self.nlu.aparse(clean_text(msg.text)))
        reply, pushed = await self.db.transact(lambda uow: self._apply(uow, msg, parse))
        self.pushes += pushed  # after the commit, as the outbox pushes them
        return reply

    async def _apply(self, uow: Any, msg: InboundMessage, parse: Parse) -> tuple[str, list[Push]]:
        now, text = msg.received_at, clean_text(msg.text)
        role = "coordinator" if msg.sender == COORDINATOR else None
        written = detect_language(text)
        user, conv, seen = await uow.users.arrive(
            msg.channel, msg.sender, msg.message_id, now, role or "user", written or ""
        )
        if seen is not None:  # a retried message: the same reply, nothing done again
            return seen, []
        await self._touch(uow, user, role, written, now)
        ctx = Context(
            msg=msg,
            user=user,
            parse=parse,
            lang=written or user.language or default_lang(self.settings),
            uow=uow,
            settings=self.settings,
            catalog=self.catalog,
            now=now,
            fits=fits_reply,
        )
        self._load_state(ctx, conv)
        try:
            replies = await route(ctx)
        except DomainError as err:
            replies = ctx.say(err.key, **err.values)
        reply = "\n".join(r.text for r in replies if r.to is None) or texts.t("ok", "en")
        await self._save_state(uow, ctx, conv)
        pushed = [await self._queue(uow, notice, now) for notice in ctx.notices]
        await uow.inbound.add(
            channel=msg.channel,
            message_id=msg.message_id,
            user_id=user.id,
            text=text,
            intent=ctx.parse.intent,
            reply=reply,
            status="done",
            received_at=now,
        )
        return reply, pushed

    @staticmethod
    async def _touch(
        uow: Any, user: User, role: str | None, written: str | None, now: datetime
    ) -> None:
        """The user's role, language and last-seen time, written only when one changed."""
        seen = user.last_seen_at
        if seen is None or now - seen >= LAST_SEEN_PRECISION:
            seen = now
        new = (role or user.role, written or user.language, seen)
        if new != (user.role, user.language, user.last_seen_at):
            await uow.users.touch(user, *new)

    def _load_state(self, ctx: Context, conv: OpenQuestion | None) -> None:
        idle = timedelta(minutes=self.settings.market.conversation_timeout_minutes)
        if conv is not None and ctx.now - conv.updated_at <= idle:
            ctx.state, ctx.slots = conv.state, dict(conv.slots or {})

    @staticmethod
    async def _save_state(uow: Any, ctx: Context, conv: OpenQuestion | None) -> None:
        if ctx.state:
            await uow.conversations.save(ctx.user.id, ctx.state, ctx.slots, ctx.now)
        elif conv is not None:
            await uow.conversations.clear(ctx.user.id)

    @staticmethod
    async def _queue(uow: Any, notice: Reply, now: datetime) -> Push:
        """The notification's outbox row, written already claimed (status sending)."""
        user = await uow.users.row(notice.to)
        await uow.outbox.insert(
            user_id=user.id,
            channel=user.channel,
            address=user.address,
            text=notice.text,
            kind=notice.kind,
            status="sending",
            attempts=1,
            created_at=now,
        )
        return Push(user.channel, user.address, notice.text, notice.kind)

    # what the test looks at -----------------------------------------------------------------
    def pushes_to(self, address: str) -> list[str]:
        return [p.text for p in self.pushes if p.address == address]

    def rows(self, model: type[Base]) -> list[Any]:
        return self.db.rows(model)

    def user(self, address: str) -> User:
        return next(u for u in self.db.rows(User) if u.address == address)


@pytest.fixture(scope="session")
def unit_settings() -> Any:
    return load_settings(None, environ={"FARMCHAT_NLU__CACHE_DIR": str(NLU_CACHE)})


@pytest.fixture(scope="session")
def unit_catalog(unit_settings: Any) -> Any:
    return build_catalog(unit_settings)


@pytest.fixture(scope="session")
def unit_nlu(unit_settings: Any, unit_catalog: Any) -> Any:
    """The built-in model trained on nlu/data (checked against the routing table)."""
    return load_nlu(unit_settings, unit_catalog)


@pytest.fixture
async def market(
    unit_nlu: Any,
    unit_settings: Any,
    unit_catalog: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Market]:
    if os.environ.get("FARMCHAT_UNIT_DB") == "sqlite":
        from tests.unit.on_sqlite import SqliteMarket

        async with SqliteMarket(tmp_path / "market.db") as db:
            yield Market(db, unit_nlu, unit_settings, unit_catalog)
        return
    # an unsubscribe also skips the broadcasts not yet sent, a statement of the broadcast
    # records; here it runs over the in-memory outbox
    monkeypatch.setattr(handlers.broadcasts, "skip_pending", fakes.skip_pending)
    yield Market(fakes.FakeDatabase(), unit_nlu, unit_settings, unit_catalog)
