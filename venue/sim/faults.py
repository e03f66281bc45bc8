"""Fault knobs of the simulator: what a test (or an operator) can break on purpose, and when.

Set at start from CLI flags and at runtime with POST /sim/faults (a JSON object of the fields of
FaultConfig, plus the one-shot actions `drop_connections_now`, `skip_offset` and `expire_tokens_now`:
every auth token accepted so far is refused as expired from then on and every websocket is cut,
so clients must come back with new tokens; and `http_429_next`: the next N /api requests, or with
`http_429_path` the next N to that one path (after `http_429_after` of them pass), are answered
429 - deterministic, where http_429_fraction is random). Every random
decision comes from its own seeded generator, so a run with the same seed and the same sequence
of requests injects the same faults, and turning one knob does not shift another's draws.
"""

from __future__ import annotations

import math
import random
from typing import Any

import msgspec

from venue import codes


class FaultConfig(msgspec.Struct, kw_only=True):
    """The persistent knobs (fractions are probabilities in [0, 1])."""

    drop_connections_prob_per_s: float = 0.0  # each websocket, each second
    delay_fraction: float = 0.0  # of order transactions (create, cancel, cancel-all)
    delay_ms: float = 0.0
    reject_fraction: float = 0.0  # of create-order transactions
    reject_codes: list[int] = msgspec.field(default_factory=lambda: [codes.INJECTED_FAULT])
    http_429_fraction: float = 0.0  # of /api/v1 requests
    freeze_feed: bool = False  # no order_book / trade updates while true
    refuse_ws: bool = False  # new websocket connections refused (HTTP 503) while true; with
    # drop_connections_now: every client is kept away until it is lifted


_FRACTIONS = ("drop_connections_prob_per_s", "delay_fraction", "reject_fraction", "http_429_fraction")
_ACTIONS = ("drop_connections_now", "skip_offset", "expire_tokens_now", "http_429_next", "http_429_path",
            "http_429_after")


class Faults:
    """The live fault state the server consults; `update` applies a POST /sim/faults body."""

    def __init__(self, config: FaultConfig | None = None, *, seed: int = 1) -> None:
        self.config = FaultConfig()
        self._drop_rng = random.Random(f"{seed}:drop")
        self._delay_rng = random.Random(f"{seed}:delay")
        self._reject_rng = random.Random(f"{seed}:reject")
        self._http_rng = random.Random(f"{seed}:http")
        self.pending_offset_skips = 0
        self.pending_token_expiry = False  # expire_tokens_now asked: the server revokes (take_token_expiry)
        self.pending_429 = 0  # http_429_next: requests still to answer 429 ...
        self.pending_429_path = ""  # ... of this path only ("" = any /api path)
        self.pending_429_after = 0  # ... once this many more of them passed
        if config is not None:
            self.update(msgspec.structs.asdict(config))

    # --- the decisions ---------------------------------------------------------------------
    def http_429(self, path: str = "") -> bool:
        """Whether this /api request (its path) is answered 429: the next-N count first, then the fraction."""
        if self.pending_429 > 0 and (not self.pending_429_path or path == self.pending_429_path):
            if self.pending_429_after > 0:
                self.pending_429_after -= 1
            else:
                self.pending_429 -= 1
                return True
        fraction = self.config.http_429_fraction
        return fraction > 0 and self._http_rng.random() < fraction

    def order_delay_s(self) -> float:
        """Seconds to hold this order transaction before applying it (0 for most)."""
        cfg = self.config
        if cfg.delay_fraction > 0 and cfg.delay_ms > 0 and self._delay_rng.random() < cfg.delay_fraction:
            return cfg.delay_ms / 1000.0
        return 0.0

    def order_reject_code(self) -> int | None:
        cfg = self.config
        if cfg.reject_fraction > 0 and self._reject_rng.random() < cfg.reject_fraction:
            return self._reject_rng.choice(cfg.reject_codes)
        return None

    def drop_connection(self, elapsed_s: float) -> bool:
        """Whether one connection drops over `elapsed_s` seconds at the configured rate."""
        p = self.config.drop_connections_prob_per_s
        if p <= 0:
            return False
        p_elapsed = 1.0 - (1.0 - p) ** max(0.0, elapsed_s) if p < 1 else 1.0
        return self._drop_rng.random() < p_elapsed

    def take_offset_skip(self) -> bool:
        """True for the next book update that must jump its offset by 2 (one per requested skip)."""
        if self.pending_offset_skips > 0:
            self.pending_offset_skips -= 1
            return True
        return False

    def take_token_expiry(self) -> bool:
        """True once after expire_tokens_now was asked: the server then revokes every token."""
        pending, self.pending_token_expiry = self.pending_token_expiry, False
        return pending

    # --- configuration -----------------------------------------------------------------------
    def update(self, body: dict[str, Any]) -> bool:
        """Apply a partial update; raises ValueError (naming the field) and changes nothing if bad.

        Returns True when the body asks to drop every websocket connection now (the server acts),
        which expire_tokens_now implies.
        """
        if not isinstance(body, dict):
            raise ValueError("faults must be a JSON object")
        known = set(FaultConfig.__struct_fields__) | set(_ACTIONS)
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s) {unknown}; known: {sorted(known)}")
        merged = msgspec.structs.asdict(self.config)
        merged.update({k: v for k, v in body.items() if k in FaultConfig.__struct_fields__})
        try:
            config = msgspec.convert(merged, FaultConfig, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(f"bad fault knob: {exc}") from None
        for name in _FRACTIONS:
            value = getattr(config, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if not (math.isfinite(config.delay_ms) and config.delay_ms >= 0):
            raise ValueError(f"delay_ms must be >= 0, got {config.delay_ms}")
        if not config.reject_codes:
            raise ValueError("reject_codes must name at least one code")
        if any(code == codes.OK for code in config.reject_codes):
            raise ValueError(f"reject_codes cannot contain {codes.OK} (that is acceptance)")
        skip = body.get("skip_offset", 0)
        if isinstance(skip, bool):
            skip = int(skip)
        if not isinstance(skip, int) or skip < 0:
            raise ValueError(f"skip_offset must be a count >= 0, got {skip!r}")
        drop_now = body.get("drop_connections_now", False)
        if not isinstance(drop_now, bool):
            raise ValueError(f"drop_connections_now must be true or false, got {drop_now!r}")
        next_429 = body.get("http_429_next", 0)
        if isinstance(next_429, bool) or not isinstance(next_429, int) or next_429 < 0:
            raise ValueError(f"http_429_next must be a count >= 0, got {next_429!r}")
        path_429 = body.get("http_429_path", "")
        if not isinstance(path_429, str) or (path_429 and not path_429.startswith("/api/")):
            raise ValueError(f"http_429_path must be an /api/ path or empty, got {path_429!r}")
        after_429 = body.get("http_429_after", 0)
        if isinstance(after_429, bool) or not isinstance(after_429, int) or after_429 < 0:
            raise ValueError(f"http_429_after must be a count >= 0, got {after_429!r}")
        expire_tokens = body.get("expire_tokens_now", False)
        if not isinstance(expire_tokens, bool):
            raise ValueError(f"expire_tokens_now must be true or false, got {expire_tokens!r}")

        self.config = config
        self.pending_offset_skips += skip
        if "http_429_next" in body:  # a new count replaces what was left of the last one
            self.pending_429, self.pending_429_path, self.pending_429_after = next_429, path_429, after_429
        self.pending_token_expiry = self.pending_token_expiry or expire_tokens
        return drop_now or expire_tokens

    def snapshot(self) -> dict[str, Any]:
        state = msgspec.structs.asdict(self.config)
        state["pending_offset_skips"] = self.pending_offset_skips
        state["pending_429"] = self.pending_429
        state["pending_429_path"] = self.pending_429_path
        state["pending_429_after"] = self.pending_429_after
        return state
