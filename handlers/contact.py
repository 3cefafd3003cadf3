"""How two traders reach each other: a name asked once, a shared phone, relayed messages."""

from __future__ import annotations

from bot.messages import Reply
from handlers.context import Context


async def ask_name_once(ctx: Context) -> str | None:
    """At a user's first trade: the line asking their name (opening contact.name), else None."""
    return None


async def on_name(ctx: Context) -> list[Reply] | None:
    """The answer to the name question; None when the message is not one."""
    return None


def is_command(ctx: Context) -> bool:
    """Whether the message is a relay ('msg 1023 …') or a phone share."""
    return False


async def command(ctx: Context) -> list[Reply]:
    return []
