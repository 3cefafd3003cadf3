"""Repositories: the queries handlers need, one small class per aggregate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, cast

from sqlalchemy import (
    ColumnDefault,
    Float,
    Insert,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state
from sqlalchemy.sql import ColumnElement, Select

from storage import asking
from storage.fast import Prepared, Transaction
from storage.models import (
    Base,
    BuyRequest,
    Conversation,
    InboundLog,
    Listing,
    MarketPrice,
    Order,
    Outbox,
    Reference,
    Subscription,
    User,
)

if TYPE_CHECKING:
    from storage.db import InsertFn, Upsert

M = TypeVar("M", bound=Base)

REF_OFFSET = 100  # references start at 101, never confused with a choice "1".."9"


# The light rows the prepared SELECTs give (read-only, no ORM object): a namedtuple of the
# statement's columns on SQLite, SQLAlchemy's Row on PostgreSQL, both read by column name.
class UserRow(Protocol):
    """A user's columns (USER_ROW)."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def place(self) -> str | None: ...
    @property
    def language(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def opted_out(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def name_asked_at(self) -> datetime | None: ...


class ArrivalRow(UserRow, Protocol):
    """A sender's columns in order, then their open question's and a past reply's (ARRIVAL)."""

    @property
    def state(self) -> str | None: ...
    @property
    def slots(self) -> dict[str, Any] | None: ...
    @property
    def conv_updated_at(self) -> datetime | None: ...
    @property
    def seen(self) -> str | None: ...
    def __iter__(self) -> Iterator[Any]: ...


class OfferRow(asking.Priced, Protocol):
    """The listing columns ranking an offer needs (CANDIDATES)."""

    @property
    def id(self) -> int: ...
    @property
    def farmer_id(self) -> int: ...
    @property
    def quantity_available(self) -> Decimal: ...
    @property
    def unit(self) -> str: ...
    @property
    def location(self) -> str | None: ...


class OfferedRow(OfferRow, Protocol):
    """An offer with its product, as an order copies it."""

    @property
    def product(self) -> str: ...


class ListingRow(OfferedRow, Protocol):
    """A listing's columns (LISTING_ROW)."""

    @property
    def quantity_total(self) -> Decimal: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...


class PriceRow(Protocol):
    """A published market price's columns (LATEST_PRICES, LATEST_PRICE_AT)."""

    @property
    def id(self) -> int: ...
    @property
    def product(self) -> str: ...
    @property
    def location(self) -> str | None: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def published_by(self) -> int | None: ...
    @property
    def published_at(self) -> datetime: ...


class AskedRow(asking.Priced, Protocol):
    """An asking price and how many listings asked it (storage/asking.py)."""

    @property
    def n(self) -> int: ...


class _CurrencyRow(Protocol):
    """A listing's currency (LATEST_CURRENCY)."""

    @property
    def currency(self) -> str: ...


# The statements every message runs are built once: building one costs more than SQLite's
# work on it, and a reused statement also keeps its memoized compiled-cache key.
_SEEN = (
    select(InboundLog.reply)
    .where(
        InboundLog.channel == bindparam("channel"),
        InboundLog.message_id == bindparam("message_id"),
    )
    .scalar_subquery()
)
_USER = User.__table__.c
_USER_KEYS = [c.key for c in _USER]
ARRIVAL: Prepared[ArrivalRow] = Prepared(
    select(
        *_USER,
        Conversation.state,
        Conversation.slots,
        Conversation.updated_at.label("conv_updated_at"),
        _SEEN.label("seen"),
    )
    .outerjoin(Conversation, Conversation.user_id == User.id)
    .where(User.channel == bindparam("channel"), User.address == bindparam("address"))
)
USER_ROW: Prepared[UserRow] = Prepared(select(*_USER).where(User.id == bindparam("id")))
# PostgreSQL: the sender's row, locked until the commit (one message of a user at a time)
LOCK_ADDRESS: Prepared[Sequence[Any]] = Prepared(
    select(User.id)
    .where(User.channel == bindparam("channel"), User.address == bindparam("address"))
    .with_for_update()
)
OPT_OUT = Prepared(update(User).where(User.id == bindparam("b_id")).values(opted_out=True))
_USER_COLUMNS = frozenset(User.__table__.c.keys())
_USER_UPDATES: dict[frozenset[str], Prepared[Any]] = {}


def _user_update(keys: frozenset[str]) -> Prepared[Any]:
    """UPDATE users SET <these columns> WHERE id = :b_id, built once per set of columns."""
    found = _USER_UPDATES.get(keys)
    if found is None:
        values: dict[str, Any] = {key: bindparam(f"b_{key}") for key in sorted(keys)}
        stmt = update(User).where(User.id == bindparam("b_id")).values(values)
        found = _USER_UPDATES[keys] = Prepared(stmt)
    return found


TOUCH_USER = Prepared(
    update(User)
    .where(User.id == bindparam("b_id"))
    .values(
        role=bindparam("b_role"),
        language=bindparam("b_language"),
        last_seen_at=bindparam("b_seen"),
    )
)


def _candidates(
    lateral: bool = False,
) -> Select[int, int, Decimal, str, str | None, Decimal, str, str]:
    """Offers for a buyer, thinned in SQL: listings in the same (place, unit, price unit,
    currency) rank among themselves by stock, then price, then id (handlers/buy.rank), so
    only each group's k cheapest with enough stock and k cheapest without can reach the top k.
    Whether stock is enough is decided in SQL with a tolerance either way (a listing near the
    line counts on both sides), so rounding can only keep a row too many, never drop one;
    handlers/buy.rank then ranks what is left exactly, with Decimals.

    Each group's k cheapest are read from ix_listings_offers in price order, so a buy costs a
    few index entries per group, not a sort of every listing of the product; the k cheapest
    short of stock are looked for only in a group that has fewer than k with plenty (only
    then can one of them be in its top k).

    lateral: each group's k cheapest as a LATERAL subquery (PostgreSQL), for PostgreSQL does
    not run `pick.id IN (<the group's k cheapest>)` once per group but tests it for every pair
    of a group and a listing; SQLite has no LATERAL and runs the IN form per group."""
    kg = case(KG_PER_UNIT, value=Listing.unit)  # NULL: a count unit, no weight
    surplus = case(
        (
            Listing.unit == bindparam("want_unit"),
            Listing.quantity_available - bindparam("need", type_=Float),
        ),
        else_=Listing.quantity_available * kg - bindparam("need_kg", type_=Float),
    )
    tol = bindparam("tol", type_=Float)
    offered = (
        Listing.product == bindparam("product"),
        Listing.status == "active",
        Listing.expires_at > bindparam("now"),
        Listing.quantity_available > 0,
        Listing.farmer_id != bindparam("buyer"),
    )
    groups = (
        select(Listing.location, Listing.unit, Listing.price_unit, Listing.currency)
        .where(*offered)
        .distinct()
        .cte("offer_groups")
    )
    in_group = (
        Listing.location.is_not_distinct_from(groups.c.location),
        Listing.unit == groups.c.unit,
        Listing.price_unit == groups.c.price_unit,
        Listing.currency == groups.c.currency,
    )

    def cheapest(*condition: ColumnElement[bool]) -> Select[int]:  # a group's k cheapest
        return (
            select(Listing.id)
            .where(*offered, *in_group, *condition)
            .order_by(Listing.price, Listing.id)
            .limit(bindparam("k"))
        )

    # NULL: units that do not convert (bags for kg); such a group ranks by price alone
    plenty_for_all = (
        select(Listing.id)
        .where(*offered, *in_group, or_(surplus > tol, surplus.is_(None)))
        .limit(1)
        .offset(bindparam("k_minus_1"))
        .exists()
    )
    enough, short = or_(surplus >= -tol, surplus.is_(None)), surplus <= tol

    def picked(condition: ColumnElement[bool]) -> Select[int]:  # each group's k cheapest
        if lateral:
            found = cheapest(condition).lateral()
            return select(found.c.id).select_from(groups.join(found, true()))
        pick = Listing.__table__.alias("pick")
        return select(pick.c.id).select_from(groups.join(pick, pick.c.id.in_(cheapest(condition))))

    ids = union(picked(enough), picked(short).where(~plenty_for_all))
    return select(
        Listing.id,
        Listing.farmer_id,
        Listing.quantity_available,
        Listing.unit,
        Listing.location,
        Listing.price,
        Listing.price_unit,
        Listing.currency,
    ).where(Listing.id.in_(ids))


# kg per weight unit, as handlers/units.py has it (a count unit has none); floats are close
# enough here because the thinning keeps rows near the line on both sides
KG_PER_UNIT = {"kg": 1.0, "jin": 0.5, "ton": 1000.0, "g": 0.001, "lb": 0.45359237}
CANDIDATES: Prepared[OfferRow] = Prepared(_candidates(), {"postgresql": _candidates(lateral=True)})
_NEWEST_FIRST = (MarketPrice.published_at.desc(), MarketPrice.id.desc())


def _latest_prices() -> Select[Any]:
    """The newest price of each market (location; NULL is one market), newest first: each
    market's newest moment off ix_market_prices_latest, then its rows (more than one only
    for prices published at the very same moment; Prices.latest keeps the later)."""
    newest = (
        select(MarketPrice.location, func.max(MarketPrice.published_at).label("at"))
        .where(MarketPrice.product == bindparam("product"))
        .group_by(MarketPrice.location)
        .subquery("newest")
    )
    return (
        select(*MarketPrice.__table__.c)
        .join(
            newest,
            and_(
                MarketPrice.location.is_not_distinct_from(newest.c.location),
                MarketPrice.published_at == newest.c.at,
            ),
        )
        .where(MarketPrice.product == bindparam("product"))
        .order_by(*_NEWEST_FIRST)
    )


LATEST_PRICES: Prepared[PriceRow] = Prepared(_latest_prices())
LATEST_PRICE_AT: Prepared[PriceRow] = Prepared(
    select(*MarketPrice.__table__.c)
    .where(
        MarketPrice.product == bindparam("product"), MarketPrice.location == bindparam("location")
    )
    .order_by(*_NEWEST_FIRST)
    .limit(1)
)
LISTING_ROW: Prepared[ListingRow] = Prepared(
    select(*Listing.__table__.c).where(Listing.id == bindparam("id"))
)
# a farmer's newest listing, whatever its status (references grow with time); SQLite reads it
# off the farmer_id index, which keeps a farmer's rows in id order
LATEST_CURRENCY: Prepared[_CurrencyRow] = Prepared(
    select(Listing.currency)
    .where(Listing.farmer_id == bindparam("farmer"))
    .order_by(Listing.id.desc())
    .limit(1)
)
RESERVE = Prepared(
    update(Listing)
    .where(
        Listing.id == bindparam("listing_id"),
        Listing.status == "active",
        Listing.expires_at > bindparam("now"),
        Listing.quantity_available >= bindparam("qty"),
    )
    .values(
        quantity_available=Listing.quantity_available - bindparam("qty"),
        updated_at=bindparam("now"),
    )
)
BY_ADDRESS = select(User).where(
    User.channel == bindparam("channel"), User.address == bindparam("address")
)
_OPEN = (
    BuyRequest.product == bindparam("product"),
    BuyRequest.status == "open",
    BuyRequest.expires_at > bindparam("now"),
)
OPEN_REQUESTS = select(BuyRequest).where(*_OPEN).order_by(BuyRequest.id)
ANY_OPEN_REQUEST: Prepared[Sequence[Any]] = Prepared(select(BuyRequest.id).where(*_OPEN).limit(1))


_NEW_USER = {
    "channel": bindparam("channel"),
    "address": bindparam("address"),
    "language": bindparam("language"),
    "role": bindparam("role"),
    "opted_out": False,
    "created_at": bindparam("now"),
    "last_seen_at": bindparam("now"),
}
CREATE_USER = Prepared.per_dialect(
    lambda insert: (
        insert(User)
        .values(**_NEW_USER)
        .on_conflict_do_nothing(index_elements=["channel", "address"])
    )
)
_CONV = cast(Table, Conversation.__table__)  # a declared model's table is a Table


def _all_columns(table: Table) -> Insert:
    """An INSERT that names every column but a generated id (the fast path applies no
    Python-side defaults); the parameters are b_<column>."""
    return table.insert().values(
        {
            c.key: bindparam(f"b_{c.key}", type_=c.type)
            for c in table.c
            if not (c.primary_key and c.autoincrement is not False and c.key == "id")
        }
    )


INSERT_INBOUND = Prepared(_all_columns(cast(Table, InboundLog.__table__)))
INSERT_OUTBOX = Prepared(_all_columns(cast(Table, Outbox.__table__)))
INSERT_LISTING = Prepared(_all_columns(cast(Table, Listing.__table__)))
INSERT_ORDER = Prepared(_all_columns(cast(Table, Order.__table__)))
INSERT_REF = Prepared(cast(Table, Reference.__table__).insert().values(kind=bindparam("kind")))


def _save_conversation(insert: InsertFn) -> Upsert:
    stmt = insert(_CONV).values(
        user_id=bindparam("b_user"),
        state=bindparam("b_state"),
        slots=bindparam("b_slots", type_=_CONV.c.slots.type),
        updated_at=bindparam("b_now", type_=_CONV.c.updated_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=["user_id"],
        set_={
            "state": stmt.excluded.state,
            "slots": stmt.excluded.slots,
            "updated_at": stmt.excluded.updated_at,
        },
    )


SAVE_CONVERSATION = Prepared.per_dialect(_save_conversation)
CLEAR_CONVERSATION = Prepared(_CONV.delete().where(_CONV.c.user_id == bindparam("b_user")))


def persistent(session: AsyncSession, cls: type[M], values: Mapping[str, Any]) -> M:
    """An ORM object for a row read by a prepared statement, in the session as if it had been
    loaded (later changes to it are flushed as an UPDATE; nothing is written now). The values
    go straight into the new instance's dict, as the ORM's own loading does, rather than
    through the constructor's attribute events, which would only be reset afterwards."""
    obj: M = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    return _as_loaded(session, obj)


def _as_loaded(session: AsyncSession, obj: M) -> M:
    """obj, whose row is in the database, put in the session as if a query had loaded it."""
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def _row(cls: type[Base], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of cls given, for INSERT_* (b_<column>)."""
    return {f"b_{c.key}": values.get(c.key) for c in cls.__table__.c}


def _touched(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an UPDATE or DELETE touched (its result is a CursorResult, typed as any Result)."""
    return cast(CursorResult[Any], result).rowcount


class _Repo:
    def __init__(self, session: AsyncSession, uow: Transaction):
        self.s, self.uow = session, uow


class OpenQuestion(NamedTuple):
    """A user's conversation row as read (it is written with SAVE_CONVERSATION, not the ORM)."""

    state: str
    slots: dict[str, Any]
    updated_at: datetime


class Arrival(NamedTuple):
    """What the gateway needs first about a message: its sender, their open question, a past
    reply."""

    user: User
    conversation: OpenQuestion | None
    seen_reply: str | None


def _open_question(row: ArrivalRow) -> OpenQuestion | None:
    """The sender's open question; None when the outer join found no conversation (its
    columns are all NULL then, and never NULL otherwise)."""
    if row.state is None or row.conv_updated_at is None:
        return None
    return OpenQuestion(row.state, row.slots or {}, row.conv_updated_at)


class Users(_Repo):
    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    async def by_address(self, channel: str, address: str) -> User | None:
        return (
            await self.s.execute(BY_ADDRESS, {"channel": channel, "address": address})
        ).scalar_one_or_none()

    async def get_or_create(
        self, channel: str, address: str, now: datetime, role: str, language: str = ""
    ) -> User:
        """Insert-if-absent is atomic, so two processes meeting a new user make one row."""
        existing = await self.by_address(channel, address)
        if existing is not None:  # the usual case: one SELECT, no write
            return existing
        await self._create(channel, address, now, role, language)
        created = await self.by_address(channel, address)
        assert created is not None, "the row is there once inserted (by this or another process)"
        return created

    async def _create(
        self, channel: str, address: str, now: datetime, role: str, language: str = ""
    ) -> int:
        """Insert the user unless the address has one; 1 if this inserted it, else 0."""
        return await CREATE_USER.run(
            self.uow,
            {
                "channel": channel,
                "address": address,
                "role": role,
                "now": now,
                "language": language,
            },
        )

    async def arrive(
        self,
        channel: str,
        address: str,
        message_id: str,
        now: datetime,
        role: str,
        language: str = "",
    ) -> Arrival:
        """The sender (created if new, in language; row-locked on PostgreSQL before anything is
        read), the open conversation and the reply already given to this message id, in one
        SELECT."""
        if self._postgres():
            await self._lock_address(channel, address, now, role, language)
        params = {"channel": channel, "address": address, "message_id": message_id}
        row = await ARRIVAL.first(self.uow, params)
        if row is None:
            await self._create(channel, address, now, role, language)
            row = await ARRIVAL.first(self.uow, params)
            assert row is not None, "the sender's row is there once inserted (insert-if-absent)"
        user = self.s.identity_map.get(self._key(row.id)) or persistent(
            self.s, User, dict(zip(_USER_KEYS, row, strict=False))
        )
        return Arrival(user, _open_question(row), row.seen)

    @staticmethod
    def _key(user_id: int) -> tuple[type[User], tuple[Any, ...], Any]:
        return User.__mapper__.identity_key_from_primary_key((user_id,))

    async def row(self, user_id: int) -> UserRow | None:
        """A user's columns as a light read-only row (no ORM object), or None."""
        return await USER_ROW.first(self.uow, {"id": user_id})

    async def write_changes(self) -> None:
        """Write what the message changed of its users (a place, a name, when the name was
        asked, an opt-out) with one prepared UPDATE each, so the commit has none of them to
        flush: the ORM's flush of one changed row costs more than the rest of a message."""
        for user in [obj for obj in self.s.dirty if type(obj) is User]:
            state = instance_state(user)
            changed = {
                key: getattr(user, key)
                for key in state.committed_state
                if key in _USER_COLUMNS and key != "id"
            }
            if not changed or user.id is None:
                continue
            update_of = _user_update(frozenset(changed))
            await update_of.run(
                self.uow, {"b_id": user.id, **{f"b_{k}": v for k, v in changed.items()}}
            )
            # written: what the row now holds is what the object holds, nothing left to flush
            # (semi-private, checked by tests/test_dependencies.py)
            state._commit_all(state.dict, self.s.sync_session.identity_map)

    async def touch(self, user: User, role: str, language: str, seen: datetime) -> None:
        """Write the user's role, language and last-seen time (one prepared UPDATE, no flush)."""
        await TOUCH_USER.run(
            self.uow, {"b_id": user.id, "b_role": role, "b_language": language, "b_seen": seen}
        )
        for key, value in (("role", role), ("language", language), ("last_seen_at", seen)):
            set_committed_value(user, key, value)

    async def _lock_address(
        self, channel: str, address: str, now: datetime, role: str, language: str
    ) -> None:
        # READ COMMITTED takes a new snapshot per statement, so what is read after this lock is
        # what the previous holder committed; SQLite needs none (BEGIN IMMEDIATE serializes).
        where = {"channel": channel, "address": address}
        if await LOCK_ADDRESS.first(self.uow, where) is not None:
            return
        # a new user: the row this transaction inserts is locked by it until the commit; when
        # another transaction inserted it first, the INSERT waited for that one to end
        if not await self._create(channel, address, now, role, language):
            await LOCK_ADDRESS.first(self.uow, where)

    def _postgres(self) -> bool:
        bind = self.s.bind
        assert bind is not None, "every unit of work is bound to the database engine"
        return bind.dialect.name == "postgresql"

    async def mark_opted_out(self, user_ids: Iterable[int]) -> None:
        """Users a provider reported as opted out (STOP at Twilio, a blocked account)."""
        for user_id in user_ids:
            await OPT_OUT.run(self.uow, {"b_id": user_id})


class References(_Repo):
    async def allocate(self, kind: str) -> int:
        return await INSERT_REF.insert(self.uow, {"kind": kind}) + REF_OFFSET


async def _add_prepared(repo: _Repo, insert: Prepared, obj: M) -> M:
    """INSERT obj's columns with a prepared statement, then keep obj in the session as loaded."""
    table = cast(Table, type(obj).__table__)
    values = {c.key: getattr(obj, c.key) for c in table.c}
    for column in table.c:  # the model's Python-side defaults, as a flush would
        default = column.default
        if values[column.key] is None and isinstance(default, ColumnDefault) and default.is_scalar:
            values[column.key] = default.arg
            setattr(obj, column.key, default.arg)
    await insert.run(repo.uow, _row(type(obj), values))
    return _as_loaded(repo.s, obj)


class Listings(_Repo):
    async def add(self, listing: Listing) -> Listing:
        return await _add_prepared(self, INSERT_LISTING, listing)

    async def row(self, listing_id: int) -> ListingRow | None:
        """A listing's columns as a light read-only row, or None."""
        return await LISTING_ROW.first(self.uow, {"id": listing_id})

    async def get(self, listing_id: int) -> Listing | None:
        return await self.s.get(Listing, listing_id)

    async def candidates(
        self,
        product: str,
        now: datetime,
        buyer_id: int,
        want_unit: str,
        need: Decimal,
        need_kg: Decimal | None,
        k: int,
    ) -> list[OfferRow]:
        """Active listings of a product with stock, not the buyer's own, as light rows (the columns
        ranking needs): within each group that ranks alike (place, units, currency) only the k
        cheapest with enough stock and the k cheapest without, which hold the k best of all."""
        tolerance = 1e-6 * max(1.0, float(need_kg if need_kg is not None else need))
        return await CANDIDATES.all(
            self.uow,
            {
                "product": product,
                "now": now,
                "buyer": buyer_id,
                "want_unit": want_unit,
                "need": float(need),
                "need_kg": None if need_kg is None else float(need_kg),
                "tol": tolerance,
                "k": k,
                "k_minus_1": k - 1,
            },
        )

    async def active(self, product: str, now: datetime) -> list[Listing]:
        q = select(Listing).where(
            Listing.product == product,
            Listing.status == "active",
            Listing.expires_at > now,
            Listing.quantity_available > 0,
        )
        return list((await self.s.execute(q)).scalars())

    async def of_farmer(
        self, farmer_id: int, now: datetime, product: str | None = None
    ) -> list[Listing]:
        q = select(Listing).where(
            Listing.farmer_id == farmer_id, Listing.status == "active", Listing.expires_at > now
        )
        if product:
            q = q.where(Listing.product == product)
        return list((await self.s.execute(q.order_by(Listing.id))).scalars())

    async def latest_currency(self, farmer_id: int) -> str | None:
        """The currency of the farmer's most recent listing, or None before the first."""
        row = await LATEST_CURRENCY.first(self.uow, {"farmer": farmer_id})
        return row.currency if row else None

    async def reserve(self, listing_id: int, qty: Decimal, now: datetime) -> bool:
        """Take stock only if enough is left: one atomic conditional update, no double sale."""
        params = {"listing_id": listing_id, "now": now, "qty": qty}
        return await RESERVE.run(self.uow, params) == 1

    async def release(self, listing_id: int, qty: Decimal, now: datetime) -> None:
        stmt = (
            update(Listing)
            .where(Listing.id == listing_id)
            .values(quantity_available=Listing.quantity_available + qty, updated_at=now)
        )
        await self.s.execute(stmt)

    async def expire(self, now: datetime) -> int:
        stmt = update(Listing).where(Listing.status == "active", Listing.expires_at <= now)
        return _touched(await self.s.execute(stmt.values(status="expired", updated_at=now)))

    async def asked_between(
        self, product: str, start: datetime, end: datetime
    ) -> Sequence[AskedRow]:
        """(price, price_unit, currency, n): the asking prices of a product's listings offered in
        [start, end), whatever their status now, each with how many listings asked it (one row
        per distinct price, so a busy market costs a few rows, not one per listing). The
        part made more than a couple of hours ago comes from this process's memory
        (storage/asking.py)."""
        return await asking.asked_between(self.uow, product, start, end)


class Orders(_Repo):
    async def add(self, order: Order) -> Order:
        return await _add_prepared(self, INSERT_ORDER, order)

    async def get(self, order_id: int) -> Order | None:
        return await self.s.get(Order, order_id)

    async def pending_for_farmer(self, farmer_id: int) -> list[Order]:
        q = select(Order).where(Order.farmer_id == farmer_id, Order.status == "pending")
        return list((await self.s.execute(q.order_by(Order.id))).scalars())

    async def pending_for_listing(self, listing_id: int) -> list[Order]:
        q = select(Order).where(Order.listing_id == listing_id, Order.status == "pending")
        return list((await self.s.execute(q)).scalars())

    async def of_user(self, user_id: int, limit: int = 5) -> list[Order]:
        q = select(Order).where((Order.buyer_id == user_id) | (Order.farmer_id == user_id))
        return list((await self.s.execute(q.order_by(Order.id.desc()).limit(limit))).scalars())

    async def overdue(self, now: datetime, limit: int = 100) -> list[Order]:
        q = select(Order).where(Order.status == "pending", Order.expires_at <= now)
        return list((await self.s.execute(q.order_by(Order.id).limit(limit))).scalars())

    async def asked_by(self, notice_ids: Sequence[int]) -> list[Order]:
        """The pending orders that these notifications asked their farmer to answer: a notice
        to the order's farmer written in the transaction that placed it (the same moment)."""
        asked = (
            select(Outbox.id)
            .where(
                Outbox.id.in_(list(notice_ids)),
                Outbox.broadcast_id.is_(None),
                Outbox.kind == "notification",
                Outbox.user_id == Order.farmer_id,
                Outbox.created_at == Order.created_at,
            )
            .exists()
        )
        q = select(Order).where(Order.status == "pending", asked).order_by(Order.id)
        return list((await self.s.execute(q)).scalars())

    async def transition(self, order: Order, frm: tuple[str, ...], to: str, now: datetime) -> bool:
        """Move an order on only from an expected status, so accept and expiry cannot both win."""
        stmt = (
            update(Order)
            .where(Order.id == order.id, Order.status.in_(frm))
            .values(status=to, decided_at=now)
        )
        if _touched(await self.s.execute(stmt)) != 1:
            return False
        order.status, order.decided_at = to, now
        return True


class Prices(_Repo):
    async def add(self, price: MarketPrice) -> MarketPrice:
        self.s.add(price)
        await self.s.flush()
        return price

    async def latest(self, product: str, location: str | None = None) -> list[PriceRow]:
        """The newest published price per market (one market when location is given), as light
        read-only rows with MarketPrice's columns, newest first."""
        if location:
            return await LATEST_PRICE_AT.all(self.uow, {"product": product, "location": location})
        newest: dict[str | None, PriceRow] = {}
        for row in await LATEST_PRICES.all(self.uow, {"product": product}):
            newest.setdefault(row.location, row)  # of two at the same moment, the later
        return list(newest.values())


class BuyRequests(_Repo):
    async def add(self, request: BuyRequest) -> BuyRequest:
        self.s.add(request)
        await self.s.flush()
        return request

    async def open_for(self, product: str, now: datetime) -> list[BuyRequest]:
        params = {"product": product, "now": now}
        if (
            await ANY_OPEN_REQUEST.first(self.uow, params) is None
        ):  # the usual case: a cheap look first
            return []
        return list((await self.s.execute(OPEN_REQUESTS, params)).scalars())


class Subscriptions(_Repo):
    async def add(self, sub: Subscription) -> Subscription:
        self.s.add(sub)
        await self.s.flush()
        return sub

    async def active_of(self, user_id: int) -> list[Subscription]:
        q = select(Subscription).where(
            Subscription.user_id == user_id, Subscription.active.is_(True)
        )
        return list((await self.s.execute(q)).scalars())

    async def deactivate_plain(self, user_id: int, product: str, location: str | None) -> int:
        """End the user's subscriptions to product and place that have no threshold."""
        stmt = update(Subscription).where(
            Subscription.user_id == user_id,
            Subscription.active.is_(True),
            Subscription.product == product,
            Subscription.direction.is_(None),
            Subscription.location.is_(None)
            if location is None
            else Subscription.location == location,
        )
        return _touched(await self.s.execute(stmt.values(active=False)))

    async def deactivate(self, user_id: int, product: str | None = None) -> int:
        stmt = update(Subscription).where(
            Subscription.user_id == user_id, Subscription.active.is_(True)
        )
        if product:
            stmt = stmt.where(Subscription.product == product)
        return _touched(await self.s.execute(stmt.values(active=False)))


class Conversations(_Repo):
    async def save(
        self, user_id: int, state: str, slots: Mapping[str, Any], now: datetime
    ) -> None:
        """Open or replace the user's question (one upsert, no ORM flush)."""
        await SAVE_CONVERSATION.run(
            self.uow, {"b_user": user_id, "b_state": state, "b_slots": dict(slots), "b_now": now}
        )

    async def clear(self, user_id: int) -> None:
        await CLEAR_CONVERSATION.run(self.uow, {"b_user": user_id})


class Inbound(_Repo):
    async def find(self, channel: str, message_id: str) -> InboundLog | None:
        q = select(InboundLog).where(
            InboundLog.channel == channel, InboundLog.message_id == message_id
        )
        return (await self.s.execute(q)).scalar_one_or_none()

    async def add(self, **values: Any) -> None:
        """Record the message; IntegrityError if its (channel, message_id) is already there."""
        await INSERT_INBOUND.run(self.uow, _row(InboundLog, values))

    async def count(self) -> int:
        return (await self.s.execute(select(func.count(InboundLog.id)))).scalar_one()


class Outboxes(_Repo):
    async def add(self, row: Outbox) -> Outbox:
        self.s.add(row)
        await self.s.flush()
        return row

    async def insert(self, **values: Any) -> int:
        """A new row without loading it (every column not given is NULL); its id."""
        return await INSERT_OUTBOX.insert(self.uow, _row(Outbox, values))
