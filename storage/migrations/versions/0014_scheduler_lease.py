"""The scheduler's lease: who leads when a pooler in transaction mode sits in front of PostgreSQL

A pooler in transaction mode (PgBouncer's pool_mode = transaction) lends a server connection
for one transaction at a time, so a session's advisory lock would stay with whichever server
connection took it, and be "held" by every client that connection serves next. Behind such a
pooler (`database.transaction_pooling: true`) the leader is the holder of this row's lease,
renewed at each of its checks and taken over by another process once it has run out
(storage/schedule.LeaseLeader). The row is made here, held by nobody.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 19:30:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    free = {"name": "scheduler", "holder": "", "expires_at": datetime(2000, 1, 1, tzinfo=UTC)}
    op.bulk_insert(lease, [free])


def downgrade() -> None:
    op.drop_table("scheduler_lease")
