"""indexes for the dashboard at a market's size and for the price answer's history

- listings (product, id): a product's listings newest first, read 50 at a time;
- listings (product, created_at, price, price_unit, currency, status) in place of
  ix_listings_asked (product, price, ...): a week's asking prices are one range of it, where
  the old order made a price answer walk the product's whole history;
- market_prices (product, location, published_at, id): each market's newest price for the
  whole board off one index;
- inbound_messages and outbox (user_id, id) in place of (user_id): a user's newest messages
  are the end of one range, whichever plan PostgreSQL keeps for the prepared statement.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:00:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ASKED = ["product", "created_at", "price", "price_unit", "currency", "status"]
LATEST = ["product", "location", "published_at", "id"]
OLD_ASKED = ["product", "price", "price_unit", "currency", "created_at", "status"]


def upgrade() -> None:
    op.create_index("ix_listings_product_id", "listings", ["product", "id"])
    op.create_index("ix_listings_asked_by_time", "listings", ASKED)
    op.drop_index("ix_listings_asked", table_name="listings")
    op.create_index("ix_market_prices_latest", "market_prices", LATEST)
    for table in ("inbound_messages", "outbox"):
        op.create_index(f"ix_{table}_user_id_id", table, ["user_id", "id"])
        op.drop_index(f"ix_{table}_user_id", table_name=table)


def downgrade() -> None:
    for table in ("inbound_messages", "outbox"):
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])
        op.drop_index(f"ix_{table}_user_id_id", table_name=table)
    op.drop_index("ix_market_prices_latest", table_name="market_prices")
    op.create_index("ix_listings_asked", "listings", OLD_ASKED)
    op.drop_index("ix_listings_asked_by_time", table_name="listings")
    op.drop_index("ix_listings_product_id", table_name="listings")
