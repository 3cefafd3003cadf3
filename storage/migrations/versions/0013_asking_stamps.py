"""Asking-price stamps: what tells a process that its held asking prices are out of date

A price answer counts the asking prices of a product's listings over two weeks. Each process
holds those of listings made more than a couple of hours ago (storage/asking.py), which change
only when such a listing is cancelled or un-cancelled, edited in price, unit, currency,
product or time, deleted, or inserted with a time in the past. Triggers on `listings` give the
product's row in `asking_stamps` a new random stamp when one of those happens, in the
transaction that does it; a process compares the stamp it holds with the one it reads. A
listing made now (a farmer's "sell") changes no stamp: the newest hours are always read.

The row of product '' is the database's own stamp, made here: a database made again (or
another one) never matches what a process held of the one before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# a change that moves a listing into, out of or within the asking prices (storage.asking)
CHANGED = (
    "NEW.product {ne} OLD.product OR NEW.created_at {ne} OLD.created_at"
    " OR NEW.price {ne} OLD.price OR NEW.price_unit {ne} OLD.price_unit"
    " OR NEW.currency {ne} OLD.currency"
    " OR (NEW.status = 'cancelled') {ne} (OLD.status = 'cancelled')"
)
COLUMNS = "product, created_at, price, price_unit, currency, status"
# a listing inserted with a time older than this: in the past a process may hold
INSERTED_LATE = {
    "sqlite": "NEW.created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 hour')",
    "postgresql": "NEW.created_at < now() - interval '1 hour'",
}
RANDOM = {"sqlite": "random()", "postgresql": "floor(random() * 9007199254740991)::bigint"}


def _stamp(dialect: str, product: str) -> str:
    return (
        f"INSERT INTO asking_stamps (product, stamp) VALUES ({product}, {RANDOM[dialect]}) "
        "ON CONFLICT (product) DO UPDATE SET stamp = excluded.stamp;"
    )


def upgrade() -> None:
    op.create_table(
        "asking_stamps",
        sa.Column("product", sa.String(32), primary_key=True),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    op.execute(f"INSERT INTO asking_stamps (product, stamp) VALUES ('', {RANDOM[dialect]})")
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER tr_listings_asking_insert AFTER INSERT ON listings "
            f"WHEN {INSERTED_LATE[dialect]} BEGIN {_stamp(dialect, 'NEW.product')} END"
        )
        op.execute(
            f"CREATE TRIGGER tr_listings_asking_update AFTER UPDATE OF {COLUMNS} ON listings "
            f"WHEN {CHANGED.format(ne='IS NOT')} BEGIN {_stamp(dialect, 'OLD.product')} "
            f"{_stamp(dialect, 'NEW.product')} END"
        )
        op.execute(
            "CREATE TRIGGER tr_listings_asking_delete AFTER DELETE ON listings "
            f"BEGIN {_stamp(dialect, 'OLD.product')} END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION farmchat_asking_stamp() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ "
            "BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {_stamp(dialect, 'OLD.product')} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_stamp(dialect, 'NEW.product')} END IF; "
            "RETURN NULL; END $$"
        )
        run = "FOR EACH ROW {when} EXECUTE FUNCTION farmchat_asking_stamp()"
        op.execute(
            "CREATE TRIGGER tr_listings_asking_insert AFTER INSERT ON listings "
            + run.format(when=f"WHEN ({INSERTED_LATE[dialect]})")
        )
        op.execute(
            f"CREATE TRIGGER tr_listings_asking_update AFTER UPDATE OF {COLUMNS} ON listings "
            + run.format(when=f"WHEN ({CHANGED.format(ne='IS DISTINCT FROM')})")
        )
        op.execute(
            "CREATE TRIGGER tr_listings_asking_delete AFTER DELETE ON listings "
            + run.format(when="")
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("insert", "update", "delete"):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS tr_listings_asking_{name} ON listings")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS tr_listings_asking_{name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS farmchat_asking_stamp()")
    op.drop_table("asking_stamps")
