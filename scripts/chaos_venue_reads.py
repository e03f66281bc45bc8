"""The fault campaign's view of the paper venue, from outside, as any client sees it: Lighter's REST
paths with auth tokens (the simulator checks a token's shape, account and expiry, not its signature:
tokens/sim_tokens' zero signature opens a paper account; a key index of its own, 253, keeps them
apart from the router's), POST /sim/faults, and the create audit at GET /sim/created
(scripts/chaos_venue.py).
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

TOKEN_KEY_INDEX = 253
PAGE = 100


class VenueReader:
    def __init__(self, url: str, accounts: list[int]) -> None:
        self.url = url.rstrip("/")
        self.accounts = accounts

    def _token(self, account: int) -> str:
        return f"{int(time.time()) + 600}:{account}:{TOKEN_KEY_INDEX}:{'0' * 160}"

    def get(self, path: str, account: int | None = None, timeout_s: float = 15.0) -> Any:
        headers = {} if account is None else {"authorization": self._token(account)}
        request = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return json.loads(answer.read())

    def get_retrying(self, path: str, account: int | None = None, timeout_s: float = 60.0) -> Any:
        """GET, again on 429 (the campaign may have left http_429 on) or a hung venue, until timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.get(path, account)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def post_faults(self, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.url + "/sim/faults", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15.0) as answer:
            return json.loads(answer.read())

    def newest_trades(self) -> dict[int, int]:
        """Per account, its newest trade id (0 when none)."""
        out = {}
        for account in self.accounts:
            page = self.get_retrying(f"/api/v1/trades?account_index={account}&sort_by=trade_id&sort_dir=desc&limit=1",
                                     account)
            out[account] = int(page["trades"][0]["trade_id"]) if page["trades"] else 0
        return out

    def trade_count(self) -> int:
        """A number that grows with every new trade (the sum of the accounts' newest trade ids)."""
        return sum(self.newest_trades().values())

    def _paged(self, path: str, key: str, account: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.get_retrying(f"{path}&cursor={cursor}" if cursor else path, account)
            rows += page[key]
            cursor = page.get("next_cursor", "")
            if not cursor:
                return rows

    def positions(self) -> dict[tuple[int, int], float]:
        """Signed position per (account, market), from the public account endpoint."""
        out = {}
        for a in self.accounts:
            account = self.get_retrying(f"/api/v1/account?by=index&value={a}")["accounts"][0]
            for p in account.get("positions", []):
                out[(a, int(p["market_id"]))] = float(p["position"]) * int(p["sign"])
        return out

    def resting(self) -> list[tuple[int, int]]:
        """(account, client order index) of every order resting at the venue."""
        out = []
        for a in self.accounts:
            active = self.get_retrying(f"/api/v1/accountActiveOrders?account_index={a}", a)["orders"]
            out += [(a, int(o["client_order_index"])) for o in active]
        return out

    def collect(self) -> dict[str, Any]:
        """Everything the end checks read: trades, positions, resting orders, order history, audit."""
        trades, resting, history = [], [], []
        for a in self.accounts:
            for t in self._paged(f"/api/v1/trades?account_index={a}&sort_by=trade_id&sort_dir=asc&limit={PAGE}",
                                 "trades", a):
                trades.append((a, int(t["trade_id"])))
            active = self.get_retrying(f"/api/v1/accountActiveOrders?account_index={a}", a)["orders"]
            resting += [(a, int(o["client_order_index"])) for o in active]
            inactive = self._paged(f"/api/v1/accountInactiveOrders?account_index={a}&limit={PAGE}", "orders", a)
            history += [(a, int(o["client_order_index"])) for o in active + inactive]
        created = [tuple(row) for row in self.get_retrying("/sim/created")]
        return {"trades": trades, "positions": self.positions(), "resting": resting, "history": history, "created": created}
