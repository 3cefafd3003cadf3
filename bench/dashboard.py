"""Benchmark: the coordinators' dashboard and API on a market-sized database, and webhooks
while a coordinator pages through it.

    .venv/bin/python bench/dashboard.py [--db sqlite|postgres] [--scale 1.0] [--rounds 30]
        [--rate 500] [--think 0] [--webhook-seconds 20] [--workers 1] [--json PATH]

The database is seeded in bulk (SQLAlchemy Core) as a busy market would have made it: at
scale 1.0, 100,000 users (SMS, WhatsApp and WeChat; Chinese and English; Chinese and Latin
names; a few opted out), 200,000 listings over 120 days, 50,000 orders in every status,
1,000,000 inbound messages over 90 days (each listing's "sell", each order's "buy", "1" and
"yes <ref>", and the everyday price questions, help and chat), the order notices and 300
broadcasts' rows in the outbox, coordinator prices, subscriptions and the audit log. The
seeded SQLite file is kept in .farmchat-cache/ by scale and copied for each run, so a re-run
does not seed again; PostgreSQL (--pg-url) is seeded in place and reused when its seeded rows
are all there (what an earlier run added is deleted first). A kept seed is used for 12 hours
(--max-age-hours), so that none of its pending orders comes due during a run; --reseed seeds
anew.

`farmchat serve` then runs as a process of its own on core 0, with the fake Twilio, this
benchmark and the load generator on core 1. Signed in as an admin (the login form, as a
browser does), the benchmark asks for every page and filtered list, and with a bearer token
every API GET, `--rounds` times each (after warm-ups), round-robin. Server time is what
aiohttp's access logger is told for each request (from taking the request to its last byte
written): the server runs with a timing access logger handed to `web.run_app` by the small
launcher below, the application itself unchanged. The client's time over loopback is
reported beside it (an upper bound of server time).

Last (on SQLite; on PostgreSQL only with --rate), signed Twilio webhooks are offered at
`--rate` per second by the open-loop generator of bench/twilio_load.py (latency from each
request's due time) for `--webhook-seconds`, alone and while one coordinator pages through
the dashboard (back to back, or `--think` seconds apart), alternated A/B twice. Loopback
only; every phase is bounded. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from bench.audience_stall import percentile, stop  # noqa: E402
from bench.broadcast import ensure_pg_database, fresh  # noqa: E402
from bench.twilio_load import (  # noqa: E402
    NUMBER,
    SID,
    TOKEN,
    build_open_loop,
    open_loop,
    wait_up,
    write_requests,
)
from storage import accounts  # noqa: E402
from storage.db import create_engine, head_revision, upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    AuditEntry,
    Broadcast,
    InboundLog,
    Listing,
    MarketPrice,
    Order,
    Outbox,
    Reference,
    Subscription,
    User,
)
from storage.uow import Database  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/farmchat_hc"
PORT, FAKE_PORT = 18280, 18281
ADMIN, PASSWORD = "bench-admin", "bench password 2026"
TARGET_MS = 150.0  # every page and API list at p95 (server time)
WEBHOOK_TARGET_MS = 50.0  # webhook p99 at 500/s offered on SQLite while a coordinator pages
CACHE = ROOT / ".farmchat-cache"
DAY = 86400.0
REF_OFFSET = 100  # storage/repos.py: references start at 101
SEED_TABLE = "bench_dashboard_seed"  # what was seeded, for reuse (this benchmark's own table)

# rows at scale 1.0, and the least at any scale
SIZES = {
    "users": 100_000,
    "listings": 200_000,
    "orders": 50_000,
    "inbound": 1_000_000,
    "subscriptions": 30_000,
    "prices": 6_000,
    "broadcasts": 300,
    "broadcast_rows": 200_000,
    "audit": 20_000,
}
LEAST = {
    "users": 300,
    "listings": 300,
    "orders": 100,
    "inbound": 2_000,
    "subscriptions": 100,
    "prices": 200,
    "broadcasts": 20,
    "broadcast_rows": 400,
    "audit": 100,
}

# `farmchat serve` with a timing access logger: each request with an X-Bench header gets a
# line "<tag> <status> <ms>" in the file named first; then bot.cli.main as the command runs it
SERVE = r"""
import sys
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

LOG = open(sys.argv[1], "a", buffering=1)


class Timing(AbstractAccessLogger):
    def log(self, request, response, time):
        tag = request.headers.get("X-Bench")
        if tag:
            LOG.write(f"{tag} {response.status} {time * 1000:.3f}\n")

    @property
    def enabled(self):
        return True


_run_app = web.run_app


def run_app(app, **kw):
    return _run_app(app, **{**kw, "access_log_class": Timing})


web.run_app = run_app
from bot.cli import main

sys.exit(main(sys.argv[2:]))
"""


def sizes(scale: float) -> dict[str, int]:
    return {k: max(LEAST[k], round(v * scale)) for k, v in SIZES.items()}


# the market's people, goods and words ------------------------------------------------------
CN_PLACES = ["longnan", "wudu", "chengxian", "wenxian", "tanchang", "kangxian", "xihe"]
CN_PLACES += ["lixian", "huixian", "liangdang", "tianshui", "lanzhou", "caoxian", "heze"]
KE_PLACES = ["nairobi", "nakuru", "eldoret", "kisumu", "meru", "mombasa"]
CN_GOODS = ["apple", "walnut", "sichuan_pepper", "potato", "kiwi", "pear", "peach"]
CN_GOODS += ["chili", "garlic", "honey", "tea", "goji", "olive_oil", "jujube", "cabbage", "corn"]
CN_GOODS += ["peanut", "chestnut", "mushroom", "egg", "pork", "tomato", "onion", "rice"]
KE_GOODS = ["avocado", "potato", "kale", "mango", "tomato", "banana", "cassava", "onion"]
KE_GOODS += ["corn", "beans", "milk", "egg", "tea", "chicken", "cabbage"]
PRICE_CNY = {  # a typical farm-gate price per kg
    "walnut": 28,
    "sichuan_pepper": 80,
    "honey": 40,
    "tea": 120,
    "goji": 50,
    "olive_oil": 60,
    "pork": 30,
    "chicken": 24,
    "mushroom": 16,
    "jujube": 14,
    "chestnut": 12,
    "peanut": 9,
    "kiwi": 7,
    "egg": 10,
    "milk": 5,
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜"
GIVEN = ["建国", "秀英", "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳"]
GIVEN += ["杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "文", "华", "红", "玉兰"]
GIVEN += ["志强", "海燕", "春梅", "德胜", "小龙", "永红", "金花", "国强"]
PINYIN = ["Li Wei", "Wang Fang", "Zhang Min", "Liu Yang", "Chen Jie", "Zhao Lei", "Sun Li"]
FIRST = ["Wanjiru", "Kamau", "Otieno", "Achieng", "Mwangi", "Njeri", "Kiprop", "Chebet"]
FIRST += ["Omondi", "Atieno", "Mutua", "Wambui", "Kariuki", "Nyambura", "Odhiambo", "Jepkosgei"]
FIRST += ["Grace", "Peter", "Mary", "John", "Faith", "Joseph", "Esther", "David"]
LAST = ["Kamau", "Otieno", "Mwangi", "Ochieng", "Kiplagat", "Njoroge", "Wekesa", "Mutiso"]
LAST += ["Onyango", "Kibet", "Maina", "Githinji", "Wafula", "Chege", "Korir", "Barasa"]
CHAT_ZH = ["你好", "今天下雨，明天再摘", "收到，谢谢", "市场周五开吗", "我的货还在吗", "多少钱"]
CHAT_ZH += ["可以便宜点吗", "什么时候来拉货", "电话多少", "好的"]
CHAT_EN = ["hi", "thanks", "is the market open friday?", "my listings", "ok", "call me"]
CHAT_EN += ["when will the truck come?", "can you lower the price?", "hello", "who is buying?"]
FRESH_HOURS = 12  # orders this recent may still be pending; a kept seed is used this long
ORDER_STATES = {  # (statuses, weights) of an older order, and of a recent one
    False: (
        ["accepted", "completed", "delivered", "declined", "expired", "cancelled", "disputed"],
        [30, 30, 10, 10, 12, 5, 3],
    ),
    True: (["pending", "accepted", "declined", "cancelled"], [60, 25, 8, 7]),
}
AUDITED = ["price.published", "broadcast.sent", "listing.expired", "order.cancelled"]
AUDITED += ["conversation.taken", "conversation.handed_back", "users.exported"]
COORDINATORS = ["王芳", "li.wei", "chebet", "张敏", "admin", "otieno.k"]


def _d(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class People:
    """The users, by index (id = index + 1)."""

    region: list[str] = field(default_factory=list)  # cn | ke
    channel: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)
    place: list[str | None] = field(default_factory=list)
    phone: list[str | None] = field(default_factory=list)
    opted_out: list[bool] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)  # first and last thing they did
    last: list[float] = field(default_factory=list)


@dataclass
class Goods:
    """Listings (by index, in time order) and orders (likewise)."""

    l_time: list[float] = field(default_factory=list)
    l_farmer: list[int] = field(default_factory=list)
    l_product: list[str] = field(default_factory=list)
    l_qty: list[int] = field(default_factory=list)
    l_unit: list[str] = field(default_factory=list)
    l_price: list[Decimal] = field(default_factory=list)
    l_status: list[str] = field(default_factory=list)
    l_id: list[int] = field(default_factory=list)
    l_sold: list[int] = field(default_factory=list)
    o_time: list[float] = field(default_factory=list)
    o_listing: list[int] = field(default_factory=list)
    o_buyer: list[int] = field(default_factory=list)
    o_qty: list[int] = field(default_factory=list)
    o_status: list[str] = field(default_factory=list)
    o_decided: list[float | None] = field(default_factory=list)
    o_id: list[int] = field(default_factory=list)


class Seeder:
    """One market's history, made up deterministically (a fixed random seed) up to `now`."""

    def __init__(self, scale: float, now: float):
        from bot.bootstrap import build_catalog
        from bot.config import load_settings

        self.n = sizes(scale)
        self.now = now
        self.rng = random.Random(20261203)
        self.catalog = build_catalog(load_settings(None, environ={}))
        self.people = People()
        self.goods = Goods()
        self.targets: dict[str, Any] = {}

    # words --------------------------------------------------------------------------------
    def product(self, key: str, lang: str) -> str:
        return self.catalog.product_name(key, lang)

    def place_word(self, key: str | None, lang: str) -> str:
        return self.catalog.place_name(key, lang) if key else ""

    # people -------------------------------------------------------------------------------
    def make_people(self) -> None:
        rng, p, n = self.rng, self.people, self.n["users"]
        for i in range(n):
            cn = rng.random() < 0.75
            region = "cn" if cn else "ke"
            r = rng.random()
            if cn:
                channel = "sms" if r < 0.45 else "wechat" if r < 0.85 else "whatsapp"
            else:
                channel = "sms" if r < 0.55 else "whatsapp"
            if channel == "wechat":
                address = f"oFC{i:07d}" + "".join(rng.choices("abcdefghijkmnpqrstuvwxyz", k=18))
            elif cn:
                address = f"+8613{5 if channel == 'sms' else 6}{i:08d}"
            else:
                address = f"+2547{2 if channel == 'sms' else 1}{i:07d}"
            lang = ("zh" if rng.random() < 0.9 else "en") if cn else "en"
            if rng.random() < 0.03:
                lang = ""
            named = rng.random() < 0.78
            if not named:
                name = None
            elif cn:
                name = (
                    rng.choice(PINYIN)
                    if rng.random() < 0.08
                    else rng.choice(SURNAMES) + rng.choice(GIVEN)
                )
            else:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            places = CN_PLACES if cn else KE_PLACES
            weights = [len(places) - k for k in range(len(places))]  # the first ones busier
            place = rng.choices(places, weights)[0] if rng.random() < 0.88 else None
            phone = None
            if channel == "wechat" and rng.random() < 0.3:
                phone = f"+86139{i:08d}"
            created = self.now - rng.uniform(0, 200) * DAY
            p.region.append(region)
            p.channel.append(channel)
            p.address.append(address)
            p.language.append(lang)
            p.name.append(name)
            p.place.append(place)
            p.phone.append(phone)
            p.opted_out.append(rng.random() < 0.04)
            p.role.append("user")
            p.created.append(created)
            p.first.append(self.now)
            p.last.append(0.0)
        for i in rng.sample(range(n), max(5, n // 5000)):
            p.role[i] = "coordinator"

    def _seen(self, who: int, t: float) -> None:
        p = self.people
        p.first[who] = min(p.first[who], t)
        p.last[who] = max(p.last[who], t)

    def _pools(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Farmers and buyers of each region, busiest first (activity is Zipf-like)."""
        farmers: dict[str, list[int]] = defaultdict(list)
        buyers: dict[str, list[int]] = defaultdict(list)
        for i, region in enumerate(self.people.region):
            (farmers if self.rng.random() < 0.35 else buyers)[region].append(i)
        for pool in (*farmers.values(), *buyers.values()):
            self.rng.shuffle(pool)
        return farmers, buyers

    @staticmethod
    def _zipf(count: int, s: float = 0.8) -> list[float]:
        return list(itertools.accumulate(1 / (k + 1) ** s for k in range(count)))

    # listings and orders ------------------------------------------------------------------
    def make_goods(self) -> None:
        rng, p, g = self.rng, self.people, self.goods
        farmers, buyers = self._pools()
        self.buyers = buyers
        weights = {r: self._zipf(len(pool)) for r, pool in farmers.items()}
        n_l, n_o = self.n["listings"], self.n["orders"]
        times = sorted(self.now - rng.uniform(0, 120) * DAY for _ in range(n_l))
        for t in times:
            region = "cn" if rng.random() < 0.8 else "ke"
            who = rng.choices(farmers[region], cum_weights=weights[region])[0]
            goods = CN_GOODS if region == "cn" else KE_GOODS
            product = goods[min(int(rng.expovariate(0.25)), len(goods) - 1)]
            unit = "jin" if region == "cn" and rng.random() < 0.5 else "kg"
            per_kg = PRICE_CNY.get(product, 4) * (1 if region == "cn" else 18)
            price = per_kg * rng.uniform(0.7, 1.4) * (0.5 if unit == "jin" else 1)
            age = self.now - t
            if age < 14 * DAY:
                status = rng.choices(["active", "cancelled", "expired"], [90, 5, 5])[0]
            else:
                status = rng.choices(["expired", "cancelled"], [85, 15])[0]
            g.l_time.append(t)
            g.l_farmer.append(who)
            g.l_product.append(product)
            g.l_qty.append(rng.choice([20, 50, 80, 100, 150, 200, 300, 500, 1000, 2000]))
            g.l_unit.append(unit)
            g.l_price.append(Decimal(str(round(price, 1 if price < 100 else 0))))
            g.l_status.append(status)
            self._seen(who, t)
        g.l_sold = [0] * n_l
        for t in sorted(self.now - rng.uniform(0, 120) * DAY for _ in range(n_o)):
            lo = bisect.bisect_left(times, t - 14 * DAY)
            hi = bisect.bisect_right(times, t - 1)
            if hi <= lo:
                lo, hi = 0, max(1, hi)
                t = max(t, times[0] + 60)
            x = rng.randrange(lo, hi)
            pool = buyers[p.region[g.l_farmer[x]]]
            buyer = pool[min(int(rng.expovariate(3 / len(pool))), len(pool) - 1)]
            # pending only if placed in the last 12 h, so that none comes due (and is expired
            # by the server's sweeper, which offers the buyer others) in a run of a kept seed
            states, chances = ORDER_STATES[self.now - t < FRESH_HOURS * 3600]
            status = rng.choices(states, chances)[0]
            decided = None
            if status == "expired":
                decided = min(self.now - 1, t + DAY)
            elif status != "pending":
                decided = min(self.now - 1, t + rng.uniform(300, 20 * 3600))
            g.o_time.append(t)
            g.o_listing.append(x)
            g.o_buyer.append(buyer)
            qty = min(g.l_qty[x] - g.l_sold[x], rng.choice([5, 10, 20, 30, 50, 100]))
            if qty <= 0:  # sold out: the buyer takes the last of another listing's
                qty = 1
            elif status not in ("declined", "expired", "cancelled"):
                g.l_sold[x] += qty
            g.o_qty.append(qty)
            g.o_status.append(status)
            g.o_decided.append(decided)
            self._seen(buyer, t)
        # one counter for both (storage/repos.py References), in time order
        events = sorted(
            [(t, 0, i) for i, t in enumerate(g.l_time)]
            + [(t, 1, i) for i, t in enumerate(g.o_time)]
        )
        g.l_id, g.o_id = [0] * n_l, [0] * n_o
        self.refs = []
        for ref, (_, kind, i) in enumerate(events, 1):
            (g.o_id if kind else g.l_id)[i] = ref + REF_OFFSET
            self.refs.append({"id": ref, "kind": "order" if kind else "listing"})

    def listing_rows(self):
        p, g = self.people, self.goods
        for i, t in enumerate(g.l_time):
            who, qty = g.l_farmer[i], g.l_qty[i]
            left = qty - g.l_sold[i] if g.l_status[i] == "active" else qty // 3
            cn = p.region[who] == "cn"
            yield {
                "id": g.l_id[i],
                "farmer_id": who + 1,
                "product": g.l_product[i],
                "quantity_total": Decimal(qty),
                "quantity_available": Decimal(max(0, left)),
                "unit": g.l_unit[i],
                "price": g.l_price[i],
                "currency": "CNY" if cn else "KES",
                "price_unit": g.l_unit[i],
                "location": p.place[who],
                "status": g.l_status[i],
                "created_at": _d(t),
                "updated_at": _d(t),
                "expires_at": _d(t + 14 * DAY),
            }

    def order_rows(self):
        p, g = self.people, self.goods
        for i, t in enumerate(g.o_time):
            x = g.o_listing[i]
            decided = g.o_decided[i]
            yield {
                "id": g.o_id[i],
                "listing_id": g.l_id[x],
                "buyer_id": g.o_buyer[i] + 1,
                "farmer_id": g.l_farmer[x] + 1,
                "product": g.l_product[x],
                "quantity": Decimal(g.o_qty[i]),
                "unit": g.l_unit[x],
                "price": g.l_price[x],
                "currency": "CNY" if p.region[g.l_farmer[x]] == "cn" else "KES",
                "price_unit": g.l_unit[x],
                "status": g.o_status[i],
                "created_at": _d(t),
                "expires_at": _d(t + DAY),
                "decided_at": None if decided is None else _d(decided),
            }

    # messages in --------------------------------------------------------------------------
    def make_inbound(self) -> None:
        """(time, user, kind, what) of every message in, in time order; kind says which words."""
        rng, g, n = self.rng, self.goods, self.n["inbound"]
        since = self.now - 90 * DAY
        said: list[tuple[float, int, str, int]] = []
        for i, t in enumerate(g.l_time):
            if t >= since:
                said.append((t - 5, g.l_farmer[i], "sell", i))
        for i, t in enumerate(g.o_time):
            if t < since:
                continue
            buyer, farmer = g.o_buyer[i], g.l_farmer[g.o_listing[i]]
            said.append((t - 40, buyer, "buy", i))
            said.append((t - 1, buyer, "choose", i))
            decided, status = g.o_decided[i], g.o_status[i]
            if decided is not None and status not in ("expired", "cancelled"):
                said.append((decided, farmer, "no" if status == "declined" else "yes", i))
        if len(said) > n:
            said = rng.sample(said, n)
        everyone = list(range(self.n["users"]))
        rng.shuffle(everyone)
        weights = self._zipf(len(everyone), 0.9)
        talkers = rng.choices(everyone, cum_weights=weights, k=n - len(said))
        kinds = ["price", "help", "chat", "buy_any", "subscribe", "hello", "stop"]
        kind_weights = [35, 15, 25, 12, 5, 7, 1]
        for who, kind in zip(
            talkers, rng.choices(kinds, kind_weights, k=len(talkers)), strict=True
        ):
            said.append((rng.uniform(since, self.now), who, kind, 0))
        said.sort()
        for t, who, _, _ in said:
            self._seen(who, t)
        self.said = said
        counts: dict[int, int] = defaultdict(int)
        for _, who, _, _ in said:
            counts[who] += 1
        busiest = max(counts, key=counts.__getitem__)
        self.targets["busy_user"] = busiest + 1
        self.targets["busy_user_messages"] = counts[busiest]

    def _words(self, kind: str, what: int, who: int) -> tuple[str, str, str]:
        """(text, intent, reply) of one message."""
        p, g, rng = self.people, self.goods, self.rng
        zh = p.language[who] == "zh" or (p.language[who] == "" and p.region[who] == "cn")
        lang = "zh" if zh else "en"
        if kind == "sell":
            product, qty, unit = g.l_product[what], g.l_qty[what], g.l_unit[what]
            price, ref = g.l_price[what], g.l_id[what]
            name = self.product(product, lang)
            if zh:
                u = "斤" if unit == "jin" else "公斤"
                return (
                    f"卖{qty}{u}{name} {price}元一{u}",
                    "sell",
                    f"已登记：{name}{qty}{u}，{price}元/{u}，编号{ref}。有人下单会通知您。",
                )
            cur = "KES" if p.region[who] == "ke" else "CNY"
            return (
                f"sell {qty}{unit} {name} at {price}/{unit}",
                "sell",
                f"Listed: {qty} {unit} {name} at {cur} {price}/{unit}, ref {ref}. "
                "We will tell you when someone orders.",
            )
        if kind in ("buy", "choose", "yes", "no"):
            x = g.o_listing[what]
            name, ref = self.product(g.l_product[x], lang), g.o_id[what]
            qty = g.o_qty[what]
            if kind == "buy":
                if zh:
                    return f"买{qty}公斤{name}", "buy", f"找到3家{name}：1) 编号{g.l_id[x]} ..."
                return f"buy {qty} kg {name}", "buy", f"3 offers of {name}: 1) ref {g.l_id[x]} ..."
            if kind == "choose":
                if zh:
                    return "1", "choose", f"已下单{ref}，等卖家确认。"
                return "1", "choose", f"Order {ref} placed; waiting for the farmer to accept."
            yes = kind == "yes"
            if zh:
                said = f"{'同意' if yes else '不卖'} {ref}"
                return said, kind, f"订单{ref}已{'确认' if yes else '拒绝'}。"
            return f"{kind} {ref}", kind, f"Order {ref} {'accepted' if yes else 'declined'}."
        goods = CN_GOODS if p.region[who] == "cn" else KE_GOODS
        name = self.product(goods[min(int(rng.expovariate(0.3)), len(goods) - 1)], lang)
        if kind == "price":
            if zh:
                return f"{name}多少钱", "price", f"{name}今天：武都 4.20元/斤；挂牌 3.50–5.00元/斤"
            return f"{name} price?", "price", f"{name} today: Nairobi KES 80/kg; asking 60–95/kg"
        if kind == "buy_any":
            if zh:
                return f"买20公斤{name}", "buy", f"找到2家{name}：1) ... 2) ... 回复编号下单"
            return f"buy 20 kg {name}", "buy", f"2 offers of {name}: 1) ... 2) ... Reply 1-2"
        if kind == "subscribe":
            if zh:
                return f"订阅{name}价格", "subscribe", f"好的，{name}有新价格会告诉您。"
            return f"subscribe {name}", "subscribe", f"OK, we will text you {name} prices."
        if kind == "help":
            if zh:
                return (
                    "帮助",
                    "help",
                    "发“卖50斤苹果 3元一斤”挂牌，“买20斤苹果”找货，“苹果多少钱”问价。",
                )
            return "help", "help", "Text 'sell 50kg apples at 3/kg', 'buy 20kg apples', 'price'."
        if kind == "hello":
            return (
                ("你好", "greet", "您好！发“帮助”看看能做什么。") if zh else ("hi", "greet", "Hi!")
            )
        if kind == "stop":
            return "STOP", "stop", "已退订。发START重新订阅。" if zh else "You are unsubscribed."
        said = rng.choice(CHAT_ZH if zh else CHAT_EN)
        return said, "unknown", "没听懂，发“帮助”看看。" if zh else "Sorry? Text HELP."

    def inbound_rows(self):
        p = self.people
        for n, (t, who, kind, what) in enumerate(self.said, 1):
            said, intent, reply = self._words(kind, what, who)
            channel = p.channel[who]
            yield {
                "id": n,
                "channel": channel,
                "message_id": f"{7_300_000_000_000_000_000 + n}"
                if channel == "wechat"
                else f"SM{n:032x}",
                "user_id": who + 1,
                "text": said,
                "intent": intent,
                "reply": reply,
                "status": "done",
                "received_at": _d(t),
                "reply_via": None,
            }

    def user_rows(self):
        p = self.people
        for i in range(self.n["users"]):
            seen = p.last[i] or p.created[i]
            created = min(p.created[i], p.first[i] - 60)
            yield {
                "id": i + 1,
                "channel": p.channel[i],
                "address": p.address[i],
                "name": p.name[i],
                "place": p.place[i],
                "language": p.language[i],
                "role": p.role[i],
                "opted_out": p.opted_out[i],
                "created_at": _d(created),
                "last_seen_at": _d(max(seen, created)),
                "phone": p.phone[i],
                "name_asked_at": _d(created + 30) if p.name[i] else None,
                "account_id": None,
                "handoff_until": None,
                "handoff_by": None,
            }

    # prices, subscriptions, broadcasts, the outbox, the audit log --------------------------
    def price_rows(self):
        rng, n = self.rng, self.n["prices"]
        coordinators = [i + 1 for i, r in enumerate(self.people.role) if r == "coordinator"]
        pairs = [(g, pl) for g in CN_GOODS[:12] for pl in CN_PLACES[:5]]
        pairs += [(g, pl) for g in KE_GOODS[:8] for pl in KE_PLACES[:3]]
        times = sorted(self.now - rng.uniform(0, 120) * DAY for _ in range(n))
        self.published: list[tuple[float, str, str]] = []
        for k, t in enumerate(times, 1):
            product, place = rng.choice(pairs)
            cn = place in CN_PLACES
            per = PRICE_CNY.get(product, 4) * (1 if cn else 18) * rng.uniform(0.85, 1.25)
            unit = "jin" if cn else "kg"
            self.published.append((t, product, place))
            yield {
                "id": k,
                "product": product,
                "location": place,
                "price": Decimal(str(round(per * (0.5 if cn else 1), 2))),
                "currency": "CNY" if cn else "KES",
                "unit": unit,
                "published_by": rng.choice(coordinators),
                "published_at": _d(t),
            }

    def subscription_rows(self):
        rng, p = self.rng, self.people
        for k in range(1, self.n["subscriptions"] + 1):
            who = rng.randrange(self.n["users"])
            goods = CN_GOODS if p.region[who] == "cn" else KE_GOODS
            alert = rng.random() < 0.1
            yield {
                "id": k,
                "user_id": who + 1,
                "product": goods[min(int(rng.expovariate(0.3)), len(goods) - 1)],
                "location": p.place[who] if rng.random() < 0.4 else None,
                "direction": rng.choice(["above", "below"]) if alert else None,
                "threshold": Decimal("5.00") if alert else None,
                "currency": ("CNY" if p.region[who] == "cn" else "KES") if alert else None,
                "unit": "kg" if alert else None,
                "active": rng.random() < 0.92,
                "created_at": _d(max(p.created[who], self.now - rng.uniform(0, 150) * DAY)),
                "mode": "daily" if rng.random() < 0.2 else "instant",
            }

    def broadcast_rows(self) -> list[dict[str, Any]]:
        """The broadcasts, oldest first; their outbox rows are made by outbox_rows."""
        rng, n = self.rng, self.n["broadcasts"]
        coordinators = [i + 1 for i, r in enumerate(self.people.role) if r == "coordinator"]
        done = int(n * 0.9)
        mean = self.n["broadcast_rows"] / max(1, done)
        rows, self.audiences = [], {}
        times = sorted(self.now - rng.uniform(0.5, 120) * DAY for _ in range(n - 5))
        for k, t in enumerate(times, 1):
            kind = rng.choices(["price", "announcement", "digest"], [60, 30, 10])[0]
            product = rng.choice(CN_GOODS[:12]) if kind != "announcement" else None
            place = rng.choice(CN_PLACES[:5]) if kind == "price" and rng.random() < 0.7 else None
            status = "done" if rng.random() < 0.95 else "cancelled"
            name = self.product(product, "zh") if product else ""
            where = self.place_word(place, "zh")
            if product is None:  # an announcement
                texts = {"": "Buyers at Wudu market on Friday", "zh": "周五武都市场有收购商"}
            else:
                texts = {
                    "": f"{self.product(product, 'en')} {self.place_word(place, 'en')}: 4.20/jin",
                    "zh": f"{name}{where}今日价 4.20元/斤",
                }
            row = {
                "id": k,
                "kind": kind,
                "key": f"digest:{_d(t).date()}:{product}:{k}" if kind == "digest" else None,
                "status": status,
                "created_by": rng.choice(coordinators),
                "product": product,
                "location": place,
                "price": Decimal("4.20") if kind == "price" else None,
                "currency": "CNY" if kind == "price" else None,
                "unit": "jin" if kind == "price" else None,
                "channel": None,
                "everyone": kind == "announcement" and rng.random() < 0.3,
                "texts": texts,
                "send_at": None,
                "recipients": None,
                "created_at": _d(t - 120),
                "started_at": None,
                "finished_at": None,
                "summary": None,
            }
            if status == "done":
                size = min(self.n["users"] // 3, max(5, int(rng.expovariate(1 / mean))))
                audience = rng.sample(range(self.n["users"]), size)
                self.audiences[k] = (t, audience)
                failed = size // 40
                row.update(
                    recipients=size,
                    started_at=_d(t),
                    finished_at=_d(t + 2 + size / 50),
                    summary={"sent": size - failed, "failed": failed},
                )
            rows.append(row)
        base = len(rows)
        for j, status in enumerate(["scheduled", "scheduled", "draft", "draft", "draft"], 1):
            at = self.now + (2 + j) * DAY if status == "scheduled" else None
            rows.append(
                {
                    **rows[-1],
                    "id": base + j,
                    "kind": "announcement",
                    "key": None,
                    "status": status,
                    "product": None,
                    "location": None,
                    "price": None,
                    "currency": None,
                    "unit": None,
                    "texts": {"": "Market closed on Monday", "zh": "周一市场休市"},
                    "send_at": _d(at) if at else None,
                    "created_at": _d(self.now - j * 3600),
                    "recipients": None,
                    "started_at": None,
                    "finished_at": None,
                    "summary": None,
                }
            )
        self.targets["broadcast"] = max(self.audiences, key=lambda b: len(self.audiences[b][1]))
        return rows

    def outbox_rows(self):
        """Order notices and broadcast messages, in time order."""
        rng, p, g = self.rng, self.people, self.goods
        out: list[tuple[float, int, int, int, str]] = []  # time, user, order | bc, kind
        for i, t in enumerate(g.o_time):
            out.append((t + 1, g.l_farmer[g.o_listing[i]], i, 0, "new_order"))
            decided = g.o_decided[i]
            if decided is not None:
                out.append((decided + 1, g.o_buyer[i], i, 0, "decided"))
        for bc, (t, audience) in self.audiences.items():
            for k, who in enumerate(audience):
                out.append((t + 1 + k / 50, who, 0, bc, "broadcast"))
        out.sort()
        self.n["outbox"] = len(out)
        for n, (t, who, order, bc, kind) in enumerate(out, 1):
            zh = p.language[who] == "zh" or (p.language[who] == "" and p.region[who] == "cn")
            if kind == "broadcast":
                said = "周五武都市场有收购商" if zh else "Buyers at Wudu market on Friday"
            else:
                ref, name = g.o_id[order], self.product(g.l_product[g.o_listing[order]], "en")
                status = g.o_status[order]
                if kind == "new_order":
                    said = (
                        f"新订单{ref}：买家要{g.o_qty[order]}公斤。回复“同意 {ref}”接受。"
                        if zh
                        else f"New order {ref}: {g.o_qty[order]} kg {name}. "
                        f"Reply 'yes {ref}' to accept or 'no {ref}' to decline."
                    )
                else:
                    said = f"订单{ref}：{status}" if zh else f"Order {ref} is {status}."
            r = rng.random()
            state = "delivered" if r < 0.8 else "sent" if r < 0.97 else "failed"
            wechat = p.channel[who] == "wechat"
            yield {
                "id": n,
                "user_id": who + 1,
                "channel": p.channel[who],
                "address": p.address[who],
                "text": said,
                "kind": "broadcast" if kind == "broadcast" else "notification",
                "status": "failed" if state == "failed" else "sent",
                "attempts": 1,
                "error": "30003 unreachable" if state == "failed" else None,
                "provider_sid": None if wechat else f"SM{n:032x}",
                "provider_status": None if wechat else state,
                "error_code": 30003 if state == "failed" else None,
                "created_at": _d(t),
                "sent_at": None if state == "failed" else _d(t + 0.5),
                "broadcast_id": bc or None,
                "next_attempt_at": None,
                "claimed_at": None,
            }

    def audit_rows(self):
        rng, g, n = self.rng, self.goods, self.n["audit"]
        times = sorted(self.now - rng.uniform(0, 120) * DAY for _ in range(n))
        bcs = sorted(self.audiences)
        for k, t in enumerate(times, 1):
            action = rng.choices(AUDITED, [35, 20, 15, 15, 7, 7, 1])[0]
            detail: dict[str, Any] = {}
            if action == "price.published":
                product, place = rng.choice(self.published)[1:]
                subject, detail = f"{product} @ {place}", {"price": "4.20", "currency": "CNY"}
            elif action == "broadcast.sent":
                subject, detail = f"broadcast {rng.choice(bcs)}", {"kind": "price"}
            elif action == "listing.expired":
                x = rng.randrange(len(g.l_id))
                subject, detail = f"listing {g.l_id[x]}", {"product": g.l_product[x]}
            elif action == "order.cancelled":
                subject, detail = f"order {rng.choice(g.o_id)}", {"was": "pending"}
            elif action == "users.exported":
                subject, detail = "users", {"count": 1200}
            else:
                subject = f"user #{rng.randrange(self.n['users']) + 1}"
            yield {
                "id": k,
                "at": _d(t),
                "actor": rng.choice(COORDINATORS),
                "action": action,
                "subject": subject,
                "detail": json.dumps(detail, ensure_ascii=False),
            }

    def pick_targets(self) -> None:
        """Ids the pages are asked about: a busy order, listing, user; where deep pages start."""
        g, p = self.goods, self.people
        orders_of: dict[int, int] = defaultdict(int)
        for x in g.o_listing:
            orders_of[x] += 1
        listing = max(orders_of, key=orders_of.__getitem__)
        accepted = [i for i, s in enumerate(g.o_status) if s == "accepted"]
        order = accepted[-1] if accepted else len(g.o_id) - 1
        busy = self.targets["busy_user"] - 1
        named = next(i for i in range(len(p.name)) if p.name[i] and p.region[i] == "cn")
        self.targets.update(
            listing=g.l_id[listing],
            order=g.o_id[order],
            order_buyer=g.o_buyer[order] + 1,
            farmer=g.l_farmer[listing] + 1,
            listing_mid=g.l_id[len(g.l_id) // 2],
            order_mid=g.o_id[len(g.o_id) // 2],
            user_mid=self.n["users"] // 2,
            audit_mid=self.n["audit"] // 2,
            product="apple",
            place="wudu",
            surname="王",
            name=p.name[named],
            busy_address=p.address[busy],
            number_tail=p.address[busy][-4:] if p.channel[busy] != "wechat" else "0712",
        )


# writing it --------------------------------------------------------------------------------
async def _bulk(engine, table, rows, chunk: int = 20_000) -> int:
    batch, total = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == chunk:
            async with engine.begin() as conn:
                await conn.execute(insert(table), batch)
            total, batch = total + len(batch), []
    if batch:
        async with engine.begin() as conn:
            await conn.execute(insert(table), batch)
        total += len(batch)
    return total


async def seed(url: str, scale: float) -> dict[str, Any]:
    """A fresh schema at `url` (migrations) with the market's history; what was written."""
    started = time.perf_counter()
    if url.startswith("postgresql"):
        db = await fresh(url)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {SEED_TABLE}"))
    else:
        engine = create_engine(url)
        await upgrade(engine)
        db = Database(engine)
    engine = db.engine
    world = Seeder(scale, time.time())
    world.make_people()
    world.make_goods()
    world.make_inbound()
    print(f"  made up the market in {time.perf_counter() - started:.0f} s", flush=True)
    tables = [
        ("users", User, world.user_rows()),
        ("refs", Reference, iter(world.refs)),
        ("listings", Listing, world.listing_rows()),
        ("orders", Order, world.order_rows()),
        ("market_prices", MarketPrice, world.price_rows()),
        ("subscriptions", Subscription, world.subscription_rows()),
        ("broadcasts", Broadcast, iter(world.broadcast_rows())),
        ("outbox", Outbox, world.outbox_rows()),
        ("inbound_messages", InboundLog, world.inbound_rows()),
        ("audit_log", AuditEntry, world.audit_rows()),
    ]
    counts = {}
    for name, model, rows in tables:
        began = time.perf_counter()
        counts[name] = await _bulk(engine, model.__table__, rows)
        print(
            f"  {name:17} {counts[name]:>9,} rows in {time.perf_counter() - began:5.1f} s",
            flush=True,
        )
    world.pick_targets()
    if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
        async with engine.begin() as conn:
            for name in counts:
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name})) "
                        f"WHERE pg_get_serial_sequence('{name}', 'id') IS NOT NULL"
                    )
                )
    async with db.uow() as uow:
        await accounts.add(uow, ADMIN, "admin", PASSWORD)
        await uow.commit()
    async with engine.begin() as conn:
        info = {
            "scale": scale,
            "seeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "head": head_revision(),
            "counts": counts,
            "targets": world.targets,
            "seed_seconds": round(time.perf_counter() - started, 1),
        }
        await conn.execute(text(f"CREATE TABLE {SEED_TABLE} (info TEXT NOT NULL)"))
        await conn.execute(
            text(f"INSERT INTO {SEED_TABLE} (info) VALUES (:info)"), {"info": json.dumps(info)}
        )
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:  # the statistics autovacuum would gather soon
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    await db.close()
    if engine.dialect.name == "sqlite":  # everything in the one file, which is then copied
        with sqlite3.connect(url.split("///", 1)[1]) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"  seeded in {info['seed_seconds']:.0f} s", flush=True)
    return info


async def seeded(url: str) -> dict[str, Any] | None:
    """What was seeded at url, if this benchmark seeded it (a SQLite file is only read)."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        if not path.exists():
            return None
        try:
            with contextlib.closing(
                sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
            ) as db:
                row = db.execute(f"SELECT info FROM {SEED_TABLE}").fetchone()
        except sqlite3.Error:
            return None
        return json.loads(row[0]) if row else None
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text(f"SELECT info FROM {SEED_TABLE}"))).first()
        return json.loads(row[0]) if row else None
    except Exception:
        return None
    finally:
        await engine.dispose()


def _fresh_enough(info: dict[str, Any] | None, scale: float, hours: float) -> bool:
    if not info or info.get("scale") != scale or info.get("head") != head_revision():
        return False
    age = datetime.now(UTC) - datetime.fromisoformat(info["seeded_at"])
    return age < timedelta(hours=hours)


async def sqlite_copy(scale: float, work: Path, reseed: bool, hours: float) -> Path:
    """The seeded SQLite file of this scale (seeded once, kept in .farmchat-cache/), copied
    into the work dir: every run starts from the same rows."""
    CACHE.mkdir(exist_ok=True)
    kept = CACHE / f"bench-dashboard-{scale:g}.db"
    url = f"sqlite+aiosqlite:///{kept}"
    if reseed or not kept.exists() or not _fresh_enough(await seeded(url), scale, hours):
        for old in CACHE.glob(f"bench-dashboard-{scale:g}.db*"):
            old.unlink()
        making = CACHE / f"bench-dashboard-{scale:g}.seeding.db"
        for old in CACHE.glob(f"{making.name}*"):
            old.unlink()
        print(f"seeding SQLite at scale {scale:g} into {kept}", flush=True)
        await seed(f"sqlite+aiosqlite:///{making}", scale)
        making.rename(kept)
        for extra in CACHE.glob(f"{making.name}-*"):
            extra.unlink()
    copy = work / "dashboard.db"
    shutil.copyfile(kept, copy)
    return copy


async def postgres_ready(url: str, scale: float, reseed: bool, hours: float) -> None:
    """Seed the database at url unless its seeded rows are all there; rows an earlier run
    added (webhook users, their messages, listings and orders, sessions) are deleted."""
    await ensure_pg_database(url)
    for stray in await end_strays(url):
        print(f"  ended a statement left by an earlier run, {stray}", flush=True)
    info = await seeded(url)
    engine = create_engine(url)
    try:
        if not reseed and _fresh_enough(info, scale, hours):
            assert info is not None
            counts = info["counts"]
            async with engine.connect() as conn:
                for name, n in counts.items():
                    q = text(f"SELECT count(*) FROM {name} WHERE id <= :n")
                    if name in ("listings", "orders"):
                        n = counts["refs"] + REF_OFFSET
                    found = (await conn.execute(q, {"n": n})).scalar_one()
                    if name not in ("listings", "orders") and found != n:
                        break
                else:
                    await _forget_runs(engine, counts)
                    print(f"PostgreSQL already seeded at scale {scale:g} ({url})", flush=True)
                    return
    finally:
        await engine.dispose()
    print(f"seeding PostgreSQL at scale {scale:g} into {url}", flush=True)
    await seed(url, scale)


async def end_strays(url: str) -> list[str]:
    """Statements still running in the benchmark's own PostgreSQL database from a server
    that has stopped (a backend goes on with its query after its client is gone): each is
    ended, and told of in the report (a query that outlives its server is a finding)."""
    import asyncpg

    base, _, name = url.rpartition("/")
    conn = await asyncpg.connect(f"{base.replace('postgresql+asyncpg', 'postgresql')}/{name}")
    try:
        rows = await conn.fetch(
            "SELECT pid, state, extract(epoch FROM now() - query_start) AS age, "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS query "
            "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        found = []
        for row in rows:
            await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])
            if row["state"] != "idle":
                found.append(f"{row['state']} for {row['age']:.0f} s: {row['query']}")
        return found
    finally:
        await conn.close()


async def _forget_runs(engine, counts: dict[str, int]) -> None:
    refs = counts["refs"] + REF_OFFSET
    steps = [
        ("outbox", counts["outbox"]),
        ("orders", refs),
        ("buy_requests", 0),
        ("listings", refs),
        ("refs", counts["refs"]),
        ("subscriptions", counts["subscriptions"]),
        ("market_prices", counts["market_prices"]),
        ("inbound_messages", counts["inbound_messages"]),
        ("broadcasts", counts["broadcasts"]),
        ("audit_log", counts["audit_log"]),
        ("web_sessions", None),
        ("api_tokens", None),
        ("login_failures", None),
        ("wechat_contacts", None),
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM conversations WHERE user_id > :n"), {"n": counts["users"]}
        )
        for name, above in steps:
            if above is None:
                await conn.execute(text(f"DELETE FROM {name}"))
            else:
                await conn.execute(text(f"DELETE FROM {name} WHERE id > :n"), {"n": above})
        await conn.execute(text("DELETE FROM users WHERE id > :n"), {"n": counts["users"]})


# the server --------------------------------------------------------------------------------
def server_env(url: str, work: Path, workers: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_DATABASE__URL": url,
        "FARMCHAT_SERVER__PORT": str(PORT),
        "FARMCHAT_SERVER__WORKERS": str(workers),
        "FARMCHAT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{PORT}",
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": f"http://127.0.0.1:{FAKE_PORT}",
        "FARMCHAT_BROADCAST__DIGEST_TIME": "",
        "FARMCHAT_DASHBOARD__SESSION_KEY": Fernet.generate_key().decode(),
        "FARMCHAT_DASHBOARD__SIMULATOR_DATABASE": f"sqlite+aiosqlite:///{work / 'sim.db'}",
        "FARMCHAT_LOGGING__LEVEL": "WARNING",
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache"),
    }


def _listening(pid: int, port: int) -> bool:
    """Whether process pid holds a socket listening on port (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    return any(os.readlink(fd) in inodes for fd in fds if fd.is_symlink())


def start_server(url: str, work: Path, workers: int) -> list[subprocess.Popen]:
    """The fake Twilio (core 1) and `farmchat serve` (core 0; both cores with several
    workers), each worker started as the supervisor starts them, one after the other."""
    fake = [sys.executable, "-m", "bot.fakes.twilio", "--port", str(FAKE_PORT)]
    fake += ["--account-sid", SID, "--auth-token", TOKEN]
    procs = [subprocess.Popen(["taskset", "-c", "1", *fake], cwd=ROOT, stdout=subprocess.DEVNULL)]
    env = server_env(url, work, workers)
    cores = "0" if workers == 1 else "0,1"
    log = open(work / "serve.log", "a")  # noqa: SIM115 (the servers write to it till stopped)
    for n in range(workers):
        serve = ["serve"] if workers == 1 else ["serve", "--worker", str(n)]
        cmd = ["taskset", "-c", cores, sys.executable, "-c", SERVE, str(work / "timing.log")]
        proc = subprocess.Popen(
            cmd + serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        procs.append(proc)
        deadline = time.monotonic() + 180
        while not _listening(proc.pid, PORT):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(procs)
                raise SystemExit(f"farmchat serve did not start: see {work / 'serve.log'}")
            time.sleep(0.3)
    wait_up(PORT)
    return procs


async def bearer(url: str) -> str:
    """A new API token for the benchmark's admin account, as `farmchat admin token` makes it."""
    db = Database(create_engine(url))
    try:
        async with db.uow() as uow:
            token = await accounts.new_token(uow, ADMIN)
            await uow.commit()
        return token
    finally:
        await db.close()


# the pages ---------------------------------------------------------------------------------
@dataclass
class Page:
    name: str
    url: str
    api: bool = False
    download: bool = False
    client: list[float] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    cold_ms: float | None = None
    bytes: int = 0
    skipped: str = ""


def pages(t: dict[str, Any], last_seen: str) -> list[Page]:
    """Every page and filtered list a coordinator opens, and every API GET."""
    now = datetime.now(UTC)
    week = (now - timedelta(days=7)).date().isoformat()
    today = now.date().isoformat()
    product, place = t["product"], t["place"]
    q = quote
    out = [
        Page("overview", "/admin"),
        Page("prices board", "/admin/prices"),
        Page("product chart", f"/admin/prices/{product}"),
        Page("listings", "/admin/listings"),
        Page("listings: product", f"/admin/listings?product={product}"),
        Page("listings: active", "/admin/listings?status=active"),
        Page(
            "listings: product+place+status",
            f"/admin/listings?product={product}&place={place}&status=active",
        ),
        Page("listings: last 7 days", f"/admin/listings?from={week}&to={today}"),
        Page("listings: farmer", f"/admin/listings?farmer={t['farmer']}"),
        Page("listings: search surname", f"/admin/listings?q={q(t['surname'])}"),
        Page("listings: search name", f"/admin/listings?q={q(t['name'])}"),
        Page("listings: search number", f"/admin/listings?q={q(t['number_tail'])}"),
        Page("listings: search ref", f"/admin/listings?q={t['listing']}"),
        Page("listings: deep page", f"/admin/listings?before={t['listing_mid']}"),
        Page(
            "listings: product deep",
            f"/admin/listings?product={product}&before={t['listing_mid']}",
        ),
        Page("listing", f"/admin/listings/{t['listing']}"),
        Page("orders", "/admin/orders"),
        Page("orders: pending", "/admin/orders?status=pending"),
        Page("orders: product+status", f"/admin/orders?product={product}&status=accepted"),
        Page("orders: buyer", f"/admin/orders?buyer={t['order_buyer']}"),
        Page("orders: search surname", f"/admin/orders?q={q(t['surname'])}"),
        Page("orders: search ref", f"/admin/orders?q={t['order']}"),
        Page("orders: deep page", f"/admin/orders?before={t['order_mid']}"),
        Page("order timeline", f"/admin/orders/{t['order']}"),
        Page("broadcasts", "/admin/broadcasts"),
        Page("broadcast", f"/admin/broadcasts/{t['broadcast']}"),
        Page("broadcast progress", f"/admin/broadcasts/{t['broadcast']}/progress"),
        Page("users", "/admin/users"),
        Page("users: search surname", f"/admin/users?q={q(t['surname'])}"),
        Page("users: search number", f"/admin/users?q={q(t['number_tail'])}"),
        Page("users: wechat, opted out", "/admin/users?channel=wechat&optout=out"),
        Page("users: place", f"/admin/users?place={place}"),
        Page("users: deep page", f"/admin/users?before={t['user_mid']}"),
        Page("user", f"/admin/users/{t['busy_user']}"),
        Page("conversations", "/admin/conversations"),
        Page("conversations: search", f"/admin/conversations?q={q(t['surname'])}"),
        Page("conversations: older", f"/admin/conversations?before={q(last_seen)}"),
        Page("conversation", f"/admin/conversations/{t['busy_user']}"),
        Page("conversation lines", f"/admin/conversations/{t['busy_user']}/messages"),
        Page("audit", "/admin/audit"),
        Page("audit: search", "/admin/audit?q=listing"),
        Page("audit: deep page", f"/admin/audit?before={t['audit_mid']}"),
        Page("accounts", "/admin/accounts"),
        Page("simulator", "/admin/simulator"),
    ]
    api = [
        ("me", "/me"),
        ("prices", "/prices"),
        ("prices: product", f"/prices?product={product}"),
        ("price history", f"/prices/{product}/history"),
        ("price history 366 d", f"/prices/{product}/history?days=366"),
        ("broadcasts", "/broadcasts?limit=50"),
        ("broadcasts: page 2", "/broadcasts?limit=50&cursor={broadcasts}"),
        ("broadcast", f"/broadcasts/{t['broadcast']}"),
        ("conversation", f"/users/{t['busy_user']}/conversation"),
        ("subscriptions", "/subscriptions"),
        ("subscriptions: product", f"/subscriptions?product={product}"),
        ("subscriptions: page 2", "/subscriptions?cursor={subscriptions}"),
        ("audit", "/audit"),
        ("audit: search", "/audit?q=broadcast"),
        ("audit: page 2", "/audit?cursor={audit}"),
        ("openapi.json", "/openapi.json"),
    ]
    out += [Page(f"API {name}", "/api/v1" + path, api=True) for name, path in api]
    out += [
        Page(
            "CSV listings: product, active",
            f"/admin/listings.csv?product={product}&status=active",
            download=True,
        ),
        Page("CSV orders: pending", "/admin/orders.csv?status=pending", download=True),
        Page("CSV users: wechat", "/admin/users.csv?channel=wechat&optout=in", download=True),
    ]
    return out


class Client:
    """A signed-in coordinator's browser (cookies) and an API client (bearer token), each
    request tagged so the server's timing line can be found."""

    def __init__(self, http: aiohttp.ClientSession, token: str):
        self.http, self.token, self.count = http, token, 0

    async def sign_in(self) -> None:
        import re

        async with self.http.get("/admin/login") as page:
            found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        if found is None:
            raise SystemExit("the login page has no CSRF field")
        form = {"csrf": found.group(1), "name": ADMIN, "password": PASSWORD, "next": "/admin"}
        async with self.http.post("/admin/login", data=form, allow_redirects=False) as done:
            if done.status != 303:
                raise SystemExit(f"sign-in refused: {done.status} {await done.text()}")

    async def get(self, page: Page) -> tuple[int, float, str, int]:
        """(status, client ms, tag, bytes)."""
        self.count += 1
        tag = str(self.count)
        headers = {"X-Bench": tag}
        if page.api:
            headers["Authorization"] = f"Bearer {self.token}"
        began = time.perf_counter()
        async with self.http.get(page.url, headers=headers, allow_redirects=False) as r:
            body = await r.read()
        return r.status, (time.perf_counter() - began) * 1000, tag, len(body)


def server_times(work: Path) -> dict[str, tuple[int, float]]:
    found = {}
    path = work / "timing.log"
    if path.exists():
        for line in path.read_text().splitlines():
            tag, status, ms = line.split()
            found[tag] = (int(status), float(ms))
    return found


async def cursors(client: Client, listed: list[Page]) -> None:
    """The API's second pages start at the `next` of its first ones."""
    for key in ("broadcasts", "subscriptions", "audit"):
        first = next(p for p in listed if p.api and p.url.startswith(f"/api/v1/{key}"))
        async with client.http.get(
            first.url, headers={"Authorization": f"Bearer {client.token}"}
        ) as r:
            nxt = (await r.json()).get("next") or ""
        for p in listed:
            p.url = p.url.replace("{" + key + "}", quote(nxt))


async def time_pages(client: Client, listed: list[Page], rounds: int, warmups: int) -> None:
    """Each page `warmups` times, then `rounds` rounds of every page in turn (downloads: a
    fifth as many); a page that answers 404 (not built yet) is left out."""
    for p in listed:
        for n in range(warmups):
            status, ms, _, size = await client.get(p)
            if n == 0:
                p.cold_ms, p.bytes = ms, size
            if status == 404:
                p.skipped = "404"
                break
    live = [p for p in listed if not p.skipped]
    for n in range(rounds):
        for p in live:
            if p.download and n % 5:
                continue
            status, ms, tag, size = await client.get(p)
            p.statuses.add(status)
            p.client.append(ms)
            p.tags.append(tag)
            p.bytes = size


def summary_of(listed: list[Page], times: dict[str, tuple[int, float]]) -> list[dict]:
    rows = []
    for p in listed:
        p.server = [times[tag][1] for tag in p.tags if tag in times]
        row: dict[str, Any] = {"name": p.name, "url": p.url, "kind": _kind(p)}
        if p.skipped:
            rows.append({**row, "skipped": p.skipped})
            continue
        row.update(
            statuses=sorted(p.statuses),
            n=len(p.client),
            bytes=p.bytes,
            cold_ms=round(p.cold_ms or 0, 1),
            client_p50_ms=round(percentile(p.client, 0.5), 1),
            client_p95_ms=round(percentile(p.client, 0.95), 1),
        )
        if p.server:
            row.update(
                server_p50_ms=round(percentile(p.server, 0.5), 1),
                server_p95_ms=round(percentile(p.server, 0.95), 1),
            )
        p95 = row.get("server_p95_ms", row["client_p95_ms"])
        row["slow"] = not p.download and p95 >= TARGET_MS
        rows.append(row)
    return rows


def _kind(p: Page) -> str:
    return "download" if p.download else "api" if p.api else "page"


# webhooks while a coordinator pages ---------------------------------------------------------
async def page_through(
    client: Client, listed: list[Page], done: asyncio.Event, limit: float, think: float
) -> list[tuple[str, int, float, str]]:
    """One coordinator opening page after page (think seconds between; 0: back to back)
    until done, at most limit seconds."""
    seen = []
    deadline = time.monotonic() + limit
    for p in itertools.cycle(listed):
        if done.is_set() or time.monotonic() > deadline:
            break
        status, ms, tag, _ = await client.get(p)
        seen.append((p.name, status, ms, tag))
        if think:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), think)
    return seen


async def webhooks(args, work: Path, client: Client, listed: list[Page]) -> dict[str, Any]:
    """Open-loop webhooks at args.rate for args.webhook_seconds: alone, while paging, alone,
    while paging. Every run has its own senders and MessageSids, so none is a dedupe hit."""
    binary = build_open_loop(work)
    url = f"http://127.0.0.1:{PORT}/webhooks/twilio"
    users = int(args.rate * args.webhook_seconds / 5) + 25
    plan = ["alone", "paging"] * args.pairs
    files = []
    for n, _ in enumerate(plan):
        data = work / f"webhooks-{n}.txt"
        write_requests(data, url, users, 2_000_000 + n * 200_000, f"D{chr(65 + n)}")
        files.append(data)
    runs: list[dict[str, Any]] = []
    for mode, data in zip(plan, files, strict=True):
        done = asyncio.Event()
        pager = None
        if mode == "paging":
            pager = asyncio.create_task(
                page_through(client, listed, done, args.webhook_seconds + 60, args.think)
            )
        result = await asyncio.to_thread(
            open_loop, binary, PORT, data, args.rate, args.webhook_seconds
        )
        done.set()
        paged = await pager if pager is not None else []
        runs.append({"mode": mode, "open_loop": result, "pages": paged})
        print(
            f"  {mode:7} p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  "
            f"max {result['max_ms']} ms  answered/s {result['achieved_rate']}  "
            f"non-2xx {result['non_2xx']}  failed {result['failed']}"
            + (f"  pages opened {len(paged)}" if paged else ""),
            flush=True,
        )
        await asyncio.sleep(args.settle)
    times = server_times(work)
    for run in runs:
        ms = [times[tag][1] for _, _, _, tag in run["pages"] if tag in times]
        statuses = sorted({status for _, status, _, _ in run["pages"]})
        run["pages"] = {
            "opened": len(run["pages"]),
            "statuses": statuses,
            "server_p50_ms": round(percentile(ms, 0.5), 1) if ms else None,
            "server_p95_ms": round(percentile(ms, 0.95), 1) if ms else None,
            "server_max_ms": round(max(ms), 1) if ms else None,
        }
    alone = [r["open_loop"] for r in runs if r["mode"] == "alone"]
    paging = [r["open_loop"] for r in runs if r["mode"] == "paging"]

    def worst(rs: list[dict], key: str) -> float:
        return max(float(r[key]) for r in rs)

    return {
        "rate": args.rate,
        "seconds": args.webhook_seconds,
        "think": args.think,
        "runs": runs,
        "alone_p99_ms": worst(alone, "p99_ms"),
        "paging_p99_ms": worst(paging, "p99_ms"),
        "p99_ratio": round(worst(paging, "p99_ms") / max(worst(alone, "p99_ms"), 0.001), 2),
        "p50_ratio": round(worst(paging, "p50_ms") / max(worst(alone, "p50_ms"), 0.001), 2),
    }


# the run -----------------------------------------------------------------------------------
async def run(args, work: Path) -> dict[str, Any]:
    if args.db == "sqlite":
        path = await sqlite_copy(args.scale, work, args.reseed, args.max_age_hours)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = args.pg_url
        await postgres_ready(url, args.scale, args.reseed, args.max_age_hours)
    info = await seeded(url)
    assert info is not None
    token = await bearer(url)
    last_seen = await _older_than(url, 500)
    os.sched_setaffinity(0, {1})  # beside the load generator and the fake Twilio
    procs = start_server(url, work, args.workers)
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{PORT}",
            cookie_jar=jar,
            timeout=aiohttp.ClientTimeout(total=120),
        ) as http:
            client = Client(http, token)
            await client.sign_in()
            listed = pages(info["targets"], last_seen)
            await cursors(client, listed)
            print(f"timing {len(listed)} pages, {args.rounds} rounds", flush=True)
            await time_pages(client, listed, args.rounds, args.warmups)
            table = summary_of(listed, server_times(work))
            hooks = None
            if args.rate:
                print(f"webhooks at {args.rate:.0f}/s offered, {args.webhook_seconds} s each")
                browse = [p for p in listed if not p.skipped and not p.download]
                hooks = await webhooks(args, work, client, browse)
    finally:
        stop(procs)
        strays = await end_strays(url) if args.db == "postgres" else []
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform()}",
        "db": args.db,
        "scale": args.scale,
        "workers": args.workers,
        "rows": info["counts"],
        "seeded_at": info["seeded_at"],
        "seed_seconds": info["seed_seconds"],
        "rounds": args.rounds,
        "pages": table,
        "webhooks": hooks,
        "left_running": strays,
    }


async def _older_than(url: str, n: int) -> str:
    """The conversations list's cursor n writers down (its ?before=)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            q = select(User.last_seen_at).order_by(User.last_seen_at.desc()).offset(n).limit(1)
            found = (await conn.execute(q)).scalar_one()
    finally:
        await engine.dispose()
    return found.isoformat()


def report(result: dict[str, Any]) -> None:
    rows = result["rows"]
    print(
        f"\n{result['date']}  db={result['db']}  scale={result['scale']:g}  "
        f"workers={result['workers']}  {result['machine']}"
    )
    print(
        "rows: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
        + f"  (seeded in {result['seed_seconds']:.0f} s)"
    )
    print(
        f"\n{'page':34} {'status':>6} {'server p50':>10} {'p95':>7} "
        f"{'client p50':>10} {'p95':>7} {'cold':>7} {'KiB':>6}"
    )
    for r in result["pages"]:
        if r.get("skipped"):
            print(f"{r['name']:34} {'skipped (' + r['skipped'] + ')':>6}")
            continue
        flag = "  ≥150 ms" if r["slow"] else ""
        print(
            f"{r['name']:34} {','.join(map(str, r['statuses'])):>6} "
            f"{r.get('server_p50_ms', float('nan')):10.1f} "
            f"{r.get('server_p95_ms', float('nan')):7.1f} "
            f"{r['client_p50_ms']:10.1f} {r['client_p95_ms']:7.1f} {r['cold_ms']:7.1f} "
            f"{r['bytes'] / 1024:6.0f}{flag}"
        )
    slow = [r["name"] for r in result["pages"] if r.get("slow")]
    timed = sum(1 for r in result["pages"] if "n" in r and r["kind"] != "download")
    print(
        f"\n{len(slow)} of {timed} pages and API lists at p95 ≥ {TARGET_MS:.0f} ms (server time)"
        + (": " + ", ".join(slow) if slow else "")
    )
    for stray in result.get("left_running", []):
        print(f"\nstill running in the database after the server stopped: {stray}")
    hooks = result["webhooks"]
    if hooks:
        print(
            f"\nwebhooks, open loop at {hooks['rate']:.0f}/s offered, {hooks['seconds']} s; "
            f"pages {hooks['think']:g} s apart while paging:"
        )
        for r in hooks["runs"]:
            o, pg = r["open_loop"], r["pages"]
            extra = (
                f"  pages opened {pg['opened']}, server p50 {pg['server_p50_ms']} ms "
                f"p95 {pg['server_p95_ms']} ms max {pg['server_max_ms']} ms"
                if pg["opened"]
                else ""
            )
            print(
                f"  {r['mode']:7} p50 {o['p50_ms']} ms  p99 {o['p99_ms']} ms  "
                f"max {o['max_ms']} ms  answered/s {o['achieved_rate']}{extra}"
            )
        print(
            f"  worst p99 alone {hooks['alone_p99_ms']} ms, while paging "
            f"{hooks['paging_p99_ms']} ms (ratio {hooks['p99_ratio']}; target "
            f"< {WEBHOOK_TARGET_MS:.0f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: the sizes above")
    parser.add_argument("--pg-url", default=os.environ.get("FARMCHAT_BENCH_PG_URL", PG_URL))
    parser.add_argument("--reseed", action="store_true", help="seed again even if kept")
    parser.add_argument(
        "--max-age-hours",
        type=float,
        default=FRESH_HOURS,
        help="seed again when the kept one is older (its pending orders would come due)",
    )
    parser.add_argument("--rounds", type=int, default=30, help="timed requests of each page")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="server.workers")
    parser.add_argument(
        "--rate",
        type=float,
        help="webhooks offered per second; 0: none (default: 500 on SQLite, none on PostgreSQL)",
    )
    parser.add_argument("--webhook-seconds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=2, help="alone/paging pairs")
    parser.add_argument(
        "--think", type=float, default=0, help="seconds between pages while paging (0: none)"
    )
    parser.add_argument("--settle", type=float, default=3, help="seconds between runs")
    parser.add_argument("--json", type=Path, help="write the result here too")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    if args.rate is None:
        args.rate = 500.0 if args.db == "sqlite" else 0.0
    work = Path(tempfile.mkdtemp(prefix="farmchat-dashboard-"))
    try:
        result = asyncio.run(run(args, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "pages"} | {"pages": len(result["pages"])}
        )
    )


if __name__ == "__main__":
    main()
