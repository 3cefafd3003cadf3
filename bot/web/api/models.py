"""The API's requests and answers. Money and quantities are decimal strings ("4.20"), never
floats; times are ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Money = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
Percent = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.1f}", return_type=str)]
Currency = Literal["CNY", "KES", "INR", "USD"]
PriceUnit = Literal["kg", "jin", "ton", "g", "lb", "litre", "bag", "box", "crate", "piece"]
Channel = Literal["sms", "whatsapp", "wechat", "console"]
Key = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageQuery(Strict):
    cursor: str = Field("", max_length=64, description="`next` of the previous page")
    limit: int = Field(50, ge=1, le=200)


class Me(BaseModel):
    name: str
    role: Literal["admin", "coordinator"]
    language: str


# prices -------------------------------------------------------------------------------------
class Quote(BaseModel):
    market: str | None = Field(description="place key; null: every market")
    price: Money
    currency: str
    unit: str
    published_at: datetime


class Asking(BaseModel):
    currency: str
    unit: str
    low: Money
    high: Money
    median: Money
    listings: int
    change_pct: Percent | None = Field(description="on the week before; null: no listings then")


class ProductPrices(BaseModel):
    product: str
    name_en: str
    name_zh: str
    quotes: list[Quote]
    asking: list[Asking]


class PriceBoard(BaseModel):
    products: list[ProductPrices]


class BoardQuery(Strict):
    product: str = Field("", max_length=32, description="only this product")


class HistoryQuery(Strict):
    days: int = Field(90, ge=1, le=366)


class HistoryPoint(BaseModel):
    market: str | None
    price: Money
    currency: str
    unit: str
    published_at: datetime


class AskedDay(BaseModel):
    day: str = Field(description="local date, YYYY-MM-DD")
    price: Money
    currency: str
    unit: str
    listings: int


class PriceHistory(BaseModel):
    product: str
    prices: list[HistoryPoint]
    asking: list[AskedDay]


class PriceDraft(Strict):
    """A coordinator price to publish: a draft broadcast, previewed; POST
    /broadcasts/{id}/send publishes it and tells the subscribers."""

    product: Key
    price: Annotated[Decimal, Field(gt=0, lt=1_000_000, max_digits=10, decimal_places=2)]
    currency: Currency | None = None
    unit: PriceUnit | None = None
    market: Key | None = None


# broadcasts ---------------------------------------------------------------------------------
class AnnouncementDraft(Strict):
    text: str = Field(min_length=1, max_length=1000, description="for every reader")
    text_en: str = Field("", max_length=1000)
    text_zh: str = Field("", max_length=1000)
    product: Key | None = Field(None, description="only subscribers of this product")
    market: Key | None = Field(None, description="only subscribers (or users) of this place")
    channel: Literal["sms", "whatsapp", "wechat"] | None = None
    everyone: bool = Field(False, description="every user not opted out, not only subscribers")


class Preview(BaseModel):
    audience: int
    by_channel: dict[str, int]
    segments: str = Field(description="SMS segments per message, e.g. '1' or '1-2'")
    cost: str = Field(description="estimated, in the deployment's cost currency")


class Progress(BaseModel):
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


class BroadcastOut(BaseModel):
    id: int
    kind: str
    status: str
    texts: dict[str, str]
    product: str | None
    market: str | None
    price: Money | None
    currency: str | None
    unit: str | None
    channel: str | None
    everyone: bool
    created_at: datetime
    send_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int | None
    progress: Progress
    preview: Preview | None = Field(None, description="for a draft: what confirming would do")


class BroadcastPage(BaseModel):
    items: list[BroadcastOut]
    next: str | None


class Send(Strict):
    send_at: datetime | None = Field(None, description="later (aware ISO 8601); null: now")


# conversations -------------------------------------------------------------------------------
class Line(BaseModel):
    at: datetime
    direction: Literal["in", "out"]
    text: str
    reply: str = ""
    intent: str | None = None
    kind: str = ""
    status: str = ""
    provider_status: str | None = None
    error: str | None = None


class Conversation(BaseModel):
    user: int
    channel: str
    handoff_until: datetime | None
    handoff_by: str | None
    lines: list[Line]


class Answer(Strict):
    text: str = Field(min_length=1, max_length=1000)


# audit ----------------------------------------------------------------------------------------
class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, object]


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next: str | None


class AuditQuery(PageQuery):
    q: str = Field("", max_length=100, description="in who, what or on what")


# subscriptions ------------------------------------------------------------------------------
class SubscriptionOut(BaseModel):
    id: int
    user: int
    product: str | None
    market: str | None
    direction: str | None
    threshold: Money | None
    currency: str | None
    unit: str | None
    mode: str
    created_at: datetime


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next: str | None


class SubscriptionQuery(PageQuery):
    product: str = Field("", max_length=32)
    user: int = Field(0, ge=0, le=2**31 - 1, description="0: every user")
