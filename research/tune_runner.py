"""The Ray Tune shell of a sweep: one fold's search, trials run by Tune, sampled by Optuna.

    start_ray(address=None, num_cpus=2)
    outcomes = search_fold(setup, candles, fold, trials=100, seed=7, storage_dir=tmp, on_trial=bar.advance)

Each trial replays the fold's train window (research.trial.run_trial) in a Tune worker; the
candles go to the object store once per fold (tune.with_parameters). The sampler is Optuna's TPE
(ray.tune.search.optuna.OptunaSearch) over a define-by-run space. With a seed the searcher is
seeded and at most one trial runs at a time (ConcurrencyLimiter): TPE then sees every earlier
result before it samples the next, so the same seed gives the same trials and the same best
parameters. Without one, `concurrency` trials run at once (default: the cluster's CPUs).
Tune writes its files under `storage_dir` (the sweep passes a temporary directory), no loggers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.ray_address import unreachable
from research.errors import ResearchInputError
from research.folds import Fold
from research.objective import FAILED
from research.space import Dimension
from research.trial import SearchSetup, TrialOutcome, run_trial
from venue.sim.candle_source import Candles

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard files per trial
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the new output engine prints tables whatever verbose says
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1000")

import optuna  # noqa: E402
from ray import tune  # noqa: E402  (after the environment above, which Tune reads at import)
from ray.tune.logger import JsonLoggerCallback  # noqa: E402
from ray.tune.search import ConcurrencyLimiter  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402


def start_ray(address: str | None, num_cpus: int | None) -> None:
    """Join a cluster at `address`, else start Ray on this machine; a running session is reused."""
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one INFO line per study otherwise
    if ray.is_initialized():
        return
    if address:
        why = unreachable(address)
        if why:
            raise ResearchInputError(f"--address {address}: {why}")
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:  # Ray's own error (a refused token, mostly): one line naming the flag
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            hint = ""
            if os.environ.get("RAY_AUTH_MODE") != "token":
                hint = ("; a cluster started with `ray start` may check a token: RAY_AUTH_MODE=token, with the "
                        "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
            raise ResearchInputError(f"--address {address}: cannot join the Ray cluster: {reason[:200]}{hint}") from None
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)


class DefineByRun:
    """The space as Optuna's define-by-run function (a class, so the searcher pickles)."""

    def __init__(self, space: dict[str, Dimension]) -> None:
        self.space = space

    def __call__(self, trial: Any) -> None:
        for d in self.space.values():
            if d.kind == "int":
                trial.suggest_int(d.name, int(d.low or 0), int(d.high or 0), log=d.log)
            elif d.kind == "float":
                trial.suggest_float(d.name, float(d.low or 0), float(d.high or 0), log=d.log)
            elif d.kind == "bool":
                trial.suggest_categorical(d.name, [False, True])
            else:
                trial.suggest_categorical(d.name, list(d.choices))


def _trainable(config: dict[str, Any], candles: Candles, setup: SearchSetup, window: tuple[int, int]) -> None:
    outcome = run_trial(setup, candles, window[0], window[1], dict(config))
    tune.report(outcome.report())


class _OnTrialDone(tune.Callback):
    def __init__(self, on_trial: Callable[[float], None] | None) -> None:
        self.on_trial = on_trial

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment's state; the progress bar (a terminal) stays here
        return {"on_trial": None}

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self.on_trial is not None:
            self.on_trial(float((trial.last_result or {}).get("score", float("nan"))))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self.on_trial is not None:
            self.on_trial(float("nan"))


def search_fold(setup: SearchSetup, candles: Candles, fold: Fold, *, trials: int, seed: int | None,
                storage_dir: Path, concurrency: int | None = None, startup_trials: int = 10,
                on_trial: Callable[[float], None] | None = None) -> list[TrialOutcome]:
    """Every trial's outcome on the fold's train window, in the order Tune created them.

    The first `startup_trials` are drawn at random, the rest by TPE from the results so far.
    """
    # each fold its own seed: with one seed for all, every fold would start from the same random trials
    fold_seed = None if seed is None else seed + fold.index
    sampler = optuna.samplers.TPESampler(seed=fold_seed, n_startup_trials=startup_trials)
    searcher = OptunaSearch(space=DefineByRun(setup.space), metric="score", mode="max", sampler=sampler)
    limit = 1 if seed is not None and concurrency is None else concurrency
    search_alg = ConcurrencyLimiter(searcher, max_concurrent=limit) if limit else searcher
    trainable = tune.with_parameters(_trainable, candles=candles, setup=setup,
                                     window=(fold.train_start_ms, fold.train_end_ms))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=trials, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"fold{fold.index}",
            storage_path=str(storage_dir),
            verbose=0,
            callbacks=[_OnTrialDone(on_trial), JsonLoggerCallback()],  # result.json: what the grid reads back
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    grid = tuner.fit()
    outcomes = []
    for number in range(len(grid)):
        result = grid[number]
        params = {k: v for k, v in (result.config or {}).items() if k in setup.space}
        if result.error is not None:  # the worker itself died: still a reported, not a fatal, trial
            text = str(result.error).strip().splitlines()
            outcomes.append(TrialOutcome(params=params, score=FAILED, number=number,
                                         error=f"trial failed in Tune: {text[-1] if text else type(result.error).__name__}"))
            continue
        outcomes.append(TrialOutcome.from_report(params, result.metrics or {}, number))
    return outcomes
