"""The operator API's pure core: routing, bearer auth, body validation, shaping, health verdict,
Prometheus text and the token file (no Ray, no sockets)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from messages.state import TradeRecord
from operator_api import health, prometheus, shaping
from operator_api.routes import ROUTES, Request, Response, dispatch
from operator_api.token import TOKEN_ENV, bearer_ok, prepare_token, read_info, read_token, write_info

TOKEN = "s3cret-token"
GOOD = f"Bearer {TOKEN}"


class RecordingBackend:
    """Answers from fixed data and records the kill-switch commands it was given."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, str]] = []
        self.healthy = True

    def strategy_names(self) -> list[str]:
        return ["alpha", "beta"]

    async def status(self) -> dict[str, Any]:
        return {"strategies": {"alpha": {"view": {"position": 0.1}}}, "actors": {}}

    async def trades(self, limit: int) -> list[dict[str, Any]]:
        return [{"n": i} for i in range(limit)]

    async def equity(self) -> dict[str, Any]:
        return {"equity": {"alpha": [[1.0, 2.0]]}}

    async def control(self, kind: str, scope: str, reason: str) -> list[str]:
        self.commands.append((kind, scope, reason))
        return self.strategy_names() if scope == "all" else [scope]

    def health(self) -> tuple[bool, list[str]]:
        return (True, []) if self.healthy else (False, ["feed: 1 market stale"])

    async def metrics(self) -> str:
        return 'lt_strategy_position{strategy="alpha"} 0.1\n'


def call(method: str, path: str, *, auth: str | None = GOOD, body: bytes = b"",
         query: dict[str, str] | None = None, backend: RecordingBackend | None = None) -> Response:
    req = Request(method=method, path=path, query=query or {}, authorization=auth, body=body)
    return asyncio.run(dispatch(req, TOKEN, backend or RecordingBackend()))


def payload(resp: Response) -> Any:
    return json.loads(resp.body)


GETS = ["/api/v1/status", "/api/v1/trades", "/api/v1/equity", "/metrics"]
POSTS = ["/api/v1/halt", "/api/v1/flatten", "/api/v1/resume"]


def test_every_endpoint_is_routed() -> None:
    assert set(ROUTES) == {*GETS, *POSTS, "/health"}


@pytest.mark.parametrize("path", GETS)
def test_get_with_good_token(path: str) -> None:
    resp = call("GET", path)
    assert resp.status == 200
    if path == "/metrics":
        assert resp.content_type.startswith("text/plain") and b'strategy="alpha"' in resp.body
    else:
        assert payload(resp)


@pytest.mark.parametrize("path", GETS + POSTS)
@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, "Bearer "])
def test_wrong_or_missing_token_is_401(path: str, auth: str | None) -> None:
    backend = RecordingBackend()
    method = "POST" if path in POSTS else "GET"
    resp = call(method, path, auth=auth, body=b'{"strategy": null, "reason": "x"}', backend=backend)
    assert resp.status == 401
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    assert backend.commands == []  # nothing reached risk
    assert TOKEN not in resp.body.decode()


@pytest.mark.parametrize("kind", ["halt", "flatten", "resume"])
def test_control_with_good_token(kind: str) -> None:
    backend = RecordingBackend()
    resp = call("POST", f"/api/v1/{kind}", body=b'{"strategy": "beta", "reason": "test"}', backend=backend)
    assert resp.status == 200
    assert payload(resp) == {"action": kind, "scope": "beta", "strategies": ["beta"]}
    assert backend.commands == [(kind, "beta", "test")]
    resp = call("POST", f"/api/v1/{kind}", body=b'{"strategy": null}', backend=backend)
    assert payload(resp)["strategies"] == ["alpha", "beta"]
    assert backend.commands[-1] == (kind, "all", f"{kind} by the operator API")


@pytest.mark.parametrize("kind", ["halt", "flatten", "resume"])
@pytest.mark.parametrize(("body", "words"), [
    (b"{not json", "malformed JSON"),
    (b"", "empty body"),
    (b'{"strategy": null, "reason": "x", "force": true}', "unknown field `force`"),
    (b'{"strategy": 3}', "Expected `str | null`"),
    (b'{"strategy": "gamma"}', "unknown strategy 'gamma'"),
    (b"[1, 2]", "invalid body"),
])
def test_malformed_body_is_400_with_one_line(kind: str, body: bytes, words: str) -> None:
    backend = RecordingBackend()
    resp = call("POST", f"/api/v1/{kind}", body=body, backend=backend)
    assert resp.status == 400
    error = payload(resp)["error"]
    assert words in error and "\n" not in error
    assert backend.commands == []


@pytest.mark.parametrize("raw", ["0", "-1", "1001", "ten"])
def test_trades_limit_must_be_in_range(raw: str) -> None:
    resp = call("GET", "/api/v1/trades", query={"limit": raw})
    assert resp.status == 400 and "limit" in payload(resp)["error"]


def test_trades_limit_is_passed() -> None:
    assert len(payload(call("GET", "/api/v1/trades", query={"limit": "7"}))["trades"]) == 7


def test_health_needs_no_token_and_says_why() -> None:
    backend = RecordingBackend()
    assert call("GET", "/health", auth=None, backend=backend).status == 200
    backend.healthy = False
    resp = call("GET", "/health", auth=None, backend=backend)
    assert resp.status == 503 and payload(resp) == {"healthy": False, "reasons": ["feed: 1 market stale"]}


def test_unknown_path_and_wrong_method() -> None:
    assert call("GET", "/api/v1/nothing").status == 404
    resp = call("GET", "/api/v1/halt")
    assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert call("POST", "/api/v1/status").status == 405


def test_a_backend_failure_is_503_with_one_line() -> None:
    class Broken(RecordingBackend):
        async def status(self) -> dict[str, Any]:
            raise TimeoutError("risk did not answer\nin time")

    resp = call("GET", "/api/v1/status", backend=Broken())
    assert resp.status == 503 and payload(resp)["error"] == "TimeoutError: risk did not answer in time"


def test_bearer_comparison() -> None:
    assert bearer_ok(GOOD, TOKEN) and bearer_ok(f"bearer {TOKEN}", TOKEN)
    assert not bearer_ok(GOOD, "") and not bearer_ok(f"Bearer {TOKEN}x", TOKEN) and not bearer_ok(None, TOKEN)


def test_token_file_is_private_and_new_each_start(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    token, path = prepare_token(db, environ={})
    assert path == tmp_path / "x.db.operator-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_token(path) == token and len(token) >= 32
    again, _ = prepare_token(db, environ={})
    assert again != token and read_token(path) == again


def test_token_from_the_environment_writes_no_file(tmp_path: Path) -> None:
    token, path = prepare_token(tmp_path / "y.db", environ={TOKEN_ENV: "given"})
    assert (token, path) == ("given", None)
    assert not list(tmp_path.iterdir())


def test_info_file(tmp_path: Path) -> None:
    write_info(tmp_path / "z.db", "http://127.0.0.1:1234", tmp_path / "z.db.operator-token")
    assert read_info(tmp_path / "z.db") == {"url": "http://127.0.0.1:1234",
                                            "token_file": str(tmp_path / "z.db.operator-token")}
    assert stat.S_IMODE(os.stat(tmp_path / "z.db.operator.json").st_mode) == 0o600


# --- shaping ----------------------------------------------------------------------------------


def _trade(strategy: str, exit_s: int, pnl: float) -> TradeRecord:
    return TradeRecord(strategy=strategy, account_index=1, market_id=2, side="long", entry_price=100.0,
                       exit_price=101.0, entry_ts=(exit_s - 5) * 10**9, exit_ts=exit_s * 10**9, size=0.1,
                       fees=0.01, pnl_quote=pnl, pnl_pct=0.0, exit_reason="tp", mfe_bps=0.0, mae_bps=0.0,
                       ts_event=exit_s * 10**9, seq=exit_s)


def test_equity_curves_accumulate_per_strategy_in_event_time() -> None:
    trades = [_trade("a", 30, -1.0), _trade("a", 10, 2.0), _trade("b", 20, 0.5)]
    assert shaping.equity_curves(trades) == {"a": [[10_000.0, 2.0], [30_000.0, 1.0]], "b": [[20_000.0, 0.5]]}


def test_trade_rows_newest_first() -> None:
    rows = shaping.trade_rows([_trade("a", 10, 2.0), _trade("a", 30, -1.0), _trade("b", 20, 0.5)], 2)
    assert [(r["strategy"], r["exit_ms"], r["pnl"]) for r in rows] == [("a", 30_000, -1.0), ("b", 20_000, 0.5)]


def test_strategy_view_directional_and_maker() -> None:
    st = {"position": {"side": "sell", "size": 0.2, "entry_price": 150.0, "unrealized_pnl": -0.3},
          "realized_pnl": 1.5, "trades": 4, "last_skip": "spread too wide", "mark": 151.5}
    risk = {"mode": "halted", "halt_reason": "operator", "breaker": "", "breaker_tripped": False}
    view = shaping.strategy_view(7, 2, st, risk)
    assert view["position"] == -0.2 and view["entry_price"] == 150.0 and view["unrealized_pnl"] == -0.3
    assert view["realized_pnl"] == 1.5 and view["open_orders"] == 2 and view["mode"] == "halted"
    assert view["halt_reason"] == "operator" and view["last_skip"] == "spread too wide"
    maker = shaping.strategy_view(8, 2, {"inventory": 0.3, "average_entry": 99.0, "fifo_realized_quote": 0.2,
                                         "skip": {"bid": "inventory cap", "ask": ""}}, None)
    assert (maker["position"], maker["entry_price"], maker["realized_pnl"]) == (0.3, 99.0, 0.2)
    assert maker["last_skip"] == "bid: inventory cap" and maker["mode"] == "unknown"
    assert not shaping.strategy_view(9, 0, None, None)["reachable"]


# --- health and metrics -----------------------------------------------------------------------


def _report(feed_stale: float = 0.0, router: str = "alive") -> dict[str, Any]:
    return {"actors": {"feed": {"state": "alive", "stats": {"stale_markets": feed_stale}},
                       "router": {"state": router, "stats": {}}}}


def test_health_verdict() -> None:
    assert health.verdict(_report(), 0.5, 5.0) == (True, [])
    assert health.verdict(None, 0.0, 5.0) == (False, ["no health report from the supervisor yet"])
    assert health.verdict(_report(feed_stale=1), 0.5, 5.0) == (False, ["feed: 1 market stale"])
    assert health.verdict(_report(router="missing"), 0.5, 5.0) == (False, ["router is missing"])
    ok, reasons = health.verdict(_report(), 9.0, 5.0)
    assert not ok and reasons == ["no health report from the supervisor for 9.0 s"]


def test_prometheus_text_carries_labels() -> None:
    status = {"strategies": {"alpha": {
        "view": {"position": -0.2, "realized_pnl": 1.5, "unrealized_pnl": 0.1, "trades": 4, "open_orders": 1,
                 "mode": "halted", "breaker_tripped": False},
        "strategy": {"fills_applied": 6, "telemetry": {"inventory": 0.3}}}}}
    report = {"actors": {"strategy:alpha": {"state": "alive", "restarts": 2, "lag_ms": 1.5,
                                            "stats": {"market_events": 100.0, "intents": 9.0}},
                         "feed": {"state": "missing", "restarts": 0, "lag_ms": 0.0, "stats": {"stale_markets": 1}}}}
    text = prometheus.render(status, report, {"approved": 9, "refused": 3, "fills": 6})
    lines = set(text.splitlines())
    for line in ['lt_strategy_events_total{strategy="alpha"} 100.0', 'lt_strategy_orders_total{strategy="alpha"} 9.0',
                 'lt_strategy_fills_total{strategy="alpha"} 6.0', 'lt_strategy_position{strategy="alpha"} -0.2',
                 'lt_strategy_realized_pnl{strategy="alpha"} 1.5', 'lt_strategy_halted{strategy="alpha"} 1.0',
                 'lt_strategy_gauge{strategy="alpha",gauge="inventory"} 0.3',
                 'lt_risk_orders_total{outcome="refused"} 3.0', 'lt_actor_up{actor="feed"} 0.0',
                 'lt_actor_restarts_total{actor="strategy:alpha"} 2.0', "lt_feed_stale_markets 1.0",
                 "# TYPE lt_strategy_fills_total counter", "# TYPE lt_strategy_position gauge"]:
        assert line in lines, line
    assert prometheus._escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
