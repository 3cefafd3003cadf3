"""PostgreSQL: trigram indexes for finding users by any part of a name or number

The dashboard's searches (users, and listings and orders by their farmer or buyer) look for a
part of a name, an address or a phone number anywhere in it: `lower(name) LIKE '%wanjiru%'`.
No b-tree helps there; pg_trgm's GIN indexes do, for a part of three characters or more
(storage/moderation.py searches a shorter part without them). pg_trgm ships with PostgreSQL
and is a trusted extension (PostgreSQL 13 and newer): the database's owner may create it.
Where it cannot be created the indexes are left out, with a warning, and searches read every
user as before. SQLite has no such index; its searches read the users table, which is fast
enough at a market's size (docs/benchmarks.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 02:10:00
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
INDEXES = {
    "ix_users_name_trgm": "lower(name) gin_trgm_ops",
    "ix_users_address_trgm": "address gin_trgm_ops",
    "ix_users_phone_trgm": "phone gin_trgm_ops",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): searches read every user", exc.orig)
        return
    for name, expression in INDEXES.items():
        bind.execute(
            sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON users USING gin ({expression})")
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in INDEXES:
        bind.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
