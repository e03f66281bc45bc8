"""Check a configuration profile: `python -m config.check [--config PATH]`.

Loads the profile exactly as the supervisor does (YAML, LT_ overrides, API keys) and prints a
summary; keys are reported only as present or missing, never shown. On a configuration problem
it prints the one-line ConfigError to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from config.loader import api_key_env_name, exit_on_config_error, load_config, resolve_profile
from config.settings import AppSettings


def summarize(settings: AppSettings) -> list[str]:
    """Human-readable lines describing the settings; no secret appears in them."""
    venue = settings.venue
    lines = [f"mode: {settings.mode}", f"venue: {venue.url} (ws {venue.ws_url})"]
    if settings.mode == "paper":
        sim = venue.sim
        lines.append(
            f"simulator: source={sim.source}{f' mirroring {sim.upstream_url}' if sim.source == 'lighter' else ''} "
            f"speed={sim.speed:g} seed={sim.seed} port={sim.port} "
            f"collateral={sim.collateral:g} fees maker={sim.maker_fee:g} taker={sim.taker_fee:g}"
        )
    lines.append(f"markets: {', '.join(map(str, settings.markets))}")
    lines.append(f"strategies: {len(settings.enabled_strategies)} enabled of {len(settings.strategies)}")
    for s in settings.strategies:
        key = "key present" if s.has_key else f"no key ({api_key_env_name(s.account_index, s.api_key_index)})"
        lines.append(
            f"  {s.name}: kind={s.kind} preset={s.preset} {'enabled' if s.enabled else 'disabled'} "
            f"mode={s.mode} market={s.market_id} account={s.account_index} api_key_index={s.api_key_index} "
            f"size={s.size_min:g}-{s.size_max:g} params={len(s.params)} {key}"
        )
    risk, breakers = settings.risk, settings.risk.breakers
    lines.append(
        f"risk: max_net_notional={risk.max_net_notional:g} price_band_bps={risk.price_band_bps:g} "
        f"max_slippage_bps={risk.max_slippage_bps:g} orders/min={risk.order_rate_per_min} "
        f"cancels/min={risk.cancel_rate_per_min} reconcile every {risk.reconcile_interval_s:g}s"
    )
    lines.append(
        f"breakers: daily_loss={breakers.daily_loss_pct:g}% "
        f"consecutive_losses={breakers.max_consecutive_losses} drawdown={breakers.max_drawdown_pct:g}%"
    )
    storage = settings.storage
    lines.append(
        f"storage: db={storage.db_path} backups={storage.backup_dir} every {storage.backup_interval_s:g}s "
        f"keep {storage.keep_backups}"
    )
    lines.append(f"actors: {', '.join(child.name for child in settings.child_specs())}")
    return lines


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.check", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="the YAML profile (default: $LT_CONFIG, else config/paper.yaml)")
    args = parser.parse_args(argv)
    with exit_on_config_error():
        settings = load_config(args.config, env)
    print(f"profile: {resolve_profile(args.config, env)}")
    print("\n".join(summarize(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
