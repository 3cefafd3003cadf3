"""Config: every setting has a default, env overrides, errors name the key and the reason."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, load_settings


def test_the_shipped_config_yaml_loads_with_its_defaults():
    settings = load_settings("config.yaml", environ={})
    assert settings.database.url == "sqlite+aiosqlite:///farmchat.db"
    assert settings.market.currency == "CNY" and settings.market.display_unit == "jin"
    assert (
        settings.market.order_accept_timeout_hours == 24
        and settings.market.listing_lifetime_days == 14
    )


def test_environment_overrides_scalars_lists_and_mappings():
    settings = load_settings(
        "config.yaml",
        environ={
            "FARMCHAT_SERVER__PORT": "9090",
            "FARMCHAT_MARKET__CURRENCY": "KES",
            "FARMCHAT_COORDINATORS__ADDRESSES": '["+8613900000000"]',
            "FARMCHAT_CATALOG__SESAME": '["sesame", "芝麻"]',
            "FARMCHAT_PLACES__LONGXI": '{"names": ["Longxi", "陇西"], "coords": [35.0, 104.6]}',
            "OTHER_VARIABLE": "ignored",
        },
    )
    assert settings.server.port == 9090 and settings.market.currency == "KES"
    assert settings.coordinators.addresses == ["+8613900000000"]
    assert settings.catalog["sesame"] == ["sesame", "芝麻"]
    assert settings.places["longxi"].coords == (35.0, 104.6)


@pytest.mark.parametrize(
    "env, named, reason",
    [
        (
            {"FARMCHAT_SERVER__PORT": "eighty"},
            "server.port (FARMCHAT_SERVER__PORT)",
            "valid integer",
        ),
        ({"FARMCHAT_MARKET__CURRENCY": "EUR"}, "market.currency", "'CNY'"),
        ({"FARMCHAT_MARKET__TIMEZONE": "Mars/Olympus"}, "market.timezone", "unknown time zone"),
        ({"FARMCHAT_DATABASE__URL": "mysql://x"}, "database.url", "sqlite+aiosqlite://"),
        ({"FARMCHAT_MARKET__COLOUR": "red"}, "market.colour", "unknown setting"),
        (
            {"FARMCHAT_COORDINATORS__ADDRESSES": "[oops"},
            "FARMCHAT_COORDINATORS__ADDRESSES",
            "not valid JSON",
        ),
    ],
)
def test_a_bad_setting_is_named_with_its_reason(env, named, reason):
    with pytest.raises(ConfigError) as err:
        load_settings("config.yaml", environ=env)
    assert named in str(err.value) and reason in str(err.value)


def test_a_bad_file_is_named(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("market:\n  listing_lifetime_days: -3\n")
    with pytest.raises(
        ConfigError,
        match=r"market.listing_lifetime_days \(.*config.yaml\): Input should be greater than 0",
    ):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_incomplete_twilio_settings_are_a_clear_startup_error():
    with pytest.raises(ConfigError, match=r"twilio.*auth_token are both needed"):
        load_settings("config.yaml", environ={"FARMCHAT_TWILIO__ACCOUNT_SID": "AC123"})
    with pytest.raises(ConfigError, match="from_number, whatsapp_from or messaging_service_sid"):
        load_settings(
            "config.yaml",
            environ={
                "FARMCHAT_TWILIO__ACCOUNT_SID": "AC123",
                "FARMCHAT_TWILIO__AUTH_TOKEN": "secret",
            },
        )
    ok = load_settings(
        "config.yaml",
        environ={
            "FARMCHAT_TWILIO__ACCOUNT_SID": "AC123",
            "FARMCHAT_TWILIO__AUTH_TOKEN": "secret",
            "FARMCHAT_TWILIO__MESSAGING_SERVICE_SID": "MG1",
        },
    )
    assert ok.twilio.enabled and not load_settings("config.yaml", environ={}).twilio.enabled


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "server:\n  port: 9000\n  host: 0.0.0.0\n")
    settings = load_settings(path, environ={"FARMCHAT_SERVER__PORT": "9090"})
    assert (settings.server.port, settings.server.host) == (9090, "0.0.0.0")
    assert load_settings(None, environ={"FARMCHAT_CONFIG": str(path)}).server.port == 9000


@pytest.mark.parametrize(
    "env, named",
    [
        (
            {"FARMCHAT_MARKET__LISTING_LIFETIME_DAYS": "-1"},
            "market.listing_lifetime_days (FARMCHAT_MARKET__LISTING_LIFETIME_DAYS): "
            "Input should be greater than 0",
        ),
        (
            {"FARMCHAT_NLU__RASA__TIMEOUT_SECONDS": "soon"},
            "nlu.rasa.timeout_seconds (FARMCHAT_NLU__RASA__TIMEOUT_SECONDS): Input should be",
        ),
        (
            {"FARMCHAT_PLACES__LONGXI": '{"names": ["Longxi"], "coords": [35.0, "north"]}'},
            "places.longxi.coords.1 (FARMCHAT_PLACES__LONGXI): Input should be a valid number",
        ),
        (
            {"FARMCHAT_TWILLIO__AUTH_TOKEN": "secret"},
            "twillio.auth_token (FARMCHAT_TWILLIO__AUTH_TOKEN): unknown setting",
        ),
    ],
)
def test_a_bad_override_of_a_good_file_names_the_variable(tmp_path, env, named):
    path = write(tmp_path, "market:\n  listing_lifetime_days: 7\nnlu:\n  rasa:\n    token: ''\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=env)
    assert named in str(err.value) and "config.yaml" not in str(err.value)


def test_an_unknown_key_in_the_file_names_the_file(tmp_path):
    path = write(tmp_path, "market:\n  colour: red\n")
    with pytest.raises(ConfigError, match=r"market.colour \(.*config.yaml\): unknown setting"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    "text, key",
    [
        ("twilio:\n  auth_token: abc123\n", "twilio.auth_token"),
        ("wechat:\n  app_secret: s3cret\n", "wechat.app_secret"),
        ("nlu:\n  rasa:\n    token: t0k\n", "nlu.rasa.token"),
        ("database:\n  url: postgresql+asyncpg://farm:pw@db:5432/farmchat\n", "database.url"),
    ],
)
def test_a_secret_in_the_file_is_refused_with_its_variable(tmp_path, text, key):
    variable = "FARMCHAT_" + key.upper().replace(".", "__")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), environ={})
    assert f"{key} (" in str(err.value) and f"set {variable} in the environment" in str(err.value)


def test_secrets_come_from_the_environment():
    url = "postgresql+asyncpg://farm:pw@db:5432/farmchat"
    env = {"FARMCHAT_NLU__RASA__TOKEN": "t0k", "FARMCHAT_DATABASE__URL": url}
    settings = load_settings("config.yaml", environ=env)
    assert (settings.nlu.rasa.token, settings.database.url) == ("t0k", url)


def test_settings_read_the_environment_over_the_working_directory_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "server:\n  port: 9000\nmarket:\n  currency: KES\n")
    monkeypatch.setenv("FARMCHAT_SERVER__PORT", "9191")
    settings = Settings()
    assert (settings.server.port, settings.market.currency) == (9191, "KES")
    assert load_settings().server.port == 9191
