"""listings: covering indexes for a buyer's offers and a price answer's asking prices

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OFFERS = [
    "product",
    "status",
    "location",
    "unit",
    "price_unit",
    "currency",
    "price",
    "id",
    "quantity_available",
    "expires_at",
    "farmer_id",
]
ASKED = ["product", "price", "price_unit", "currency", "created_at", "status"]


def upgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index("ix_listings_offers", OFFERS, unique=False)
        batch_op.create_index("ix_listings_asked", ASKED, unique=False)
        batch_op.drop_index("ix_listings_product_status")  # the offers index starts with it


def downgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index("ix_listings_product_status", ["product", "status"], unique=False)
        batch_op.drop_index("ix_listings_asked")
        batch_op.drop_index("ix_listings_offers")
