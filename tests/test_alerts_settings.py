"""The alerts: settings: the Telegram bot token and chat id come from the environment only, are
refused in YAML and in LT_ALERTS__ overrides, and never show in a dump, a repr or an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, load_config
from config.settings import AlertsConfig

PAPER = Path(__file__).resolve().parent.parent / "config" / "paper.yaml"
TOKEN = "123456789:AAE-secretpart_abcdefghijklmnopqrstu"
CHAT = "-1001234567890"


def _profile_with(tmp_path: Path, alerts: dict[str, Any]) -> Path:
    data = yaml.safe_load(PAPER.read_text())
    data["alerts"] = alerts
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_alerts_are_off_by_default_and_need_no_token() -> None:
    settings = load_config(PAPER, env={})
    assert settings.alerts == AlertsConfig()
    assert not settings.alerts.enabled and settings.alerts.telegram.base_url == "https://api.telegram.org"
    assert settings.alerts.telegram.bot_token is None


def test_token_and_chat_come_from_the_environment_and_stay_hidden(tmp_path: Path) -> None:
    profile = _profile_with(tmp_path, {"enabled": True, "telegram": {"enabled": True,
                                                                     "base_url": "http://127.0.0.1:9/"},
                                       "webhook": {"url": "https://hooks.example.com/x"},
                                       "max_per_minute": 5})
    settings = load_config(profile, env={"LT_TELEGRAM_BOT_TOKEN": TOKEN, "LT_TELEGRAM_CHAT_ID": CHAT})
    telegram = settings.alerts.telegram
    assert telegram.bot_token is not None and telegram.bot_token.get_secret_value() == TOKEN
    assert telegram.chat_id is not None and telegram.chat_id.get_secret_value() == CHAT
    assert telegram.base_url == "http://127.0.0.1:9"
    assert settings.alerts.max_per_minute == 5
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())):
        assert TOKEN not in shown and CHAT not in shown


def test_telegram_on_without_the_environment_is_one_line_naming_the_variables(tmp_path: Path) -> None:
    profile = _profile_with(tmp_path, {"enabled": True, "telegram": {"enabled": True}})
    with pytest.raises(ConfigError) as caught:
        load_config(profile, env={"LT_TELEGRAM_CHAT_ID": CHAT})
    assert str(caught.value) == "config error: alerts.telegram: Telegram alerts are on: set LT_TELEGRAM_BOT_TOKEN"
    # off in the profile: no token needed
    load_config(_profile_with(tmp_path, {"enabled": True, "telegram": {"enabled": False}}), env={})


@pytest.mark.parametrize(("telegram", "field", "variable"), [
    ({"bot_token": TOKEN}, "alerts.telegram.bot_token", "LT_TELEGRAM_BOT_TOKEN"),
    ({"chat_id": CHAT}, "alerts.telegram.chat_id", "LT_TELEGRAM_CHAT_ID"),
])
def test_token_or_chat_in_yaml_is_refused(tmp_path: Path, telegram: dict[str, str], field: str,
                                          variable: str) -> None:
    profile = _profile_with(tmp_path, {"enabled": True, "telegram": {"enabled": True, **telegram}})
    with pytest.raises(ConfigError) as caught:
        load_config(profile, env={"LT_TELEGRAM_BOT_TOKEN": TOKEN, "LT_TELEGRAM_CHAT_ID": CHAT})
    message = str(caught.value)
    assert message == f"config error: secrets are not allowed in YAML: {field} (set {variable})"
    assert TOKEN not in message and CHAT not in message


@pytest.mark.parametrize("name", ["LT_ALERTS__TELEGRAM__BOT_TOKEN", "LT_ALERTS__TELEGRAM__CHAT_ID"])
def test_token_or_chat_as_a_settings_override_is_refused(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(PAPER, env={name: TOKEN})
    assert "this secret is only read from LT_TELEGRAM_" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(("env", "variable"), [
    ({"LT_TELEGRAM_BOT_TOKEN": "not-a-token-" + TOKEN[::-1]}, "LT_TELEGRAM_BOT_TOKEN"),
    ({"LT_TELEGRAM_CHAT_ID": "chat " + CHAT}, "LT_TELEGRAM_CHAT_ID"),
])
def test_malformed_token_or_chat_names_the_variable_not_the_value(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(PAPER, env=env)
    assert str(caught.value).startswith(f"config error: alerts.telegram: {variable}: not a Telegram")
    assert list(env.values())[0] not in str(caught.value)


def test_urls_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts.webhook.url: .*http:// or https://"):
        load_config(_profile_with(tmp_path, {"webhook": {"url": "ftp://example.com/x"}}), env={})
    with pytest.raises(ConfigError, match=r"alerts.telegram.base_url: .*http:// or https://"):
        load_config(_profile_with(tmp_path, {"telegram": {"base_url": "api.telegram.org"}}), env={})
