"""Hosts that start at the same moment on one empty PostgreSQL (systemd bringing up three VMs
after an outage, a deploy to every host at once) each bring the schema to the newest
migration at start. They must migrate it once between them: each `farmchat db upgrade` exits
0 and the schema is whole, not one host migrating while the others fail on half-made tables."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import create_engine, current_revision, head_revision
from tests.conftest import fresh_postgres, run_farmchat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.postgres


async def test_four_hosts_upgrading_an_empty_database_at_once_all_succeed():
    url = await fresh_postgres()
    env = {
        **os.environ,
        "FARMCHAT_DATABASE__URL": url,
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "PYTHONPATH": str(ROOT),
    }
    results = await asyncio.gather(*(run_farmchat(env, "db", "upgrade") for _ in range(4)))
    assert [code for code, _, _ in results] == [0] * 4, [err[-1500:] for _, _, err in results]
    engine = create_engine(url)
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
            tables = (
                await conn.execute(
                    text("SELECT count(*) FROM pg_tables WHERE tablename = 'scheduler_lease'")
                )
            ).scalar()
        assert (versions, tables) == (1, 1)
    finally:
        await engine.dispose()
