"""SQLAlchemy 2 models. Money and quantities are Numeric (Decimal in Python), never float."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Qty = Numeric(14, 3)
Money = Numeric(14, 2)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


When = UTCDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_users_channel_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(64))
    place: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(When)
    last_seen_at: Mapped[datetime] = mapped_column(When)
    # reaching the other trader (migration 0008): a phone the user shared (E.164), and when
    # the name question was asked, so it is asked once
    phone: Mapped[str | None] = mapped_column(String(16))
    name_asked_at: Mapped[datetime | None] = mapped_column(When)
    # the dashboard account this address belongs to (migration 0010): its coordinator by chat
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    # a person answers this user from the dashboard until then; the bot stays quiet meanwhile
    handoff_until: Mapped[datetime | None] = mapped_column(When)
    handoff_by: Mapped[str | None] = mapped_column(String(64))  # the account's name


class Reference(Base):
    """One counter for listing and order references, so a number names one thing."""

    __tablename__ = "refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (
        # a buyer's offers: each (place, unit, price unit, currency) group of a product's active
        # listings in price order, with the columns the offer query filters on (repos._candidates)
        Index(
            "ix_listings_offers",
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
        ),
        # a price answer's asking prices of a week: one range of it (storage.asking)
        Index(
            "ix_listings_asked_by_time",
            "product",
            "created_at",
            "price",
            "price_unit",
            "currency",
            "status",
        ),
        Index("ix_listings_created_at", "created_at"),  # the dashboard's new listings
        Index("ix_listings_product_id", "product", "id"),  # a product's listings, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    farmer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    quantity_total: Mapped[Decimal] = mapped_column(Qty)
    quantity_available: Mapped[Decimal] = mapped_column(Qty)
    unit: Mapped[str] = mapped_column(String(8))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    price_unit: Mapped[str] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_at: Mapped[datetime] = mapped_column(When)
    updated_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime] = mapped_column(When)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_created_at", "created_at"),)  # the dashboard's lists

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    farmer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(Qty)
    unit: Mapped[str] = mapped_column(String(8))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    price_unit: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime] = mapped_column(When)
    decided_at: Mapped[datetime | None] = mapped_column(When)


class MarketPrice(Base):
    __tablename__ = "market_prices"
    __table_args__ = (
        Index("ix_market_prices_product_time", "product", "published_at"),
        # each market's newest price, for the whole board (storage/dashboard.latest_prices)
        Index("ix_market_prices_latest", "product", "location", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    unit: Mapped[str] = mapped_column(String(8))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(When)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(5))
    threshold: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    unit: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(When)
    # instant: every broadcast about the product; daily: the digest only (threshold alerts
    # are instant subscriptions with a direction and threshold). Migration 0004.
    mode: Mapped[str] = mapped_column(String(8), default="instant", server_default="instant")


class BuyRequest(Base):
    """A standing request: tell the buyer when a matching listing appears."""

    __tablename__ = "buy_requests"
    __table_args__ = (Index("ix_buy_requests_product_status", "product", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal | None] = mapped_column(Qty)
    unit: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="open")
    matched_listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"))
    created_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime] = mapped_column(When)


class Conversation(Base):
    """The open question per user: a named state and the slots filled so far."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(When)


class InboundLog(Base):
    """Every inbound message once: the dedupe key, the text and the reply given."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_inbound_channel_message"),
        Index("ix_inbound_messages_received_at", "received_at", "channel"),  # the dashboard
        Index("ix_inbound_messages_user_id_id", "user_id", "id"),  # a user's newest messages
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(32))
    reply: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(8), default="done")
    received_at: Mapped[datetime] = mapped_column(When)
    # WeChat (migration 0005): "push" when the reply went by customer service, "p:<job>" when a
    # redelivery answered it passively; the first claim wins, so no process sends it twice.
    reply_via: Mapped[str | None] = mapped_column(String(24))


class Outbox(Base):
    """A message to push to a user (a notification or one recipient of a broadcast)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status", "status"),
        # one message per broadcast and user (NULL broadcast_id: notifications, never equal)
        UniqueConstraint("broadcast_id", "user_id", name="uq_outbox_broadcast_user"),
        Index("ix_outbox_queue", "status", "channel", "id"),  # the broadcast senders' claim
        Index("ix_outbox_sent_at", "sent_at"),  # the dashboard's messages out by day
        Index("ix_outbox_user_id_id", "user_id", "id"),  # a user's newest messages
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="notification")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(When)
    sent_at: Mapped[datetime | None] = mapped_column(When)
    # broadcasts (migration 0004): which one, when a retry is due, when a sender claimed it
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(When)
    claimed_at: Mapped[datetime | None] = mapped_column(When)


class Broadcast(Base):
    """One broadcast: a price, an announcement or a daily digest, sent to its audience once.

    draft → queued (or scheduled → queued at send_at) → sending (recipients resolved into
    the outbox) → done; a draft or scheduled one can be cancelled.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # price | announcement | digest
    # a unique name for runs that must happen once (digest:2026-11-28:apple); NULL otherwise
    key: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    product: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    unit: Mapped[str | None] = mapped_column(String(8))
    # the audience beyond product and place (migration 0010): one channel only (NULL: all),
    # and every user not opted out instead of subscribers only
    channel: Mapped[str | None] = mapped_column(String(16))
    everyone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # language -> text ("" = default)
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    send_at: Mapped[datetime | None] = mapped_column(When)
    recipients: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(When)
    started_at: Mapped[datetime | None] = mapped_column(When)
    finished_at: Mapped[datetime | None] = mapped_column(When)
    summary: Mapped[dict[str, int] | None] = mapped_column(JSON)


class SendPace(Base):
    """Per channel, the earliest time the next message may go: one rate shared by all senders."""

    __tablename__ = "send_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)  # Unix time


class SendQuota(Base):
    """A provider's daily quota as used so far (e.g. WeChat template messages), shared by every
    process; `day` is the quota's own local date (WeChat's resets at midnight Beijing time)."""

    __tablename__ = "send_quotas"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class WeChatToken(Base):
    """The Official Account's access_token, shared by every process; lease: one refresher."""

    __tablename__ = "wechat_tokens"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(1024))  # WeChat: keep 512 at least
    expires_at: Mapped[datetime | None] = mapped_column(When)
    lease_until: Mapped[datetime | None] = mapped_column(When)
    updated_at: Mapped[datetime] = mapped_column(When)


class WeChatContact(Base):
    """When a WeChat user last wrote (customer-service messages for 48 h after) or clicked or
    followed (for 1 minute after)."""

    __tablename__ = "wechat_contacts"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_message_at: Mapped[datetime | None] = mapped_column(When)
    last_event_at: Mapped[datetime | None] = mapped_column(When)


class Account(Base):
    """A person who runs the co-op from the dashboard or the shell: an admin or a coordinator.
    `name_key` is the name case-folded, so that names are unique whatever their case."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | coordinator
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    language: Mapped[str] = mapped_column(String(2), default="")  # "" = deployment default
    created_at: Mapped[datetime] = mapped_column(When)
    updated_at: Mapped[datetime] = mapped_column(When)


class AuditEntry(Base):
    """Who changed what about the accounts, and when; actor is an account name or 'shell'."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(When)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON text


class WebSession(Base):
    """A dashboard login. The cookie carries the secret; only its SHA-256 is kept here, so a
    copied database opens no session. Logging out deletes the row, which ends the session."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_account_id", "account_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the secret
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(When)
    seen_at: Mapped[datetime] = mapped_column(When)


class LoginFailure(Base):
    """A wrong password, by account name and by address, for the login throttle."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128))  # "name:<name key>" or "addr:<address>"
    at: Mapped[datetime] = mapped_column(When)


class ApiToken(Base):
    """A bearer token for /api/v1, made by an admin for an account and acting with its role.
    Only the SHA-256 of the token is kept; a revoked token stays for the record."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the token's first characters, to tell it
    created_at: Mapped[datetime] = mapped_column(When)
    last_used_at: Mapped[datetime | None] = mapped_column(When)
    revoked_at: Mapped[datetime | None] = mapped_column(When)


class AskingStamp(Base):
    """A product's asking-price stamp, given a new random value by the listings table's
    triggers (migration 0013) whenever a change reaches the asking prices a process holds
    (storage/asking.py). Product '': the database's own stamp. Written by the triggers only."""

    __tablename__ = "asking_stamps"

    product: Mapped[str] = mapped_column(String(32), primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger)


class SchedulerLease(Base):
    """Who runs the scheduler behind a pooler in transaction mode: the holder until expires_at
    (storage/schedule.LeaseLeader, migration 0014)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
