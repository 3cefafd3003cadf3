"""Console channel: talk to the bot as any user; /as switches user mid-session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from bot.channels.addresses import e164
from bot.gateway import Gateway, utcnow
from handlers.messages import InboundMessage

CHANNEL = "console"
BANNER = (
    "farmchat console - you are {who}. Type a message; /as +254700000002 switches user, "
    "/quit ends."
)


async def _read(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def chat(
    gateway: Gateway,
    address: str,
    write: Callable[[str], None] = print,
    read: Callable[[str], Awaitable[str | None]] = _read,
) -> None:
    """Read lines until /quit or end of input; print the reply to each."""
    write(BANNER.format(who=address))
    while True:
        line = await read(f"{address}> ")
        if line is None or line.strip() in ("/quit", "/exit"):
            return
        if line.startswith("/as"):
            address = _switch(line, address, write)
            continue
        msg = InboundMessage(
            channel=CHANNEL,
            sender=address,
            text=line,
            message_id=uuid.uuid4().hex,
            received_at=utcnow(),
        )
        write(f"bot: {await gateway.handle(msg)}")


def _switch(line: str, current: str, write: Callable[[str], None]) -> str:
    try:
        address = e164(line[3:])
    except ValueError as exc:
        write(f"(not switched: {exc})")
        return current
    write(f"(you are now {address})")
    return address
