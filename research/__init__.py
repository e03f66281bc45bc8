"""Research: walk-forward parameter search over the pure strategies, and the reports a trader reads.

Pure modules (no Ray): `data` (the candles file checked), `space` (search spaces parsed and checked
against a strategy's parameters), `folds` (walk-forward windows), `metrics` (a window's trades ->
the figures), `objective` (figures -> one score), `replay_adapter` (the one place that calls a
replay), `report` and `html_report`/`svg` (terminal tables, one self-contained HTML file).
The Ray Tune shell is `tune_runner`; the command is `sweep` (`python -m research.sweep`).
"""
