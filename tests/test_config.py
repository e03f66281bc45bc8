"""Configuration: profiles load, env overrides apply, each bad case is one clear line, secrets stay secret."""

from __future__ import annotations

import copy
import io
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import AppSettings, ConfigError, exit_on_config_error, load_config
from config.check import main as check_main
from config.loader import DEFAULT_PROFILE

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "config" / "paper.yaml"
LIVE_EXAMPLE = REPO / "config" / "live.example.yaml"


def _profile(path: Path = PAPER) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: dict[str, Any], name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _fresh_key() -> str:
    """A random key in Lighter's format (40 bytes as 0x + 80 hex digits, as lighter.create_api_key)."""
    return "0x" + secrets.token_hex(40)


# ---------------------------------------------------------------------------------------------
# Good profiles
# ---------------------------------------------------------------------------------------------


def test_paper_profile_is_the_default_and_describes_the_simulator() -> None:
    settings = load_config(env={})
    assert DEFAULT_PROFILE == PAPER
    assert settings.mode == "paper"
    assert settings.venue.sim.source == "synthetic" and settings.venue.sim.speed == 1.0
    assert settings.markets == [2]
    assert [(s.name, s.kind, s.account_index, s.mode) for s in settings.strategies] == [
        ("rsi_bb", "rsi_bb", 1001, "paper"),
        ("renko_ao", "renko_ao", 1002, "paper"),
        ("breakout", "breakout", 1003, "paper"),
    ]
    assert settings.risk.max_slippage_bps == 50 and settings.risk.order_rate_per_min == 60
    assert settings.risk.breakers.daily_loss_pct == 2.0 and settings.risk.breakers.max_consecutive_losses == 5
    assert settings.feed.batch_interval_ms == 1 and settings.storage.keep_backups == 10
    assert settings.cancel_on_exit and not settings.allow_shared_accounts
    assert all(not s.has_key for s in settings.strategies)


def test_child_specs_follow_the_mode_and_add_one_actor_per_enabled_strategy() -> None:
    paper = load_config(PAPER, env={"LT_STRATEGIES__1__ENABLED": "false"})
    names = [spec.name for spec in paper.child_specs()]
    assert names == [
        "persistence",
        "venue-sim",
        "feed",
        "risk",
        "router",
        "operator",
        "strategy:rsi_bb",
        "strategy:breakout",
    ]
    assert all(spec.num_cpus == 0 for spec in paper.child_specs())
    live = load_config(LIVE_EXAMPLE, env={})
    assert "venue-sim" not in [spec.name for spec in live.child_specs()]


def test_live_example_loads_and_points_at_mainnet() -> None:
    settings = load_config(LIVE_EXAMPLE, env={})
    assert settings.mode == "live"
    assert settings.venue.url == "https://mainnet.zklighter.elliot.ai"
    assert settings.venue.ws_url == "wss://mainnet.zklighter.elliot.ai/stream"
    assert len({s.account_index for s in settings.strategies}) == len(settings.strategies)


def test_lt_config_selects_the_profile(tmp_path: Path) -> None:
    data = _profile()
    data["risk"]["max_net_notional"] = 123
    path = _write(tmp_path, data)
    assert load_config(env={"LT_CONFIG": str(path)}).risk.max_net_notional == 123


# ---------------------------------------------------------------------------------------------
# Environment overrides
# ---------------------------------------------------------------------------------------------


def test_env_overrides_nested_fields_list_items_and_lists() -> None:
    env = {
        "LT_RISK__MAX_NET_NOTIONAL": "500",
        "LT_RISK__BREAKERS__DAILY_LOSS_PCT": "1.5",
        "LT_STRATEGIES__0__ENABLED": "false",
        "LT_STRATEGIES__2__PARAMS": "{breakout_lookback: 20}",
        "LT_VENUE__SIM__SPEED": "100",
        "LT_MODE": "paper",
        "LT_SHARED_DATA": "/elsewhere",  # not a setting: ignored
    }
    settings = load_config(PAPER, env=env)
    assert settings.risk.max_net_notional == 500.0
    assert settings.risk.breakers.daily_loss_pct == 1.5
    assert settings.strategies[0].enabled is False and settings.strategies[1].enabled is True
    assert settings.strategies[2].params == {"breakout_lookback": 20}
    assert settings.venue.sim.speed == 100.0
    assert load_config(PAPER, env={}).risk.max_net_notional == 1000.0  # the profile itself unchanged


def test_env_override_can_fill_a_section_the_profile_omits(tmp_path: Path) -> None:
    data = _profile()
    del data["feed"]
    settings = load_config(_write(tmp_path, data), env={"LT_FEED__STALE_AFTER_S": "2.5"})
    assert settings.feed.stale_after_s == 2.5 and settings.feed.batch_interval_ms == 1.0


# ---------------------------------------------------------------------------------------------
# Bad configurations: one line naming the field
# ---------------------------------------------------------------------------------------------


def _drop_venue_url(d: dict[str, Any]) -> None:
    del d["venue"]["url"]


def _drop_market_id(d: dict[str, Any]) -> None:
    del d["strategies"][1]["market_id"]


def _bad_number(d: dict[str, Any]) -> None:
    d["risk"]["max_net_notional"] = "abc"


def _bad_bool(d: dict[str, Any]) -> None:
    d["strategies"][2]["enabled"] = "perhaps"


def _unknown_key(d: dict[str, Any]) -> None:
    d["risk"]["max_net_notionl"] = 5


def _unknown_top_level(d: dict[str, Any]) -> None:
    d["colour"] = "blue"


def _private_key_in_yaml(d: dict[str, Any]) -> None:
    d["strategies"][0]["private_key"] = "0x" + "ab" * 40


def _secret_in_params(d: dict[str, Any]) -> None:
    d["strategies"][2]["params"] = {"api_secret": "hunter2"}


def _shared_account(d: dict[str, Any]) -> None:
    d["strategies"][2]["account_index"] = 1001


def _duplicate_name(d: dict[str, Any]) -> None:
    d["strategies"][1]["name"] = "rsi_bb"


def _unknown_market(d: dict[str, Any]) -> None:
    d["strategies"][0]["market_id"] = 7


def _bad_kind(d: dict[str, Any]) -> None:
    d["strategies"][0]["kind"] = "martingale"


def _sizes_inverted(d: dict[str, Any]) -> None:
    d["strategies"][1]["size_min"] = 0.5


def _timeout_below_interval(d: dict[str, Any]) -> None:
    d["supervisor"]["heartbeat_timeout_s"] = 0.5


def _url_not_the_simulator(d: dict[str, Any]) -> None:
    d["venue"]["url"] = "http://127.0.0.1:9999"


BAD_CASES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (_drop_venue_url, "config error: venue.url: field required"),
    (_drop_market_id, "config error: strategies[1].market_id: field required"),
    (
        _bad_number,
        "config error: risk.max_net_notional: Input should be a valid number, "
        "unable to parse string as a number (got 'abc')",
    ),
    (
        _bad_bool,
        "config error: strategies[2].enabled: Input should be a valid boolean, "
        "unable to interpret input (got 'perhaps')",
    ),
    (_unknown_key, "config error: risk.max_net_notionl: unknown key"),
    (_unknown_top_level, "config error: colour: unknown key"),
    (_private_key_in_yaml, "config error: secrets are not allowed in YAML: strategies[0].private_key (set"),
    (
        _secret_in_params,
        "config error: secrets are not allowed in YAML: strategies[2].params.api_secret (set",
    ),
    (
        _shared_account,
        "config error: strategies[2].account_index: account 1001 is already used by strategy 'rsi_bb'",
    ),
    (_duplicate_name, "config error: strategies[1].name: 'rsi_bb' is already used by strategies[0]"),
    (_unknown_market, "config error: strategies[0].market_id: market 7 is not in markets [2]"),
    (_bad_kind, "config error: strategies[0].kind: Input should be 'rsi_bb', 'renko_ao', 'breakout' or"),
    (_sizes_inverted, "config error: strategies[1].size_min: 0.5 is above size_max 0.1"),
    (_timeout_below_interval, "config error: supervisor.heartbeat_timeout_s: 0.5 must exceed"),
    (
        _url_not_the_simulator,
        "config error: venue.url: in paper mode it must point at the simulator's port 8765",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), BAD_CASES, ids=[case[0].__name__.strip("_") for case in BAD_CASES]
)
def test_each_bad_profile_is_one_line_naming_the_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = copy.deepcopy(_profile())
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, data), env={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(expected), message


def test_shared_accounts_are_allowed_when_explicitly_enabled(tmp_path: Path) -> None:
    data = _profile()
    _shared_account(data)
    data["allow_shared_accounts"] = True
    settings = load_config(_write(tmp_path, data), env={})
    assert settings.strategies[0].account_index == settings.strategies[2].account_index == 1001


def test_wrong_type_from_env_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(PAPER, env={"LT_RISK__MAX_NET_NOTIONAL": "abc"})
    assert str(caught.value) == (
        "config error: risk.max_net_notional: Input should be a valid number, unable to parse string as a "
        "number (got 'abc') [from LT_RISK__MAX_NET_NOTIONAL]"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"LT_STRATEGIES__3__ENABLED": "false"},
            "LT_STRATEGIES__3__ENABLED: strategies has 3 items, there is no [3]",
        ),
        (
            {"LT_STRATEGIES__X__ENABLED": "false"},
            "LT_STRATEGIES__X__ENABLED: strategies is a list; expected an index",
        ),
        (
            {"LT_STRATEGIES__0__PRIVATE_KEY": "0xab"},
            "LT_STRATEGIES__0__PRIVATE_KEY: secrets are only read from",
        ),
        ({"LT_MARKETS": "[2, oops"}, "LT_MARKETS: the value starts with [ or { but is not valid YAML/JSON"),
    ],
)
def test_bad_env_overrides_are_one_line(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(PAPER, env=env)
    assert str(caught.value).startswith(f"config error: {expected}")
    assert "0xab" not in str(caught.value)


def test_missing_file_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml", env={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("mode: paper\nvenue: [\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line 3, column 1"):
        load_config(broken, env={})
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_config(listing, env={})


def test_config_error_is_always_one_line() -> None:
    assert str(ConfigError("first\nsecond  line", field="a.b")) == "config error: a.b: first second line"


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


def test_key_from_env_is_attached_as_a_secret_that_never_prints() -> None:
    key = _fresh_key()
    settings = load_config(PAPER, env={"LT_API_KEY_1002_0": key})
    strategy = settings.strategies[1]
    assert strategy.has_key and strategy.private_key is not None
    assert strategy.private_key.get_secret_value() == key
    assert not settings.strategies[0].has_key
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())):
        assert key not in text and key[2:] not in text


def test_live_strategy_needs_a_key_and_a_bad_key_is_refused_without_echoing_it() -> None:
    enable = {"LT_STRATEGIES__0__ENABLED": "true"}
    with pytest.raises(ConfigError) as caught:
        load_config(LIVE_EXAMPLE, env=enable)
    assert str(caught.value) == (
        "config error: strategies[0]: a live strategy needs an API key: set LT_API_KEY_100001_3 or key_file"
    )
    bad_key = "0x" + "zz" * 40
    with pytest.raises(ConfigError) as caught:
        load_config(LIVE_EXAMPLE, env={**enable, "LT_API_KEY_100001_3": bad_key})
    assert "LT_API_KEY_100001_3: not a Lighter API private key" in str(caught.value)
    assert "zz" not in str(caught.value)
    settings = load_config(LIVE_EXAMPLE, env={**enable, "LT_API_KEY_100001_3": _fresh_key()})
    assert settings.strategies[0].has_key


def test_key_file_must_be_private(tmp_path: Path) -> None:
    key = _fresh_key()
    key_file = tmp_path / "rsi_bb.key"
    key_file.write_text(key + "\n")
    data = _profile()
    data["strategies"][0]["key_file"] = str(key_file)
    profile = _write(tmp_path, data)

    key_file.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(profile, env={})
    assert str(caught.value).startswith("config error: strategies[0].key_file: permissions 0644 of ")
    assert str(caught.value).endswith("are too open (expected 0600)")

    key_file.chmod(0o600)
    settings = load_config(profile, env={})
    assert settings.strategies[0].private_key is not None
    assert settings.strategies[0].private_key.get_secret_value() == key

    key_file.unlink()
    with pytest.raises(ConfigError, match=r"strategies\[0\]\.key_file: file not found"):
        load_config(profile, env={})


def test_env_key_takes_precedence_over_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(_fresh_key())
    key_file.chmod(0o600)
    data = _profile()
    data["strategies"][0]["key_file"] = str(key_file)
    env_key = _fresh_key()
    settings = load_config(_write(tmp_path, data), env={"LT_API_KEY_1001_0": env_key})
    assert settings.strategies[0].private_key is not None
    assert settings.strategies[0].private_key.get_secret_value() == env_key


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def test_exit_on_config_error_prints_one_line_and_exits_2() -> None:
    stream = io.StringIO()
    with pytest.raises(SystemExit) as caught, exit_on_config_error(stream):
        raise ConfigError("boom", field="risk.x")
    assert caught.value.code == 2
    assert stream.getvalue() == "config error: risk.x: boom\n"


def test_check_main_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(["--config", str(PAPER)], env={}) == 0
    out = capsys.readouterr().out
    assert "mode: paper" in out and "rsi_bb" in out and "account=1003" in out


def _run_check(config: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LT_")}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "config.check", "--config", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_cli_exits_2_with_exactly_one_line_on_stderr(tmp_path: Path) -> None:
    data = _profile()
    _bad_number(data)
    result = _run_check(_write(tmp_path, data, "bad.yaml"), {})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "config error: risk.max_net_notional: Input should be a valid number, unable to parse string as a "
        "number (got 'abc')"
    ]


def test_check_cli_never_shows_a_key_given_through_the_environment() -> None:
    key = _fresh_key()
    result = _run_check(LIVE_EXAMPLE, {"LT_API_KEY_100001_3": key, "LT_STRATEGIES__0__ENABLED": "true"})
    assert result.returncode == 0, result.stderr
    assert "key present" in result.stdout
    for stream in (result.stdout, result.stderr):
        assert key not in stream and key[2:] not in stream and key[2:20] not in stream


def test_settings_can_be_built_in_code_and_keep_their_rules() -> None:
    base = load_config(PAPER, env={}).model_dump(mode="json")
    assert AppSettings.model_validate(base).strategies[2].name == "breakout"
    base["strategies"][1]["account_index"] = 1001
    with pytest.raises(ValueError, match="already used"):
        AppSettings.model_validate(base)


def test_every_setting_that_is_not_a_secret_can_be_set_in_yaml() -> None:
    """The secret guard goes by field names ("token", "key", ...): a plain setting whose name holds
    such a word (auth_token_lifetime_s) must not be refused with the secrets."""
    from pydantic import BaseModel, SecretStr

    from config.loader import _looks_secret
    from config.settings import AppSettings

    def walk(model: type[BaseModel], where: str) -> list[str]:
        flagged = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
            if any(issubclass(a, BaseModel) for a in inner):
                flagged += walk(next(a for a in inner if issubclass(a, BaseModel)), f"{where}{name}.")
            elif _looks_secret(name) and SecretStr not in inner and not field.exclude:
                flagged.append(where + name)
        return flagged

    assert walk(AppSettings, "") == []
    live = load_config(REPO / "config" / "live.example.yaml", env={})
    assert live.venue.auth_token_lifetime_s == 3600
