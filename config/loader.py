"""Load the configuration: a YAML profile, then `LT_` environment overrides, then API keys.

    settings = load_config()                          # $LT_CONFIG, else config/paper.yaml
    settings = load_config("config/live.yaml", env)   # env defaults to os.environ

Environment overrides
    `LT_<FIELD>` or `LT_<SECTION>__<FIELD>[__<FIELD>...]`; names are matched lower-cased, `__`
    separates levels and a number indexes a list that the profile already has:

        LT_MODE=live
        LT_RISK__MAX_NET_NOTIONAL=500
        LT_RISK__BREAKERS__DAILY_LOSS_PCT=1.5
        LT_STRATEGIES__0__ENABLED=false            # the first strategy of the profile
        LT_MARKETS='[2, 1]'                        # a value starting with [ or { is parsed as YAML

    Other values stay strings and pydantic converts them ("500" -> 500.0, "false" -> False).
    Only variables whose first part names a top-level setting are overrides, so unrelated `LT_`
    variables (LT_CONFIG, LT_SHARED_DATA, the API keys) are left alone.

API keys (secrets)
    Never in YAML: any key named like a secret (`*key*`, `*secret*`, `*password*`, `*token*`, ...;
    except `api_key_index` and `key_file`) holding a value is an error naming its path. A
    strategy's private key comes from `LT_API_KEY_<account_index>_<api_key_index>` (for example
    LT_API_KEY_1001_0), else from the strategy's `key_file` (a file holding only the key; its
    permissions must be 0600 or stricter). In live mode every enabled live strategy needs a key;
    in paper mode keys are optional. Keys are 40 bytes written as 80 hex digits (optionally 0x).
    Telegram's bot token and chat id come only from LT_TELEGRAM_BOT_TOKEN and LT_TELEGRAM_CHAT_ID
    (`chat_id` is refused in YAML too); they are required when alerts and alerts.telegram are on.

Errors
    Every problem raises `ConfigError`, whose str is one line naming the field and the problem:
    `config error: risk.max_net_notional: Input should be a valid number, unable to parse string
    as a number (got 'abc') [from LT_RISK__MAX_NET_NOTIONAL]`. Values are shown only for
    scalar inputs of non-secret fields. Entry points wrap start-up in `exit_on_config_error()`,
    which prints that line to stderr and exits with status 2.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails

from config.settings import AppSettings, StrategyConfig, TelegramConfig

ENV_PREFIX = "LT_"
CONFIG_ENV = "LT_CONFIG"
DEFAULT_PROFILE = Path(__file__).resolve().with_name("paper.yaml")

_SECRET_WORDS = ("key", "secret", "password", "passphrase", "token", "mnemonic", "credential")
_NOT_SECRETS = frozenset({"api_key_index", "key_file", "auth_token_lifetime_s"})  # names, not secrets
_KEY_PATTERN = re.compile(r"^(0x)?[0-9a-fA-F]{80}$")
TELEGRAM_TOKEN_ENV = "LT_TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ENV = "LT_TELEGRAM_CHAT_ID"
_ENV_ONLY = {"bot_token": TELEGRAM_TOKEN_ENV, "chat_id": TELEGRAM_CHAT_ENV}  # never from YAML
_TELEGRAM_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")  # Telegram's "<bot id>:<secret>"
_TELEGRAM_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z0-9_]{4,64})$")  # a chat's number or a channel's @name
_RELATIVE_PATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$")

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration problem; str(error) is one line: `config error: <field>: <problem>`."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        self.field = field
        self.problem = " ".join(problem.split())  # one line, whatever the source said
        super().__init__(self.problem)

    def __str__(self) -> str:
        return (
            f"config error: {self.field}: {self.problem}" if self.field else f"config error: {self.problem}"
        )

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str | None]]:
        return (ConfigError, (self.problem, self.field))  # crosses Ray intact (field included)


def api_key_env_name(account_index: int, api_key_index: int) -> str:
    return f"{ENV_PREFIX}API_KEY_{account_index}_{api_key_index}"


def resolve_profile(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The profile load_config reads: path, else $LT_CONFIG, else config/paper.yaml."""
    env = os.environ if env is None else env
    return Path(path) if path is not None else Path(env.get(CONFIG_ENV) or DEFAULT_PROFILE)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> AppSettings:
    """The validated settings; raises ConfigError (one line) on any problem."""
    env = os.environ if env is None else env
    data = _read_yaml(resolve_profile(path, env))
    _reject_secrets(data, ())
    sources = _apply_env_overrides(data, env)
    try:
        settings = AppSettings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, sources) from None
    return _attach_telegram(_attach_keys(settings, env), env)


@contextmanager
def exit_on_config_error(stream: TextIO | None = None) -> Iterator[None]:
    """For entry points: a ConfigError inside prints its one line and exits with status 2::

        with exit_on_config_error():
            settings = load_config(args.config)

    Also usable as a decorator (`@exit_on_config_error()`) on a `main()` function.
    """
    try:
        yield
    except ConfigError as exc:
        print(str(exc), file=stream if stream is not None else sys.stderr)
        raise SystemExit(2) from None


# ---------------------------------------------------------------------------------------------
# YAML and secrets
# ---------------------------------------------------------------------------------------------


def _read_yaml(profile: Path) -> dict[str, Any]:
    try:
        text = profile.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file not found: {profile}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {profile}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{profile}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{profile}: the top level must be a mapping of settings, got {type(data).__name__}"
        )
    return data


def _looks_secret(name: object) -> bool:
    lowered = str(name).lower()
    return lowered not in _NOT_SECRETS and any(word in lowered for word in _SECRET_WORDS)


def _holds_value(value: Any) -> bool:
    return value is not None and value != "" and value != {} and value != []


def _reject_secrets(node: Any, loc: Loc) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if (_looks_secret(key) or key in _ENV_ONLY) and _holds_value(value):
                source = _ENV_ONLY.get(key, "LT_API_KEY_<account_index>_<api_key_index> or a key_file")
                raise ConfigError(f"secrets are not allowed in YAML: {format_loc((*loc, str(key)))} (set {source})")
            _reject_secrets(value, (*loc, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _reject_secrets(value, (*loc, index))


# ---------------------------------------------------------------------------------------------
# Environment overrides
# ---------------------------------------------------------------------------------------------


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[Loc, str]:
    """Apply every LT_ override to data in place; returns {path: variable name} for messages."""
    top_level = set(AppSettings.model_fields)
    sources: dict[Loc, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in top_level:
            continue
        env_only = next((_ENV_ONLY[part] for part in parts if part in _ENV_ONLY), None)
        if env_only is not None:
            raise ConfigError(f"{name}: this secret is only read from {env_only}")
        if any(_looks_secret(part) for part in parts):
            raise ConfigError(
                f"{name}: secrets are only read from LT_API_KEY_<account_index>_<api_key_index> or a key_file"
            )
        sources[_set_path(data, parts, _parse_env_value(name, env[name]), name)] = name
    return sources


def _parse_env_value(name: str, raw: str) -> Any:
    if raw.lstrip().startswith(("[", "{")):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"{name}: the value starts with [ or {{ but is not valid YAML/JSON") from None
    return raw


def _set_path(data: dict[str, Any], parts: list[str], value: Any, name: str) -> Loc:
    node: Any = data
    loc: Loc = ()
    for depth, part in enumerate(parts):
        key: str | int
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"{name}: {format_loc(loc)} is a list; expected an index, got {part!r}")
            key = int(part)
            if key >= len(node):
                raise ConfigError(f"{name}: {format_loc(loc)} has {len(node)} items, there is no [{key}]")
        elif isinstance(node, dict):
            key = part
        else:
            raise ConfigError(f"{name}: {format_loc(loc)} is a value, not a section")
        loc = (*loc, key)
        if depth == len(parts) - 1:
            node[key] = value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
            node = node[key]
    return loc


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def format_loc(loc: Loc) -> str:
    """('strategies', 0, 'private_key') -> 'strategies[0].private_key'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _config_error(exc: ValidationError, sources: dict[Loc, str]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    field, problem = _describe(first)
    loc = tuple(first["loc"])
    source = next((name for path, name in sources.items() if loc[: len(path)] == path), None)
    if source:
        problem += f" [from {source}]"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    return ConfigError(problem, field=field or None)


def _describe(error: ErrorDetails) -> tuple[str, str]:
    loc = tuple(error["loc"])
    field = format_loc(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return field, "unknown key"
    if kind == "missing":
        return field, "field required"
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        relative = _RELATIVE_PATH.match(message)
        if relative:  # the validator named the field, relative to the model it checks
            field = f"{field}.{relative.group(1)}" if field else relative.group(1)
            return field, relative.group(2)
        return field, message
    value = error.get("input")
    if isinstance(value, (str, int, float, bool)) and not any(_looks_secret(part) for part in loc):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        message += f" (got {shown})"
    return field, message


# ---------------------------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------------------------


def _attach_keys(settings: AppSettings, env: Mapping[str, str]) -> AppSettings:
    strategies: list[StrategyConfig] = []
    for index, strategy in enumerate(settings.strategies):
        key = _find_key(index, strategy, env)
        strategies.append(strategy.model_copy(update={"private_key": key}) if key is not None else strategy)
        if key is None and settings.mode == "live" and strategy.mode == "live" and strategy.enabled:
            raise ConfigError(
                f"a live strategy needs an API key: set "
                f"{api_key_env_name(strategy.account_index, strategy.api_key_index)} or key_file",
                field=f"strategies[{index}]",
            )
    return settings.model_copy(update={"strategies": strategies})


def _find_key(index: int, strategy: StrategyConfig, env: Mapping[str, str]) -> SecretStr | None:
    name = api_key_env_name(strategy.account_index, strategy.api_key_index)
    raw = env.get(name, "").strip()
    if raw:
        return _checked_key(raw, name)
    if strategy.key_file is None:
        return None
    field = f"strategies[{index}].key_file"
    path = strategy.key_file.expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", field=field) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"not a regular file: {path}", field=field)
    permissions = stat.S_IMODE(info.st_mode)
    if permissions & 0o077:
        raise ConfigError(
            f"permissions {permissions:04o} of {path} are too open (expected 0600)", field=field
        )
    try:
        raw = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"cannot read {path}", field=field) from None
    return _checked_key(raw, field)


def _checked_key(raw: str, source: str) -> SecretStr:
    if not _KEY_PATTERN.match(raw):
        # the value itself is never shown: only what is wrong with it
        raise ConfigError(f"{source}: not a Lighter API private key (expected 40 bytes as 80 hex digits)")
    return SecretStr(raw)


# ---------------------------------------------------------------------------------------------
# Telegram
# ---------------------------------------------------------------------------------------------


def _attach_telegram(settings: AppSettings, env: Mapping[str, str]) -> AppSettings:
    """The bot token and chat id from the environment; required only when Telegram alerts are on.
    The values are never shown in an error, only which variable is wrong."""
    token = env.get(TELEGRAM_TOKEN_ENV, "").strip()
    chat = env.get(TELEGRAM_CHAT_ENV, "").strip()
    field = "alerts.telegram"
    if token and not _TELEGRAM_TOKEN.match(token):
        raise ConfigError(f"{TELEGRAM_TOKEN_ENV}: not a Telegram bot token (expected <bot id>:<secret>)", field=field)
    if chat and not _TELEGRAM_CHAT.match(chat):
        raise ConfigError(f"{TELEGRAM_CHAT_ENV}: not a Telegram chat id (expected a number or @channel)",
                          field=field)
    alerts = settings.alerts
    if alerts.enabled and alerts.telegram.enabled:
        missing = [name for name, value in ((TELEGRAM_TOKEN_ENV, token), (TELEGRAM_CHAT_ENV, chat)) if not value]
        if missing:
            raise ConfigError(f"Telegram alerts are on: set {' and '.join(missing)}", field=field)
    if not token and not chat:
        return settings
    telegram: TelegramConfig = alerts.telegram.model_copy(update={
        "bot_token": SecretStr(token) if token else None,
        "chat_id": SecretStr(chat) if chat else None,
    })
    return settings.model_copy(update={"alerts": alerts.model_copy(update={"telegram": telegram})})
