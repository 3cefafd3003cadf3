"""Which currency a price is in when the message names none (SPEC §4)."""

from __future__ import annotations

from handlers.context import Context
from storage.models import Listing


async def currency_for(ctx: Context, stated: str | None, listing: Listing | None = None) -> str:
    """The currency of a price: the one the message states, else (for a change to a listing)
    the listing's, else the deployment's."""
    if stated:
        return stated
    return listing.currency if listing is not None else ctx.market.currency
