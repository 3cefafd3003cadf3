"""PostgreSQL drops farmchat's connections (a restart, a failover, an idle timeout on a
firewall): the next messages are answered as if nothing happened, each with one effect."""

from __future__ import annotations

from contextlib import AsyncExitStack

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

import storage.db
from storage.models import InboundLog, Listing, User
from tests.conftest import open_chat

pytestmark = pytest.mark.postgres

FARMER, BUYER = "+254711000201", "+8613800000202"


async def drop_connections(url: str) -> int:
    """What an administrator's pg_terminate_backend does: every other session on the database
    ends. How many there were."""
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    try:
        return await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()


async def rows(chat, model, **where) -> int:
    async with chat.svc.db.uow() as uow:
        query = select(func.count()).select_from(model).filter_by(**where)
        return (await uow.session.execute(query)).scalar_one()


@pytest.mark.parametrize("idle_ping", ["pinged after idle", "found by the statement"])
async def test_messages_after_the_server_dropped_the_connections_are_answered_once(
    pg_url, nlu_cache, real_nlu, monkeypatch, idle_ping
):
    # a connection idle past the threshold is asked first; one idle for less is found dead by
    # the message's first statement, and the message's work runs again on a new connection
    seconds = 0.0 if idle_ping == "pinged after idle" else 3600.0
    monkeypatch.setattr(storage.db, "PING_AFTER_IDLE_SECONDS", seconds)
    async with AsyncExitStack() as stack:
        chat = await open_chat(stack, pg_url, nlu_cache, real_nlu)
        first = await chat.send(FARMER, "sell 40 kg sukuma wiki at 30/kg", message_id="SMa1")
        assert "Listing" in first
        assert await drop_connections(pg_url) >= 1
        second = await chat.send(FARMER, "nataka kuuza 20kg potatos at 40/kg", message_id="SMa2")
        assert "Listing" in second and "wrong" not in second
        assert await drop_connections(pg_url) >= 1
        offers = await chat.send(BUYER, "买10公斤土豆", message_id="SMa3")
        assert "40" in offers, offers
        # Twilio resends a message whose answer it did not get: the same reply, no second effect
        assert await chat.send(FARMER, "nataka kuuza 20kg potatos at 40/kg", "SMa2") == second
        assert await rows(chat, Listing) == 2
        assert await rows(chat, InboundLog) == 3
        assert await rows(chat, User, address=FARMER) == 1


async def test_work_that_fails_for_another_reason_is_not_run_twice(pg_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        chat = await open_chat(stack, pg_url, nlu_cache, real_nlu)
        await chat.send(FARMER, "sell 40 kg sukuma wiki at 30/kg")
        calls = 0

        async def clash(uow):
            nonlocal calls
            calls += 1
            # a second user with the same channel and address: a constraint, not a lost link
            await uow.session.execute(
                text(
                    "INSERT INTO users (channel, address, language, role, opted_out, created_at, "
                    "last_seen_at) "
                    "SELECT channel, address, language, role, opted_out, created_at, last_seen_at "
                    "FROM users LIMIT 1"
                )
            )

        with pytest.raises(IntegrityError):
            await chat.svc.db.transact(clash)
        assert calls == 1
        assert await rows(chat, User) == 1
