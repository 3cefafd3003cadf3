"""outbox: provider message id, provider status and error code

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_provider_sid"), ["provider_sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_provider_sid"))
        batch_op.drop_column("error_code")
        batch_op.drop_column("provider_status")
        batch_op.drop_column("provider_sid")
