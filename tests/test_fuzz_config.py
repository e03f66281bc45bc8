"""Fuzzing the configuration loader (issue 15 item 3): the shipped profiles with fields edited at
random, broken YAML text, and random environment overrides. load_config either returns settings
or raises ConfigError, whose text is one line; nothing else escapes, and no secret-looking value
from the input is echoed in the error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loader import ConfigError, load_config
from tests.fuzzing import mutated

pytestmark = pytest.mark.timeout(120)

CONFIG = Path(__file__).resolve().parent.parent / "config"
PROFILES = {p.name: yaml.safe_load(p.read_text()) for p in sorted(CONFIG.glob("*.yaml"))}
SECRET = "0x" + "5a" * 40


def _load(text: str, env: dict[str, str] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profile.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path, env=env or {})
        except ConfigError as exc:
            line = str(exc)
            assert line.startswith("config error:") and "\n" not in line, line
            assert SECRET not in line and SECRET[2:] not in line


def test_the_shipped_profiles_load() -> None:
    for name, doc in PROFILES.items():
        load_config(CONFIG / name, env={})
        assert doc


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(PROFILES)))
def test_profiles_with_edited_fields_load_or_fail_in_one_line(data: st.DataObject, name: str) -> None:
    doc: Any = data.draw(mutated(PROFILES[name], max_edits=4))
    _load(yaml.safe_dump(doc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(PROFILES)))
def test_broken_yaml_text_fails_in_one_line(data: st.DataObject, name: str) -> None:
    text = yaml.safe_dump(PROFILES[name])
    at = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["\t", ": :", "- [", "{", "'", "\x00", "&a *b", "!!python/object:os.system", "\ufeff"]))
    _load(text[:at] + junk + text[at:])


override_keys = st.sampled_from([
    "LT_RISK__MAX_NET_NOTIONAL", "LT_STRATEGIES__0__ENABLED", "LT_STRATEGIES__9__MODE", "LT_MODE",
    "LT_VENUE__SIM__SPEED", "LT_FEED__STALE_AFTER_S", "LT_OPERATOR__PORT", "LT_MARKETS", "LT_",
    "LT_STRATEGIES__0__PRIVATE_KEY", "LT_STORAGE__DB_PATH", "LT_SUPERVISOR__MAX_RESTARTS",
])
override_values = st.one_of(st.sampled_from(["", "-1", "nan", "inf", "true", "[1,", "{}", SECRET, "1e999", "0"]),
                            st.text(max_size=10))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=st.dictionaries(override_keys, override_values, max_size=3))
def test_environment_overrides_load_or_fail_in_one_line(env: dict[str, str]) -> None:
    _load((CONFIG / "paper.yaml").read_text(), env=env)
