"""Build every dependency once and hand it in; nothing is created at import time."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from bot import metrics
from bot.config import Settings
from bot.gateway import Gateway
from bot.outbound.push import RecordingSender, Sender
from bot.outbound.sender import Outbound
from handlers.table import INTENT_HANDLERS
from nlu.catalog import Catalog
from nlu.shapes import ParseResult
from storage import stats
from storage.db import create_engine, ensure_schema
from storage.uow import Database

log = logging.getLogger(__name__)
BUILTIN_DATA = Path(__file__).resolve().parent.parent / "nlu" / "data"


class Model(Protocol):
    """The language model as the app uses it (the built-in model, or Rasa in front of it)."""

    async def aparse(self, text: str) -> ParseResult: ...


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    db: Database
    nlu: Model
    outbound: Outbound
    gateway: Gateway


SERVICES = web.AppKey("services", Services)  # the application's Services, once started


def build_catalog(settings: Settings) -> Catalog:
    places = {k: v.model_dump() for k, v in settings.places.items()}
    return Catalog.build(settings.catalog, places)


def load_nlu(settings: Settings, catalog: Catalog):
    """The built-in model (trained from nlu/data plus extras, or cached), wrapped by Rasa if
    configured."""
    from nlu.model import NLU

    paths = [str(BUILTIN_DATA), *settings.nlu.data_paths]
    model = NLU.load_or_train(catalog, paths, settings.nlu.cache_dir, isolate=True)
    missing = set(model.intents) ^ set(INTENT_HANDLERS)
    if missing:
        raise RuntimeError(f"NLU intents and handler table differ: {sorted(missing)}")
    if settings.nlu.backend == "rasa":
        from nlu.rasa_backend import RasaNLU

        rasa = settings.nlu.rasa
        return RasaNLU(rasa.url, model, catalog, rasa.token, rasa.timeout_seconds)
    return model


async def open_database(settings: Settings) -> Database:
    database = settings.database
    engine = create_engine(
        database.url, database.transaction_pooling, database.pool_size, database.max_overflow
    )
    try:
        await ensure_schema(engine, settings.database.auto_upgrade)
    except BaseException:
        await engine.dispose()
        raise
    stats.count_work(engine, metrics.STATEMENTS.inc, metrics.COMMITS.inc)
    return Database(engine, settings.database.transaction_pooling)


@asynccontextmanager
async def services(
    settings: Settings, sender: Sender | None = None, nlu=None, background_push: bool = False
):
    """Open the database (creating or upgrading the schema), load the NLU, wire the gateway."""
    catalog = build_catalog(settings)
    if nlu is None:
        nlu = await asyncio.to_thread(load_nlu, settings, catalog)
    db = await open_database(settings)
    try:
        outbound = Outbound(db, sender or RecordingSender(), settings, background=background_push)
        gateway = Gateway(db, nlu, settings, catalog, outbound)
        outbound.on_unreachable = gateway.unreachable
        try:
            yield Services(settings, catalog, db, nlu, outbound, gateway)
        finally:
            await outbound.drain()
    finally:
        await db.close()
        if hasattr(nlu, "aclose"):
            await nlu.aclose()
