"""Indicators: numba batch kernels and O(1) streaming state, candles and Renko bricks.

Submodules, imported explicitly by their users:

- `indicators.batch`   numba kernels over numpy arrays (research, tests, warm-up); imports numba.
- `indicators.stream`  pure-Python streaming indicators for the live path; no numba, no numpy.
- `indicators.candles` event-time candles from mid prices (`Candle`, `CandleBuilder`).
- `indicators.renko`   classic Renko bricks (`Brick`, `RenkoBuilder`).

This file stays empty of imports on purpose: importing `indicators` or `indicators.stream` must
not pull numba (a slow, heavy import) into an actor that only streams.
"""
