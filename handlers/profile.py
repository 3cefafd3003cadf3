"""Profile: the user's name and place (the reply language follows what they write); showing it."""

from __future__ import annotations

import re

from handlers import alerts
from handlers.context import Context
from handlers.messages import Reply

MAX_NAME = 64
SHOW = re.compile(
    r"^(?:show |see |view |check )?(?:my )?(?:profile|details|info|account|settings)\??$"
    r"|^(?:查看|看看)?(?:我的)?(?:资料|个人资料|个人信息|信息|账户|账号|设置)[?？]?$"
)
# "I am in X" / "我在X" naming a place the gazetteer does not know.
PLACE_SAID = re.compile(
    r"^(?:i am|i'm|im|i live|we are|we're|we live)\s+(?:in|at|from|near)\s+([a-z][a-z .'-]{1,30})$"
    r"|^(?:located|based|staying) (?:in|at)\s+([a-z][a-z .'-]{1,30})$"
    r"|^我(?:在|住在|住|来自|家在)([\u4e00-\u9fff]{2,8})$"
)


async def set_profile(ctx: Context) -> list[Reply]:
    return await save_profile(ctx, ctx.parse.first("name"), ctx.parse.first("location"))


async def save_profile(ctx: Context, name: str | None, place: str | None) -> list[Reply]:
    """Keep the name and place given (the profile is shown when neither is)."""
    saved = []
    if name and name.strip():
        ctx.user.name = name.strip()[:MAX_NAME]
        saved.append(ctx.text("profile_name", name=ctx.user.name))
    if place:
        ctx.user.place = place
        saved.append(ctx.text("profile_place", place=ctx.place(place)))
    if not saved:
        return await show_profile(ctx)
    return ctx.say("profile_saved", what=("，" if ctx.lang == "zh" else ", ").join(saved))


def asks_profile(ctx: Context) -> bool:
    return bool(SHOW.match(ctx.parse.text.strip().lower().strip("!.。！ ")))


async def show_profile(ctx: Context) -> list[Reply]:
    """Name, place, language and alerts, and how to change them."""
    unset = ctx.text("not_set")
    subs = await alerts.describe_all(ctx)
    return ctx.say(
        "profile",
        name=ctx.user.name or unset,
        place=ctx.place(ctx.user.place) or unset,
        language=ctx.word(ctx.user.language or ctx.default_lang),
        alerts=ctx.text("stopped_all") if ctx.user.opted_out else subs or ctx.text("none"),
    )


def unknown_place(ctx: Context) -> list[Reply] | None:
    """ "我在北京": the place is said to be unknown, with the places that are known."""
    if ctx.parse.first("location"):
        return None
    match = PLACE_SAID.match(ctx.parse.text.strip().lower().strip("!.。！ "))
    if not match:
        return None
    word = next(g for g in match.groups() if g).strip()
    known = [ctx.place(key) for key in _known_places(ctx)[:8]]
    return ctx.say(
        "unknown_place", word=word, places=("、" if ctx.lang == "zh" else ", ").join(known)
    )


def _known_places(ctx: Context) -> list[str]:
    """Place keys to name as examples: those with a name in the reader's script, the market's
    first."""
    places = ctx.catalog.places.values()
    if ctx.lang == "zh":
        return [p.key for p in places if p.display("zh") != p.display("en")]
    kenyan = [p.key for p in places if p.coords and p.coords[0] < 5 and p.coords[1] < 45]
    rest = [p.key for p in places if p.key not in kenyan]
    return kenyan + rest if ctx.market.currency == "KES" else rest + kenyan
