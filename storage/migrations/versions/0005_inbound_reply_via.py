"""inbound_messages.reply_via: which delivery carried a WeChat reply, across processes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("reply_via", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("reply_via")
