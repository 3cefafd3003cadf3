"""Settings: config.yaml, validated, with FARMCHAT_<SECTION>__<KEY> environment overrides."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "FARMCHAT_"
UNITS = ("kg", "jin", "ton", "g", "lb", "litre", "bag", "box", "crate", "piece")


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names it and says why."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = ""
    workers: int = Field(1, ge=1, le=32)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///farmchat.db"
    auto_upgrade: bool = True

    @field_validator("url")
    @classmethod
    def _supported(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url


class RasaSettings(Section):
    url: str = "http://127.0.0.1:5005"
    token: str = ""  # set FARMCHAT_NLU__RASA__TOKEN rather than writing it here
    timeout_seconds: float = Field(2.0, gt=0, le=60)


class NluSettings(Section):
    backend: Literal["builtin", "rasa"] = "builtin"
    rasa: RasaSettings = Field(default_factory=RasaSettings)
    confidence_threshold: float = Field(0.45, ge=0, le=1)
    ambiguity_margin: float = Field(0.15, ge=0, le=1)
    data_paths: list[str] = Field(default_factory=list)
    cache_dir: str = ".farmchat-cache"


CURRENCIES = ("CNY", "KES", "INR", "USD")


class MarketSettings(Section):
    currency: Literal[CURRENCIES] = "CNY"  # type: ignore[valid-type]
    display_unit: Literal[UNITS] = "jin"  # type: ignore[valid-type]
    timezone: str = "Asia/Shanghai"
    order_accept_timeout_hours: float = Field(24, gt=0)
    listing_lifetime_days: float = Field(14, gt=0)
    conversation_timeout_minutes: float = Field(30, gt=0)
    max_offers: int = Field(3, ge=1, le=9)
    sweep_interval_seconds: float = Field(60, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        return tz


class PlaceSettings(Section):
    names: list[str]
    coords: tuple[float, float] | None = None
    # the money of a price written there without a currency (handlers/currency.py)
    currency: Literal[CURRENCIES] | None = None  # type: ignore[valid-type]


class CoordinatorSettings(Section):
    addresses: list[str] = Field(default_factory=list)


class TwilioSettings(Section):
    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    whatsapp_from: str = ""
    messaging_service_sid: str = ""
    rate_per_second: float = Field(1.0, gt=0)
    api_base: str = "https://api.twilio.com"
    timeout_seconds: float = Field(10.0, gt=0, le=60)

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid or self.auth_token)

    @model_validator(mode="after")
    def _complete(self) -> TwilioSettings:
        if not self.enabled:
            return self
        if not (self.account_sid and self.auth_token):
            raise ValueError(
                "account_sid and auth_token are both needed (set them in the environment)"
            )
        if not (self.from_number or self.messaging_service_sid or self.whatsapp_from):
            raise ValueError(
                "set from_number, whatsapp_from or messaging_service_sid to send messages"
            )
        return self


class BroadcastSettings(Section):
    """Broadcast engine and schedules (handlers/broadcasts.py, bot/outbound/dispatch.py, bot/scheduler.py)."""

    rates: dict[str, float] = Field(default_factory=dict)  # channel -> messages/s; 0: unpaced
    concurrency: int = Field(8, ge=1, le=256)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_base_seconds: float = Field(30, gt=0)
    claim_timeout_seconds: float = Field(120, gt=0)
    poll_seconds: float = Field(2, gt=0)
    digest_time: str = "18:00"
    cost_per_sms_segment: float = Field(0.0079, ge=0)
    cost_per_message: dict[str, float] = Field(default_factory=lambda: {"whatsapp": 0.005})
    cost_currency: str = ""  # the costs' currency (ISO 4217 code); "": market.currency

    @field_validator("cost_currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(
                "must be a currency code such as USD or KES, or empty for market.currency"
            )
        return value

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if value:
            hour, _, minute = value.partition(":")
            if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
                raise ValueError("must be HH:MM (24-hour, market.timezone) or empty for no digest")
        return value


WECHAT_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")  # what the MP console accepts (CHANNELS.md A1)
AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


class WeChatTemplate(Section):
    """A template message (模板消息) for notifications outside the 48-hour window."""

    id: str = ""
    # template field -> value; {text} is the notification, {time} the local time it was sent
    fields: dict[str, str] = Field(
        default_factory=lambda: {"first": "{text}", "keyword1": "{time}"}
    )
    url: str = ""
    # Template messages WeChat allows per day (100,000 by default, more with many followers;
    # resets at midnight Beijing time). Counted in the database across processes; 0: no limit.
    daily_limit: int = Field(100_000, ge=0)
    # Of those, how many broadcasts leave for order notifications (a big broadcast must not
    # hold a buyer's order until tomorrow).
    notification_reserve: int = Field(1_000, ge=0)


class WeChatSettings(Section):
    token: str = ""
    encoding_aes_key: str = ""
    previous_encoding_aes_key: str = ""
    app_id: str = ""
    app_secret: str = ""
    mode: Literal["plaintext", "compatible", "safe"] = "safe"
    api_base: str = "https://api.weixin.qq.com"
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    reply_budget_seconds: float = Field(4.0, ge=0, le=4.5)
    template: WeChatTemplate = Field(default_factory=WeChatTemplate)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.app_id or self.app_secret)

    @property
    def aes_keys(self) -> list[str]:
        """Current key first, then the previous one during a rotation."""
        return [k for k in (self.encoding_aes_key, self.previous_encoding_aes_key) if k]

    @model_validator(mode="after")
    def _complete(self) -> WeChatSettings:
        if not self.enabled:
            return self
        missing = [k for k in ("token", "app_id", "app_secret") if not getattr(self, k)]
        if self.mode != "plaintext" and not self.encoding_aes_key:
            missing.append("encoding_aes_key")
        if missing:
            raise ValueError(
                f"incomplete: set {', '.join(missing)} (secrets in the environment, "
                f"e.g. FARMCHAT_WECHAT__APP_SECRET)"
            )
        if not WECHAT_TOKEN.match(self.token):
            raise ValueError("token must be 3 to 32 letters or digits, as in the MP console")
        if any(not AES_KEY.match(k) for k in self.aes_keys):
            raise ValueError(
                "encoding_aes_key and previous_encoding_aes_key must be 43 letters or digits"
            )
        return self


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    catalog: dict[str, list[str]] = Field(default_factory=dict)
    places: dict[str, PlaceSettings] = Field(default_factory=dict)
    coordinators: CoordinatorSettings = Field(default_factory=CoordinatorSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    broadcast: BroadcastSettings = Field(default_factory=BroadcastSettings)
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


def _env_value(raw: str) -> Any:
    """Lists and mappings come as JSON; scalars stay strings for pydantic to coerce."""
    if raw.strip()[:1] in ("[", "{"):
        return json.loads(raw)
    return raw


def _apply_env(data: dict, environ: dict[str, str]) -> dict[str, str]:
    """Overlay FARMCHAT_A__B__C variables onto data; return {dotted key: variable name}."""
    origins = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {'.'.join(path[:-1])} is not a section")
        try:
            node[path[-1]] = _env_value(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: not valid JSON ({exc.msg})") from None
        origins[".".join(path)] = name
    return origins


def _describe(exc: ValidationError, origins: dict[str, str], source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        where = origins.get(key, source)
        reason = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{key} ({where}): {reason}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(
    path: str | os.PathLike | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read config (explicit path, $FARMCHAT_CONFIG, ./config.yaml, or defaults) plus env."""
    environ = dict(os.environ if environ is None else environ)
    path = (
        path
        or environ.get("FARMCHAT_CONFIG")
        or ("config.yaml" if Path("config.yaml").exists() else None)
    )
    data: dict = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
    origins = _apply_env(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins, str(path or "defaults"))) from None
