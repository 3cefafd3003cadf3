"""Shared fixtures: real SQLite files and the real PostgreSQL, the real NLU, a chat harness."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.bootstrap import build_catalog, load_nlu, services
from bot.config import load_settings
from bot.outbound.sender import RecordingSender
from handlers.messages import InboundMessage
from storage.db import create_engine
from storage.models import Base

PG_URL = os.environ.get(
    "FARMCHAT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def reset_postgres(url: str) -> None:
    """Drop farmchat's tables so each test starts from an empty, freshly migrated schema."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()


async def postgres_ready(url: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except (OSError, Exception):
        return False
    finally:
        await engine.dispose()


async def fresh_postgres() -> str:
    """PG_URL with an empty schema; a skip (a failure with FARMCHAT_REQUIRE_PG) without it."""
    if not await postgres_ready(PG_URL):
        message = f"PostgreSQL not reachable at {PG_URL}"
        if os.environ.get("FARMCHAT_REQUIRE_PG"):
            pytest.fail(message)
        pytest.skip(message + " (set FARMCHAT_REQUIRE_PG=1 to make this an error)")
    await reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'farmchat.db'}"
    return await fresh_postgres()


@pytest.fixture
async def pg_url():
    """PostgreSQL alone, for what only it has (a server that can go away)."""
    return await fresh_postgres()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'farmchat.db'}"


def make_settings(db_url: str, cache_dir: str, **env):
    environ = {"FARMCHAT_DATABASE__URL": db_url, "FARMCHAT_NLU__CACHE_DIR": cache_dir, **env}
    return load_settings(None, environ=environ)


@pytest.fixture(scope="session")
def nlu_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("nlu-cache"))


@pytest.fixture(scope="session")
def real_nlu(nlu_cache):
    """The built-in model trained on nlu/data, once per test session."""
    settings = make_settings("sqlite+aiosqlite:///unused.db", nlu_cache)
    return load_nlu(settings, build_catalog(settings))


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Chat:
    """Talk to a running gateway as any user, as the console or a channel would."""

    def __init__(self, svc, sender: RecordingSender, clock: Clock):
        self.svc, self.sender, self.clock = svc, sender, clock

    async def send(
        self, sender: str, text: str, message_id: str | None = None, channel: str = "console"
    ) -> str:
        msg = InboundMessage(
            channel=channel,
            sender=sender,
            text=text,
            message_id=message_id or uuid.uuid4().hex,
            received_at=self.clock(),
        )
        return await self.svc.gateway.handle(msg)

    def pushes_to(self, address: str) -> list[str]:
        return [text for _, to, text in self.sender.sent if to == address]

    def clear(self) -> None:
        self.sender.sent.clear()


async def open_chat(stack: AsyncExitStack, db_url: str, cache_dir: str, nlu, **env) -> Chat:
    settings = make_settings(db_url, cache_dir, **env)
    sender, clock = RecordingSender(), Clock()
    svc = await stack.enter_async_context(services(settings, sender=sender, nlu=nlu))
    svc.gateway.clock = clock
    return Chat(svc, sender, clock)


@pytest.fixture
async def chat(db_url, nlu_cache, real_nlu):
    """A gateway with the real NLU on SQLite and on PostgreSQL (parametrized)."""
    async with AsyncExitStack() as stack:
        yield await open_chat(
            stack,
            db_url,
            nlu_cache,
            real_nlu,
            FARMCHAT_COORDINATORS__ADDRESSES='["+8613900000000"]',
        )


async def run_farmchat(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `farmchat ARGS` in a process of its own, as an operator would: (exit code,
    stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
