"""Waiting for farmchat before a fake provider pushes a message to it: a `farmchat serve` just
started answers only once its database and language model are loaded (the first start trains
the model, which can take a minute)."""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import aiohttp

READY_PATH = "/readyz"
DEFAULT_WAIT = 120.0  # seconds
POLL_SECONDS = 0.25


def add_wait_option(parser: argparse.ArgumentParser) -> None:
    """--wait SECONDS: how long a phone waits for farmchat before its first message."""
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        help=f"seconds to wait for farmchat to be ready ({DEFAULT_WAIT:g})",
    )


class NotReady(Exception):
    """farmchat did not answer in time."""


def ready_url(webhook_url: str) -> str:
    """The readiness address of the server a webhook URL points at."""
    parts = urlsplit(webhook_url)
    return urlunsplit((parts.scheme, parts.netloc, READY_PATH, "", ""))


async def wait_ready(
    session: aiohttp.ClientSession, webhook_url: str, timeout: float = DEFAULT_WAIT
) -> None:
    """Return once the server answers GET /readyz with anything but 503 (a 404 is a server
    without that route, still a server); NotReady after `timeout` seconds."""
    url = ready_url(webhook_url)
    deadline = time.monotonic() + timeout
    last = "nothing listening"
    while True:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 503:
                    return
                last = "HTTP 503: not ready yet"
        except aiohttp.ClientConnectorError:
            last = "nothing listening"
        except (TimeoutError, aiohttp.ClientError) as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            raise NotReady(
                f"farmchat did not answer at {url} within {timeout:g} s ({last}); "
                "is `farmchat serve` running there? (--wait SECONDS waits longer)"
            )
        await asyncio.sleep(POLL_SECONDS)
