"""web_sessions, login_failures, api_tokens, users.account_id and handoff_*, broadcasts'
channel and everyone: the dashboard's logins, its throttle, the API's tokens, the addresses
that belong to an account, human hand-off, and audiences beyond subscribers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_web_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("everyone", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index("ix_listings_created_at", "listings", ["created_at"])
    op.create_index(
        "ix_inbound_messages_received_at", "inbound_messages", ["received_at", "channel"]
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("handoff_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handoff_by", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_account_id_accounts"),
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_account_id_accounts"), type_="foreignkey")
        batch_op.drop_column("handoff_by")
        batch_op.drop_column("handoff_until")
        batch_op.drop_column("account_id")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("everyone")
        batch_op.drop_column("channel")
    op.drop_index("ix_orders_created_at", table_name="orders")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_inbound_messages_received_at", table_name="inbound_messages")
    op.drop_index("ix_listings_created_at", table_name="listings")
    op.drop_table("api_tokens")
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_web_sessions_account_id", table_name="web_sessions")
    op.drop_table("web_sessions")
