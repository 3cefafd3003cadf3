"""send_quotas: daily provider quotas (WeChat template messages) shared by every process

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_quotas",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "day", name=op.f("pk_send_quotas")),
    )


def downgrade() -> None:
    op.drop_table("send_quotas")
