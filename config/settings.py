"""The configuration model: pydantic v2, frozen, unknown keys forbidden.

`AppSettings` is the whole configuration; `config.loader.load_config` builds it from a YAML profile
plus `LT_` environment overrides and attaches API keys from the environment or key files. Every
model forbids unknown keys, so a typo is an error rather than a silently ignored setting.

Cross-field rules (checked here, so a hand-built AppSettings obeys them too) raise ValueError
whose message starts with the field's path relative to the model being checked
("strategies[1].account_index: ..." at the top, "size_min: ..." inside a strategy); the loader
turns them into one-line `ConfigError`s with the full path.

Units: prices and notionals in quote (USDC), sizes in base units, fees as fractions of notional
(0.0002 is 2 bps), `*_bps` in basis points, `*_pct` in percent, `*_s` / `*_ms` in seconds and
milliseconds. Relative paths are relative to the working directory of the process.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Mode = Literal["paper", "live"]
StrategyKind = Literal["rsi_bb", "renko_ao", "breakout", "market_maker"]
QUOTING_KINDS = frozenset({"market_maker"})  # strategies that keep several named orders (strategies/quoting.py)

_NAME = r"^[a-z0-9][a-z0-9_\-]*$"  # usable inside a Ray actor name ("strategy:<name>")
_CLASS_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _check_class_path(value: str) -> str:
    if not _CLASS_PATH.match(value):
        raise ValueError(f"must look like 'package.module:ClassName', got {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# Venue
# ---------------------------------------------------------------------------------------------


class SimConfig(_Model):
    """The local Lighter-compatible simulator (used in paper mode)."""

    source: Literal["synthetic", "candles", "recording", "lighter"] = "synthetic"
    source_path: Path | None = None  # the candles CSV or the websocket recording to replay
    # lighter: the Lighter websocket whose markets the simulator mirrors in real time (paper
    # trading on Lighter's prices, venue.sim.lighter_mirror), e.g. wss://mainnet.zklighter.elliot.ai/stream
    upstream_url: str | None = None
    # event time per wall time: 1000 replays a day in ~86 s; 0 = as fast as possible (as for venue.sim)
    speed: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    collateral: float = Field(default=1000.0, gt=0)  # starting USDC of every simulated account
    maker_fee: float = Field(default=0.0, ge=0, lt=0.01)
    taker_fee: float = Field(default=0.0, ge=0, lt=0.01)
    # hours of market past the candles endpoint serves from the start, as Lighter serves past
    # candles, so strategies warm up at once: 14 covers breakout's 50 15-minute candles with a
    # margin; 0 = none. A candles file must hold more than this; a recording has no past.
    history_hours: float = Field(default=14.0, ge=0, le=744, allow_inf_nan=False)
    # Lighter's account tiers (venue.sim.tiers): "standard" (200/300 ms speed bumps, 60
    # transactions a minute of event time, no fees), "premium" (0/150 ms, maker 0.28 and taker
    # 1.96 bps), or "paper" (no bump, no limit, maker_fee/taker_fee above): the default, which the
    # directional strategies' fast runs need; account_tiers overrides it per account
    default_tier: Literal["paper", "standard", "premium"] = "paper"
    account_tiers: dict[int, Literal["paper", "standard", "premium"]] = Field(default_factory=dict)
    # hourly funding on open positions at every whole hour of event time (venue.sim.funding), as a
    # fraction per hour: > 0 longs pay shorts. 0.0000125 is Lighter's baseline (0.01% per 8 h);
    # funding_rates overrides it per market; 0 = no funding
    funding_rate_per_hour: float = Field(default=0.0000125, ge=-0.04, le=0.04, allow_inf_nan=False)
    funding_rates: dict[int, float] = Field(default_factory=dict)
    # true: the paper venue runs outside the system (`python -m venue.sim`, at venue.url), which
    # then starts no venue-sim actor and expects the venue up: it survives the system's restarts
    external: bool = False

    @field_validator("funding_rates")
    @classmethod
    def _rates_in_range(cls, value: dict[int, float]) -> dict[int, float]:
        bad = [(m, r) for m, r in value.items() if not (math.isfinite(r) and abs(r) <= 0.04)]
        if bad:
            raise ValueError(f"market {bad[0][0]}: funding rate must be within +-0.04 per hour, got {bad[0][1]}")
        return value

    @field_validator("account_tiers")
    @classmethod
    def _accounts_non_negative(cls, value: dict[int, str]) -> dict[int, str]:
        bad = [a for a in value if a < 0]
        if bad:
            raise ValueError(f"account index must be >= 0, got {bad[0]}")
        return value

    @model_validator(mode="after")
    def _source_needs_path(self) -> SimConfig:
        if self.source == "lighter":
            url = urlsplit(self.upstream_url or "")
            if url.scheme not in ("ws", "wss") or not url.hostname:
                raise ValueError("upstream_url: the lighter source needs the ws:// or wss:// URL of a Lighter "
                                 f"websocket, got {self.upstream_url!r}")
            if self.speed != 1.0:
                raise ValueError(f"speed: the lighter source runs in real time (1), got {self.speed:g}")
        elif self.source != "synthetic" and self.source_path is None:
            raise ValueError(f"source_path: required for the {self.source!r} source")
        return self


class VenueConfig(_Model):
    url: str  # REST base URL
    ws_url: str  # websocket URL (Lighter: .../stream)
    # orders go over the websocket (Lighter's jsonapi/sendtx) while it is connected, else REST
    tx_over_websocket: bool = True
    # life of the router's auth tokens (private endpoints, account channels): renewed at 80% of it
    auth_token_lifetime_s: int = Field(default=3600, ge=2, le=8 * 3600)
    sim: SimConfig = SimConfig()

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("ws", "wss") or not urlsplit(value).hostname:
            raise ValueError("must be a ws:// or wss:// URL")
        return value


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


class BreakerConfig(_Model):
    daily_loss_pct: float = Field(default=2.0, gt=0, le=100)  # of the account's equity; resets 00:00 UTC
    max_consecutive_losses: int = Field(default=5, ge=1)
    max_drawdown_pct: float = Field(default=5.0, gt=0, le=100)  # from the equity peak


class StrategyConfig(_Model):
    """One strategy instance: one market on its own Lighter account.

    The private key is never read from YAML: the loader sets `private_key` from the environment
    variable `LT_API_KEY_<account_index>_<api_key_index>` or from `key_file` (mode 0600). It is a
    SecretStr, excluded from dumps and reprs; use `private_key.get_secret_value()` only where the
    key is handed to the signer.
    """

    name: str = Field(pattern=_NAME)
    kind: StrategyKind
    preset: str = "default"
    enabled: bool = True
    mode: Mode = "paper"
    market_id: int = Field(ge=0)
    account_index: int = Field(ge=0)
    api_key_index: int = Field(default=0, ge=0, le=255)
    size_min: float = Field(default=0.1, gt=0)
    size_max: float = Field(default=0.1, gt=0)
    params: dict[str, Any] = {}  # overrides of the preset's parameters (the strategy validates them)
    # the Lighter account's tier in live mode (the paper venue's accounts take venue.sim's tiers)
    account_tier: Literal["standard", "premium"] = "standard"
    breakers: BreakerConfig | None = None  # this strategy's own breakers instead of risk.breakers (a maker
    # closes many small FIFO lots: five small losses in a row are its everyday, not a losing streak)
    key_file: Path | None = None
    private_key: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @field_validator("params")
    @classmethod
    def _scalar_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not isinstance(item, (bool, int, float, str)):
                raise ValueError(f"params.{name} must be a number, a string or a boolean")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> StrategyConfig:
        if self.size_min > self.size_max:
            raise ValueError(f"size_min: {self.size_min} is above size_max {self.size_max}")
        return self

    @property
    def actor_name(self) -> str:
        return f"strategy:{self.name}"

    @property
    def has_key(self) -> bool:
        return self.private_key is not None


# ---------------------------------------------------------------------------------------------
# Risk, feed, storage, supervision
# ---------------------------------------------------------------------------------------------


class RiskConfig(_Model):
    max_net_notional: float = Field(default=1000.0, gt=0)  # |net exposure| across all accounts, quote
    price_band_bps: float = Field(default=50.0, gt=0)  # limit prices further than this from mid are refused
    max_slippage_bps: float = Field(default=50.0, gt=0)  # market orders' worst price from mid
    order_rate_per_min: int = Field(default=60, ge=1)  # per account (Lighter standard accounts: 60/min)
    cancel_rate_per_min: int = Field(default=60, ge=1)
    breakers: BreakerConfig = BreakerConfig()
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    # an approved entry not sent within this long of its approval is refused by the router (risk.approval)
    approval_ttl_ms: int = Field(default=1000, ge=0)  # 0: no deadline


class FeedConfig(_Model):
    # at most one batch per subscriber this often, and one in flight: under load batches grow by
    # themselves; at rest an event goes out within this interval (0: at once)
    batch_interval_ms: float = Field(default=1.0, ge=0)
    stale_after_s: float = Field(default=5.0, gt=0)  # a market silent this long is stale: no new entries
    conflate_book_tops: bool = True
    # a forward jump of a book's offset is a gap (resubscribe) only where offsets count up by one per
    # update: the paper venue. Lighter's are not contiguous per market. None: by mode (paper strict)
    strict_offsets: bool | None = None


class StorageConfig(_Model):
    db_path: Path = Path("data/lighter_trader.db")
    backup_dir: Path = Path("backups")
    backup_interval_s: float = Field(default=3600.0, gt=0)
    keep_backups: int = Field(default=10, ge=1)
    flush_interval_ms: float = Field(default=50.0, gt=0)  # batched (non-durable) writes commit this often
    flush_max_records: int = Field(default=500, ge=1)  # ... or as soon as this many are queued
    # a storage fault (disk full, read-only, I/O error): what is kept is retried this often (storage.writer)
    fault_retry_s: float = Field(default=1.0, gt=0, le=60)


class SupervisorConfig(_Model):
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    heartbeat_timeout_s: float = Field(default=5.0, gt=0)
    # a restarted actor's new process imports, reads storage and reconnects before it can answer:
    # silence for this long (not heartbeat_timeout_s) after a restart means it is stuck
    restart_timeout_s: float = Field(default=60.0, gt=0)
    max_restarts: int = Field(default=5, ge=0)  # restart intensity: at most max_restarts ...
    period_s: float = Field(default=60.0, gt=0)  # ... within period_s, else halt trading and alert
    backoff_base_s: float = Field(default=0.5, gt=0)  # delay before restart n: min(base * 2**n, max)
    backoff_max_s: float = Field(default=30.0, gt=0)
    # the hot path (batches, intents, commands, journal writes) over direct sockets (actors.lane),
    # Ray being its fallback; false sends every message as a Ray call (for comparison)
    data_lane: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> SupervisorConfig:
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_timeout_s: {self.heartbeat_timeout_s} must exceed "
                f"heartbeat_interval_s {self.heartbeat_interval_s}"
            )
        if self.restart_timeout_s < self.heartbeat_timeout_s:
            raise ValueError(
                f"restart_timeout_s: {self.restart_timeout_s} is below heartbeat_timeout_s {self.heartbeat_timeout_s}"
            )
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError(
                f"backoff_max_s: {self.backoff_max_s} is below backoff_base_s {self.backoff_base_s}"
            )
        return self


class OperatorConfig(_Model):
    """The operator API (actors/operator.py) on 127.0.0.1: 0 = a free port (the CLI finds it in
    `<db>.operator.json`); the profiles set a fixed one for probes and browsers."""

    port: int = Field(default=0, ge=0, le=65535)


class ChildSpec(_Model):
    """One supervised actor. actor is "module.path:ClassName" (imported by the supervisor only)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-:]*$")
    actor: str
    restart: Literal["permanent", "transient"] = "permanent"
    num_cpus: float = Field(default=0.0, ge=0)  # I/O-bound actors take 0 so that they never wait for a CPU
    modes: list[Mode] = ["paper", "live"]  # the modes in which the child runs

    @field_validator("actor")
    @classmethod
    def _class_path(cls, value: str) -> str:
        return _check_class_path(value)


DEFAULT_CHILDREN: tuple[ChildSpec, ...] = (
    ChildSpec(name="persistence", actor="actors.persistence:PersistenceActor"),
    ChildSpec(name="venue-sim", actor="actors.venue_sim:VenueSimActor", modes=["paper"]),
    ChildSpec(name="feed", actor="actors.feed:FeedActor"),
    ChildSpec(name="risk", actor="actors.risk:RiskActor"),
    ChildSpec(name="router", actor="actors.router:RouterActor"),
    ChildSpec(name="operator", actor="actors.operator:OperatorActor"),
)


# ---------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------


def _check_http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class TelegramConfig(_Model):
    """Telegram's Bot API (sendMessage). The bot token and the chat id are never read from YAML:
    the loader sets them from LT_TELEGRAM_BOT_TOKEN and LT_TELEGRAM_CHAT_ID. Both are SecretStr,
    excluded from dumps and reprs (the token is part of every request's URL)."""

    enabled: bool = False
    base_url: str = "https://api.telegram.org"  # a local stand-in in tests
    timeout_s: float = Field(default=10.0, gt=0)  # per request
    bot_token: SecretStr | None = Field(default=None, exclude=True, repr=False)
    chat_id: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _check_http_url(value)


class WebhookConfig(_Model):
    """A generic JSON webhook: each alert is POSTed as {"kind", "severity", "text", "key", "ts"}."""

    url: str | None = None  # None: no webhook
    timeout_s: float = Field(default=10.0, gt=0)  # per request

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)


class AlertsConfig(_Model):
    enabled: bool = False
    telegram: TelegramConfig = TelegramConfig()
    webhook: WebhookConfig = WebhookConfig()
    dedupe_s: float = Field(default=300.0, ge=0)  # the same fact (alert key) at most once this often
    max_per_minute: int = Field(default=20, ge=1)  # per channel (Telegram allows ~20 a minute in a group)
    feed_stale_alert_s: float = Field(default=30.0, gt=0)  # a market silent this long is alerted
    queue_size: int = Field(default=100, ge=1)  # per channel; when full the oldest waiting alert is dropped


# ---------------------------------------------------------------------------------------------
# The whole configuration
# ---------------------------------------------------------------------------------------------


class AppSettings(_Model):
    mode: Mode = "paper"
    venue: VenueConfig
    markets: list[int] = Field(min_length=1)
    strategies: list[StrategyConfig] = []
    allow_shared_accounts: bool = False  # Lighter nets positions per account: sharing one is unsafe
    risk: RiskConfig = RiskConfig()
    feed: FeedConfig = FeedConfig()
    storage: StorageConfig = StorageConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    operator: OperatorConfig = OperatorConfig()
    alerts: AlertsConfig = AlertsConfig()
    children: list[ChildSpec] = list(DEFAULT_CHILDREN)  # start order; strategies start after them
    strategy_actor: str = "actors.strategy:StrategyActor"
    quoting_actor: str = "actors.quoting:QuotingActor"  # hosts the quoting kinds (market_maker)
    cancel_on_exit: bool = True  # cancel every open order on shutdown
    flatten_on_exit: bool = False  # close every position (risk's Flatten) and wait for the venue before that
    dashboard: bool = False  # the Ray dashboard (about 200 MiB more memory)
    json_logs: bool = False
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("strategy_actor", "quoting_actor")
    @classmethod
    def _strategy_class_path(cls, value: str) -> str:
        return _check_class_path(value)

    @model_validator(mode="after")
    def _cross_checks(self) -> AppSettings:
        self._check_strategies()
        self._check_children()
        self._check_venue()
        return self

    def _check_strategies(self) -> None:
        names: dict[str, int] = {}
        accounts: dict[int, str] = {}
        for i, strategy in enumerate(self.strategies):
            if strategy.name in names:
                raise ValueError(
                    f"strategies[{i}].name: {strategy.name!r} is already used by "
                    f"strategies[{names[strategy.name]}]"
                )
            names[strategy.name] = i
            if self.mode == "live" and strategy.mode == "paper" and strategy.enabled:
                raise ValueError(
                    f"strategies[{i}].mode: {strategy.name!r} is a paper strategy in a live profile, which trades "
                    "only live ones; run paper strategies in a separate paper profile whose venue.sim source "
                    "mirrors Lighter (source: lighter, as in config/paper_on_lighter.yaml)"
                )
            if strategy.market_id not in self.markets:
                raise ValueError(
                    f"strategies[{i}].market_id: market {strategy.market_id} is not in markets {self.markets}"
                )
            owner = accounts.get(strategy.account_index)
            if owner is not None and not self.allow_shared_accounts:
                raise ValueError(
                    f"strategies[{i}].account_index: account {strategy.account_index} is already used by "
                    f"strategy {owner!r} (one account per strategy; set allow_shared_accounts to override)"
                )
            accounts.setdefault(strategy.account_index, strategy.name)

    def _check_children(self) -> None:
        seen: set[str] = set()
        for i, child in enumerate(self.children):
            if child.name in seen:
                raise ValueError(f"children[{i}].name: {child.name!r} appears twice")
            if child.name.startswith("strategy:"):
                raise ValueError(f"children[{i}].name: strategy actors come from `strategies`, not children")
            seen.add(child.name)

    def _check_venue(self) -> None:
        if self.mode == "live":
            if urlsplit(self.venue.url).scheme != "https" or urlsplit(self.venue.ws_url).scheme != "wss":
                raise ValueError("venue.url: live mode needs https:// and wss:// URLs")
            return
        port = urlsplit(self.venue.url).port
        if port != self.venue.sim.port:
            raise ValueError(
                f"venue.url: in paper mode it must point at the simulator's port {self.venue.sim.port}, "
                f"got {self.venue.url}"
            )

    # --- helpers for the supervisor and actors -----------------------------------------------
    def strategy(self, name: str) -> StrategyConfig:
        for strategy in self.strategies:
            if strategy.name == name:
                return strategy
        raise KeyError(f"no strategy named {name!r}")

    def account_tier(self, account_index: int) -> str:
        """The venue tier of an account: the paper venue's setting for it, or, live, what its
        strategy's configuration says (Lighter decides; the operator states it)."""
        if self.mode == "paper":
            sim = self.venue.sim
            return sim.account_tiers.get(account_index, sim.default_tier)
        for strategy in self.strategies:
            if strategy.account_index == account_index:
                return strategy.account_tier
        return "standard"

    def database_identity(self) -> dict[str, str]:
        """What a database made by this configuration belongs to (storage/identity.py): the venue
        (Lighter's URL, or the paper venue's market source) and the markets. Not the simulator's
        port, speed or strategies: the same market replayed on another port or faster, or with a
        strategy added, is still the same system."""
        if self.mode == "live":
            venue = self.venue.url
        else:
            sim = self.venue.sim
            venue = f"paper {sim.source}" + (f" {sim.source_path}" if sim.source_path is not None else "") \
                + (f" {sim.upstream_url}" if sim.source == "lighter" else "") + f" seed {sim.seed}"
        return {"venue": venue, "markets": ",".join(str(m) for m in sorted(self.markets))}

    @property
    def enabled_strategies(self) -> list[StrategyConfig]:
        return [strategy for strategy in self.strategies if strategy.enabled]

    def child_specs(self) -> list[ChildSpec]:
        """Every actor to start in this mode, in start order: children, then one per strategy."""
        specs = [child for child in self.children if self.mode in child.modes
                 and not (child.name == "venue-sim" and self.venue.sim.external)]
        specs += [ChildSpec(name=s.actor_name,
                            actor=self.quoting_actor if s.kind in QUOTING_KINDS else self.strategy_actor)
                  for s in self.enabled_strategies]
        return specs
