"""Greeting, help menu, out-of-scope and not-understood answers: never a dead end."""

from __future__ import annotations

from handlers.context import Context
from handlers.messages import Reply
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


THANKS = {
    "thanks",
    "thank you",
    "thanx",
    "thx",
    "thnx",
    "tnx",
    "ty",
    "asante",
    "asante sana",
    "thanks a lot",
    "many thanks",
    "ok thanks",
    "ok thank you",
    "谢谢",
    "谢谢你",
    "谢谢您",
    "多谢",
    "感谢",
    "谢了",
    "好的谢谢",
}


def small_talk(ctx: Context) -> list[Reply] | None:
    """ "thanks" / "谢谢" get a short "you're welcome" (and any open question stays open)."""
    words = ctx.parse.text.strip().lower().strip("!.。！~ ")
    return ctx.say("welcome") if words in THANKS else None
