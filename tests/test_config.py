"""Config: every setting has a default, env overrides, errors name the key and the reason."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


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
    with pytest.raises(ConfigError, match="twilio.*auth_token are both needed"):
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
