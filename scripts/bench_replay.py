"""Benchmark: the fast research replay's mid events per second, and sweep trials per minute.

    .venv/bin/python scripts/bench_replay.py [--candles PATH] [--reference-days 1] [--sweep-trials 6]
        [--repeat 3] [--no-sweep] [--out FILE]

Fast replay (strategies.fast_replay): each directional strategy at its defaults (plus rows for
rsi_bb `selective` and breakout on 1-minute candles, which trades) over the whole candles file
(the shared SOL month: 2.6 million mids at 1 s). The mid path, with its running aggregates and
candle tapes for each case's intervals (strategies.fast_replay.prepare), is built once and
shared, as a sweep's trials share it; those build times are figures of their own. events/s =
mids / the replay's CPU time (time.process_time: the replay is one thread, so that is its time on
one core, which a busy shared machine does not inflate as it does wall time), the fastest of
--repeat replays; wall-clock rates are printed beside.
Event-by-event (strategies.replay.replay_candles) is timed on the first --reference-days days
for reference, and the fast replay of that slice must give the same trades (checked here too).

Sweep: `python -m research.sweep` (H6's Ray Tune sweep) of rsi_bb on 2 CPUs, one fold of 2 train
days and 1 test day, --sweep-trials trials; sweep_trials_per_min = trials / the sweep's own
seconds (from its JSON, Ray's start excluded) * 60. Null with a reason when research.sweep is
absent or fails.

Prints a table and, last, one JSON object: events_per_s {strategy: ...} (target >= 1,000,000),
events_per_wall_s, path_build_s, path_prepare_s, reference_events_per_s, sweep_trials_per_min (and its note).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repo's packages
    sys.path.insert(0, str(REPO))

from strategies.fast_replay import fast_replay, mid_path, prepare  # noqa: E402
from strategies.replay import load_candles, replay_candles  # noqa: E402
from venue.sim.sources import Candles  # noqa: E402

DEFAULT_CANDLES = REPO.parent / "shared" / "data" / "sol_usdt_perp_1m_20250504_20250603.csv.gz"
TARGET_EVENTS_PER_S = 1_000_000
# (row label, kind, preset, overrides); the first row of each kind is the one the JSON reports
CASES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("rsi_bb", "rsi_bb", "default", None),
    ("renko_ao", "renko_ao", "default", None),
    ("breakout", "breakout", "default", None),
    ("rsi_bb:selective", "rsi_bb", "selective", None),
    ("breakout:1m-candles", "breakout", "default", {"candle_interval_s": 60}),
]


def _head(candles: Candles, minutes: int) -> Candles:
    return Candles(
        open_time_ms=candles.open_time_ms[:minutes],
        open=candles.open[:minutes],
        high=candles.high[:minutes],
        low=candles.low[:minutes],
        close=candles.close[:minutes],
        volume=candles.volume[:minutes],
        malformed=0,
    )


def _prepare_all(path: Any) -> None:
    for _, kind, preset, overrides in CASES:
        prepare(path, kind, preset=preset, params=overrides)


def _timed(fn: Any) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def sweep_rate(candles_path: Path, trials: int) -> tuple[float | None, str]:
    if importlib.util.find_spec("research.sweep") is None:
        return None, "research.sweep is not there"
    with tempfile.TemporaryDirectory(prefix="lt-bench-sweep-") as tmp:
        out = Path(tmp) / "sweep.json"
        cmd = [sys.executable, "-m", "research.sweep", "--strategy", "rsi_bb", "--data", str(candles_path),
               "--space", str(REPO / "research" / "spaces" / "rsi_bb.yaml"), "--folds", "1", "--train-days", "2",
               "--test-days", "1", "--trials", str(trials), "--num-cpus", "2", "--warmup-hours", "2",
               "--json", str(out)]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        try:
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return None, "research.sweep took over 900 s"
        if done.returncode != 0 or not out.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"research.sweep exited {done.returncode}: {last[:160]}"
        info = json.loads(out.read_text())["info"]
    seconds = float(info["seconds"])
    return trials / seconds * 60.0, f"{trials} trials (1 fold, 2 train days) on 2 CPUs in {seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candles", type=Path, default=DEFAULT_CANDLES)
    ap.add_argument("--reference-days", type=float, default=1.0, help="event-by-event replay on this many days")
    ap.add_argument("--sweep-trials", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3, help="fast replays per case; the fastest is reported")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench_replay.json"))
    args = ap.parse_args(argv)
    if not args.candles.is_file():
        print(f"bench_replay: --candles {args.candles}: no such file", file=sys.stderr)
        return 2

    candles = load_candles(args.candles)
    path, path_cpu, path_wall = _timed(lambda: mid_path(candles))
    # what every trial of a sweep shares: the path's aggregates and candles of each case's intervals
    _, prepare_cpu, _ = _timed(lambda: _prepare_all(path))
    mids = len(path.mids_list)
    ref_minutes = int(args.reference_days * 1440)
    ref = _head(candles, ref_minutes)
    rows: list[dict[str, Any]] = []
    for label, kind, preset, overrides in CASES:
        fast_replay(kind, _head(candles, 60), preset=preset, params=overrides)  # numba's cache, imports
        runs = [_timed(lambda k=kind, p=preset, o=overrides: fast_replay(k, path, preset=p, params=o))
                for _ in range(args.repeat)]
        result, cpu, wall = min(runs, key=lambda run: run[1])  # the least disturbed of the runs
        slow, ref_cpu, _ = _timed(lambda k=kind, p=preset, o=overrides: replay_candles(k, ref, preset=p, overrides=o))
        check = fast_replay(kind, ref, preset=preset, params=overrides)
        same = msgspec.to_builtins(check.trades) == msgspec.to_builtins(slow.trades)
        rows.append({"case": label, "kind": kind, "mids": mids, "trades": len(result.trades), "cpu_s": cpu,
                     "wall_s": wall, "events_per_s": mids / cpu, "events_per_wall_s": mids / wall,
                     "reference_events_per_s": slow.mids / ref_cpu, "reference_trades": len(slow.trades),
                     "same_trades_on_reference": same})
    rate, note = (None, "skipped (--no-sweep)") if args.no_sweep else sweep_rate(args.candles, args.sweep_trials)

    load = os.getloadavg()
    print(f"fast replay over {args.candles.name}: {path.minutes:,} minutes, {mids:,} mids "
          f"(path built in {path_cpu:.2f} s CPU, {path_wall:.2f} s wall; its aggregates and candle tapes "
          f"for the cases' intervals in {prepare_cpu:.2f} s CPU); load average {load[0]:.1f}")
    print(f"{'case':<22}{'trades':>8}{'cpu s':>8}{'events/s':>12}{'wall ev/s':>12}"
          f"{'ref ev/s':>10}{'same':>6}  target {TARGET_EVENTS_PER_S:,}")
    for r in rows:
        flag = "" if r["events_per_s"] >= TARGET_EVENTS_PER_S else "  < target"
        print(f"{r['case']:<22}{r['trades']:>8}{r['cpu_s']:>8.2f}{r['events_per_s']:>12,.0f}"
              f"{r['events_per_wall_s']:>12,.0f}{r['reference_events_per_s']:>10,.0f}"
              f"{'yes' if r['same_trades_on_reference'] else 'NO':>6}{flag}")
    print(f"reference: event-by-event replay on the first {args.reference_days:g} day(s); "
          "events/s from CPU time (one thread)")
    print(f"sweep_trials_per_min: {'null' if rate is None else f'{rate:.1f}'} ({note})")
    primary = {r["kind"]: r for r in reversed(rows)}  # the first row of each kind wins
    summary = {
        "events_per_s": {k: round(r["events_per_s"]) for k, r in primary.items()},
        "events_per_wall_s": {k: round(r["events_per_wall_s"]) for k, r in primary.items()},
        "path_build_s": round(path_cpu, 3),
        "path_prepare_s": round(prepare_cpu, 3),
        "reference_events_per_s": {k: round(r["reference_events_per_s"]) for k, r in primary.items()},
        "same_trades": all(r["same_trades_on_reference"] for r in rows),
        "sweep_trials_per_min": None if rate is None else round(rate, 2),
        "sweep_note": note,
    }
    args.out.write_text(json.dumps({"benchmark": "replay", "python": platform.python_version(),
                                    "machine": platform.machine(), "cpus": os.cpu_count(), "load_average": load,
                                    "rows": rows, "summary": summary}, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
