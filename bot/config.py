"""Settings: config.yaml, validated, with FARMCHAT_<SECTION>__<KEY> environment overrides."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
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
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)
from pydantic_settings.sources.types import Traversable

from storage.db import MAX_OVERFLOW, POOL_SIZE

ENV_PREFIX = "FARMCHAT_"
ENV_DELIMITER = "__"
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
    # proxies whose X-Real-IP (else the last X-Forwarded-For entry) names the client
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///farmchat.db"
    auto_upgrade: bool = True
    # PostgreSQL reached through a pooler in transaction mode (PgBouncer's pool_mode =
    # transaction): no prepared statement is kept, and the scheduler's leader holds a lease
    # row instead of a session's advisory lock, which such a pooler cannot keep
    transaction_pooling: bool = False
    # PostgreSQL connections each process keeps open, and the most it opens beyond them in a
    # burst (closed again after it): hosts x server.workers x (pool_size + max_overflow) must
    # stay under the server's max_connections (or PgBouncer's max_client_conn)
    pool_size: int = Field(POOL_SIZE, ge=1, le=500)
    max_overflow: int = Field(MAX_OVERFLOW, ge=0, le=500)

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


class ParseEndpointSettings(Section):
    """POST /model/parse: who may call it, and how often each client may."""

    # off: 404; loopback: only from 127.0.0.0/8 and ::1 (behind a reverse proxy on the same
    # host every caller is the proxy); token: Authorization: Bearer <token> from anywhere
    access: Literal["off", "loopback", "token"] = "loopback"
    token: str = ""  # set FARMCHAT_NLU__PARSE_ENDPOINT__TOKEN rather than writing it here
    # a token bucket per client address: rate_per_second, up to burst at once; 0: no limit
    rate_per_second: float = Field(20.0, ge=0)
    burst: int = Field(40, ge=1, le=100_000)

    @field_validator("access", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML 1.1 reads a bare `off` as false."""
        return "off" if value is False else value

    @model_validator(mode="after")
    def _token_set(self) -> ParseEndpointSettings:
        if self.access == "token" and len(self.token) < 16:
            raise ValueError(
                "access: token needs a token of at least 16 characters in "
                "FARMCHAT_NLU__PARSE_ENDPOINT__TOKEN"
            )
        return self


class MetricsSettings(Section):
    """GET /metrics: who may read it."""

    # off: 404; loopback: only from 127.0.0.0/8 and ::1 (behind a reverse proxy on the same
    # host every caller is the proxy: keep /metrics out of its locations); token:
    # Authorization: Bearer <token> from anywhere
    access: Literal["off", "loopback", "token"] = "loopback"
    token: str = ""  # set FARMCHAT_METRICS__TOKEN rather than writing it here

    @field_validator("access", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML 1.1 reads a bare `off` as false."""
        return "off" if value is False else value

    @model_validator(mode="after")
    def _token_set(self) -> MetricsSettings:
        if self.access == "token" and len(self.token) < 16:
            raise ValueError(
                "access: token needs a token of at least 16 characters in FARMCHAT_METRICS__TOKEN"
            )
        return self


class NluSettings(Section):
    backend: Literal["builtin", "rasa"] = "builtin"
    rasa: RasaSettings = Field(default_factory=RasaSettings)
    parse_endpoint: ParseEndpointSettings = Field(default_factory=ParseEndpointSettings)
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


class DashboardSettings(Section):
    """The coordinators' dashboard (/admin) and JSON API (/api/v1): bot/web/."""

    enabled: bool = True
    # a Fernet key (32 bytes, url-safe base64) that encrypts the session cookie; secret: set
    # FARMCHAT_DASHBOARD__SESSION_KEY. Empty: a key made once and kept in key_file.
    session_key: str = ""
    key_file: str = "farmchat-session.key"
    session_idle_minutes: int = Field(120, ge=1, le=24 * 60)
    session_max_hours: int = Field(12, ge=1, le=24 * 30)
    login_window_minutes: int = Field(15, ge=1, le=24 * 60)
    account_attempts: int = Field(5, ge=1, le=1000)  # wrong passwords per name in the window
    address_attempts: int = Field(20, ge=1, le=10000)  # wrong passwords per address
    page_size: int = Field(50, ge=5, le=500)
    # a hand-off ends by itself this long after the coordinator's last reply
    handoff_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    # the simulator's own world: a SQLite database apart from the real one, with sample data
    simulator_database: str = "sqlite+aiosqlite:///farmchat-simulator.db"

    @field_validator("simulator_database")
    @classmethod
    def _sqlite_only(cls, url: str) -> str:
        if not url.startswith("sqlite+aiosqlite:///") or url.endswith(":memory:"):
            raise ValueError("must be a SQLite file: sqlite+aiosqlite:///path")
        return url


class BroadcastSettings(Section):
    """Broadcast engine and schedules (handlers/broadcasts.py, bot/outbound/, bot/scheduler.py)."""

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


class Settings(BaseSettings):
    """Every setting: config.yaml, then FARMCHAT_<SECTION>__<KEY> variables over it."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
        yaml_file="config.yaml",
    )

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
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values first, then the environment, then ./config.yaml."""
        return init_settings, env_settings, ConfigFile(settings_cls)


# Written in the environment only: the file holds what may be shown to anyone on the server.
SECRETS = (
    "twilio.auth_token",
    "wechat.token",
    "wechat.encoding_aes_key",
    "wechat.previous_encoding_aes_key",
    "wechat.app_secret",
    "nlu.rasa.token",
    "nlu.parse_endpoint.token",
    "metrics.token",
    "dashboard.session_key",
)


def env_name(key: str) -> str:
    """The variable that sets a dotted key: nlu.rasa.token -> FARMCHAT_NLU__RASA__TOKEN."""
    return ENV_PREFIX + key.upper().replace(".", ENV_DELIMITER)


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _secrets_in(data: dict[str, Any], source: str) -> list[str]:
    """A line for each secret a file sets: provider tokens and keys, a database password."""
    found = {key: "a secret" for key in SECRETS if _lookup(data, key)}
    url = _lookup(data, "database.url")
    if isinstance(url, str) and urlsplit(url).password:
        found["database.url"] = "holds a password"
    return [
        _line(key, source, f"{what}: set {env_name(key)} in the environment instead")
        for key, what in found.items()
    ]


class ConfigFile(YamlConfigSettingsSource):
    """config.yaml: a mapping of sections, holding no secrets."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file_path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{file_path}: the top level must be a mapping of sections")
        lines = _secrets_in(data, str(file_path))
        if lines:
            raise ConfigError(_report(lines))
        return data


class Environment(EnvSettingsSource):
    """FARMCHAT_<SECTION>__<KEY> variables of one environment; lists and mappings as JSON."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self.environ.items()}


def _origins(environ: Mapping[str, str]) -> dict[str, str]:
    """{dotted key: variable name} for FARMCHAT_A__B__C variables and whole sections."""
    origins = {}
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower().replace(ENV_DELIMITER, ".")
            if "." in key or key in Settings.model_fields:
                origins[key] = name
    return origins


def _unknown_sections(origins: dict[str, str]) -> list[str]:
    """FARMCHAT_A__B variables whose section A does not exist (a typo would go unnoticed)."""
    return [
        _line(key, name, "unknown setting")
        for key, name in origins.items()
        if key.partition(".")[0] not in Settings.model_fields
    ]


def _unreadable(environ: Mapping[str, str], origins: dict[str, str]) -> list[str]:
    """The variables whose list or mapping is not JSON, each read on its own."""
    lines = []
    for name in origins.values():
        try:
            Environment(Settings, {name: environ[name]})()
        except SettingsError as exc:
            reason = getattr(exc.__cause__, "msg", str(exc.__cause__ or exc))
            lines.append(f"{name}: not valid JSON ({reason})")
    return lines


def _where(key: str, origins: dict[str, str], source: str) -> str:
    """The variable a key (or the section holding it) came from, else the file."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        name = origins.get(".".join(parts[:end]))
        if name:
            return name
    below = [name for dotted, name in origins.items() if dotted.startswith(key + ".")]
    return ", ".join([source, *below])


def _line(key: str, where: str, reason: str) -> str:
    return f"{key} ({where}): {reason}"


def _report(lines: list[str]) -> str:
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _describe(exc: ValidationError, origins: dict[str, str], source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        reason = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(_line(key, _where(key, origins, source), reason))
    return _report(lines)


def _config_path(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    """An explicit path, $FARMCHAT_CONFIG, ./config.yaml, or none (the defaults)."""
    chosen = path or environ.get("FARMCHAT_CONFIG")
    if chosen:
        if not Path(chosen).is_file():
            raise ConfigError(f"config file {chosen} not found")
        return Path(chosen)
    return Path("config.yaml") if Path("config.yaml").is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read config (explicit path, $FARMCHAT_CONFIG, ./config.yaml, or defaults) plus env."""
    environ = dict(os.environ if environ is None else environ)
    file = _config_path(path, environ)
    origins = _origins(environ)
    unknown = _unknown_sections(origins)
    if unknown:
        raise ConfigError(_report(unknown))
    sources = (Environment(Settings, environ), ConfigFile(Settings, yaml_file=file))
    try:
        return Settings(_build_sources=(sources, {}))
    except SettingsError as exc:
        raise ConfigError(_report(_unreadable(environ, origins) or [str(exc)])) from None
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins, str(file or "defaults"))) from None
