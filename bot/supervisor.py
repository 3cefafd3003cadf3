"""A process's background work, in one place: the outbox's broadcasts (every process), the
sweeper (expiries and notification retries) and the scheduler (on the leader only).

Each job runs in a loop of its own, at its interval or at once when woken; a failure is
logged and the loop goes on. Stopping stops claiming, lets sends in flight finish and hands
claimed rows not yet sent back to the outbox, then lets another process lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from bot import tasks
from bot.bootstrap import Services
from bot.outbound.dispatch import Dispatcher
from bot.outbound.sender import Outbound
from bot.scheduler import LEADER_RETRY_SECONDS, Scheduler
from nlu.catalog import Catalog

log = logging.getLogger(__name__)
STOP_TIMEOUT = 60  # seconds, in all: in-flight sends finish (each bounded by its timeout)
CANCELLED_SECONDS = 5  # for what STOP_TIMEOUT cut off to end, once cancelled
Job = Callable[[], Awaitable[object]]


class Supervisor:
    """Starts the background loops of a process and stops them cleanly."""

    def __init__(self, outbound: Outbound, catalog: Catalog):
        self.outbound = outbound
        self.dispatcher = Dispatcher(outbound)
        self.scheduler = Scheduler(
            outbound.db, outbound.settings, catalog, on_queued=self.dispatcher.wake.set
        )
        self.stopping = asyncio.Event()
        self._loops: list[asyncio.Task] = []
        self._wakes: list[asyncio.Event] = []

    def start(self, sweep: Job | None = None, dispatch: bool = True, lead: bool = True) -> None:
        """Run the sweep (if given), the broadcast dispatcher and the bid to lead the scheduler."""
        settings = self.outbound.settings
        if sweep is not None:
            self.every("farmchat-sweeper", settings.market.sweep_interval_seconds, sweep)
        if dispatch:
            poll = settings.broadcast.poll_seconds
            self.every("farmchat-dispatcher", poll, self.dispatcher.tick, self.dispatcher.wake)
        if lead:
            self.every("farmchat-scheduler", LEADER_RETRY_SECONDS, self.scheduler.keep_lead)

    def every(
        self, name: str, seconds: float, job: Job, wake: asyncio.Event | None = None
    ) -> None:
        """Run job now and then every `seconds` (or as soon as wake is set) until stop()."""
        wake = wake or asyncio.Event()
        self._wakes.append(wake)
        self._loops.append(asyncio.create_task(self._loop(name, seconds, job, wake), name=name))

    async def _loop(self, name: str, seconds: float, job: Job, wake: asyncio.Event) -> None:
        while not self.stopping.is_set():
            wake.clear()
            try:
                await job()
            except Exception:
                log.exception("%s failed", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)

    async def stop(self) -> None:
        """Stop claiming and wait, STOP_TIMEOUT at most in all, for the loops, the sends in
        flight and the scheduler's jobs running; step down as leader."""
        self.stopping.set()
        for wake in self._wakes:
            wake.set()
        await self.outbound.stop()
        deadline = time.monotonic() + STOP_TIMEOUT
        late = await self._wait(self._loops, deadline)
        joined = asyncio.create_task(self.dispatcher.join(), name="broadcast-workers")
        late += await self._wait([joined], deadline)
        if late:
            await asyncio.wait(late, timeout=CANCELLED_SECONDS)
        await self.scheduler.step_down(max(0.0, deadline - time.monotonic()))

    @staticmethod
    async def _wait(tasks: list[asyncio.Task], deadline: float) -> list[asyncio.Task]:
        """Wait for the tasks until the deadline; cancel and return those still running."""
        if not tasks:
            return []
        _, late = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        for task in late:
            log.warning("%s did not stop in %s s; cancelled", task.get_name(), STOP_TIMEOUT)
            task.cancel()
        return list(late)


@contextlib.asynccontextmanager
async def background(
    svc: Services, dispatch: bool = True, lead: bool = True
) -> AsyncIterator[Supervisor]:
    """Run the process's background work beside the app (or the console); stop it on exit."""
    supervisor = Supervisor(svc.outbound, svc.catalog)
    supervisor.start(sweep=lambda: tasks.sweep(svc), dispatch=dispatch, lead=lead)
    try:
        yield supervisor
    finally:
        await supervisor.stop()
