"""Profile: the user's name and place (the reply language follows what they write)."""

from __future__ import annotations

from bot.messages import Reply
from handlers.context import Context

MAX_NAME = 64


async def set_profile(ctx: Context) -> list[Reply]:
    name, place = ctx.parse.first("name"), ctx.parse.first("location")
    saved = []
    if name and name.strip():
        ctx.user.name = name.strip()[:MAX_NAME]
        saved.append(ctx.text("profile_name", name=ctx.user.name))
    if place:
        ctx.user.place = place
        saved.append(ctx.text("profile_place", place=ctx.place(place)))
    if not saved:
        return ctx.say("ask_profile")
    return ctx.say("profile_saved", what=("，" if ctx.lang == "zh" else ", ").join(saved))
