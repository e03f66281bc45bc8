"""`lighter-trader`: run the system and operate it from another terminal.

    lighter-trader run [supervisor flags]          the system (= python supervisor.py)
    lighter-trader status [--json]                 positions, PnL, halt and breaker state, actor health
    lighter-trader halt|flatten|resume [--strategy NAME] [--reason TEXT]
    lighter-trader pnl [query_pnl flags]           the PnL report (= scripts/query_pnl.py)
    lighter-trader replay [replay flags]           research replay (= python -m strategies.replay)
    lighter-trader sim [sim flags]                 the paper venue alone (= python -m venue.sim)
    lighter-trader sweep [sweep flags]             walk-forward parameter search (= python -m research.sweep)
    lighter-trader chaos [--faults N --seed S]     fault campaign with checks (= python -m scripts.chaos)
    lighter-trader record|candles|keys|test-order  the operator's tools (lighter_cli/<tool>.py; --help each)

status, halt, flatten and resume talk to the running system's operator API (actors/operator.py),
found from the configuration's database path (lighter_cli.client). Errors: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from config.cli import OneLineParser

PROG = "lighter-trader"


def _run(argv: list[str]) -> int:
    import supervisor

    return supervisor.main(argv)


def _pnl(argv: list[str]) -> int:
    from scripts import query_pnl

    return query_pnl.main(argv)


def _replay(argv: list[str]) -> int:
    from strategies import replay

    return replay.main(argv)


def _sweep(argv: list[str]) -> int:
    from research import sweep

    return sweep.main(argv, prog=f"{PROG} sweep")


def _sim(argv: list[str]) -> int:
    from venue.sim.__main__ import main as sim_main

    return sim_main(argv)


def _chaos(argv: list[str]) -> int:
    from scripts import chaos

    return chaos.main(argv)


def _tool(module: str) -> Callable[[list[str]], int]:
    """The main() of an operator's tool in lighter_cli, imported only when it runs."""

    def run(argv: list[str]) -> int:
        import importlib

        return int(importlib.import_module(f"lighter_cli.{module}").main(argv))

    return run


# the subcommands that are another tool: their flags and --help are that tool's
PASS_THROUGH: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "run": (_run, "run the trading system (the supervisor; `python supervisor.py` is the same)"),
    "pnl": (_pnl, "PnL report over the closed trades (scripts/query_pnl.py)"),
    "replay": (_replay, "replay a strategy over recorded data (python -m strategies.replay)"),
    "sim": (_sim, "run the paper venue alone (python -m venue.sim)"),
    "sweep": (_sweep, "walk-forward parameter search on Ray Tune, with reports (python -m research.sweep)"),
    "record": (_tool("record"), "record Lighter's websocket (order books, trades) to a gzip file"),
    "candles": (_tool("candles"), "download candles from Lighter into the replay's CSV (resumable)"),
    "keys": (_tool("keys"), "make an API key pair offline; register it with Lighter's change-key tx"),
    "test-order": (_tool("test_order"), "place a small post-only order far from mid, see it rest, cancel it"),
    "chaos": (_chaos, "fault campaign: the system on the paper venue under seeded faults, checked (scripts/chaos.py)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run the Lighter trading system and operate it while it runs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for name, (_fn, text) in PASS_THROUGH.items():
        sub.add_parser(name, help=text, add_help=False)

    def api_command(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", help="the profile the system runs with (default: $LT_CONFIG, else config/paper.yaml)")
        p.add_argument("--db", help="the system's database (instead of the profile's storage.db_path)")
        p.add_argument("--url", help="the operator API's URL (default: from <db>.operator.json)")
        return p

    status = api_command("status", "positions, PnL, open orders, halt and breaker state per strategy; actor health")
    status.add_argument("--json", action="store_true", help="print the API's JSON answer")
    for name, text in (("halt", "stop new entries (exits still run)"),
                       ("flatten", "cancel open orders and close positions, then stay halted"),
                       ("resume", "lift a halt")):
        p = api_command(name, text)
        p.add_argument("--strategy", help="one strategy (default: all of them)")
        p.add_argument("--reason", default="", help="why (recorded with the command)")
        p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PASS_THROUGH:
        return PASS_THROUGH[args_list[0]][0](args_list[1:])
    args = build_parser().parse_args(args_list)
    from config.loader import ConfigError
    from lighter_cli.client import ApiError, discover

    try:
        api = discover(args.config, args.db, args.url)
        if args.command == "status":
            answer = api.call("GET", "/api/v1/status")
        else:
            answer = api.call("POST", f"/api/v1/{args.command}", {"strategy": args.strategy, "reason": args.reason})
    except (ApiError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if args.json:
        print(json.dumps(answer, indent=2, default=str))
    elif args.command == "status":
        from actors import status_view

        print(status_view.status_table(answer))
    else:
        names = ", ".join(answer["strategies"]) or "no strategy"
        print(f"{args.command} ({answer['scope']}): {names}")
    return 0
