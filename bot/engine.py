"""The broadcast engine beside the app: the sender (every process) and the scheduler (leader)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.bootstrap import Services
from bot.outbound.dispatch import Dispatcher
from bot.scheduler import Scheduler

log = logging.getLogger(__name__)
STOP_TIMEOUT = 60  # in-flight sends finish (each bounded by the provider timeout)


@contextlib.asynccontextmanager
async def broadcasting(svc: Services):
    """Run the dispatcher and the scheduler; on exit stop claiming, finish what is in flight."""
    dispatcher = Dispatcher(svc.db, svc.outbound.sender, svc.settings, svc.outbound)
    scheduler = Scheduler(svc.db, svc.settings, svc.catalog, on_queued=dispatcher.wake.set)
    tasks = [
        asyncio.create_task(dispatcher.run(), name="farmchat-dispatcher"),
        asyncio.create_task(scheduler.run(), name="farmchat-scheduler"),
    ]
    try:
        yield dispatcher, scheduler
    finally:
        await scheduler.stop()
        await dispatcher.stop()
        _, late = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for task in late:
            log.warning("%s did not stop in %s s; cancelled", task.get_name(), STOP_TIMEOUT)
            task.cancel()
