"""Greeting, help menu, out-of-scope and not-understood answers: never a dead end."""

from __future__ import annotations

from bot.messages import Reply
from handlers.context import Context
from handlers.texts import t


async def greet(ctx: Context) -> list[Reply]:
    name = f" {ctx.user.name}" if ctx.user.name else ""
    return ctx.say("greet", name=name)


async def show_help(ctx: Context) -> list[Reply]:
    return ctx.say("help")


async def out_of_scope(ctx: Context) -> list[Reply]:
    return ctx.say("out_of_scope")


def not_understood(ctx: Context) -> list[Reply]:
    return [Reply(t("not_understood", ctx.lang) + t("help", ctx.lang))]
