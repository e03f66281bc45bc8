# The two commands of the quick start. Each one creates the virtual environment from
# pyproject.toml on first use and refreshes it whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: run demo test lint bench clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	@touch $(STAMP)

run: $(STAMP)
	$(PY) supervisor.py $(ARGS)

demo: $(STAMP)
	$(PY) -m scripts.demo $(ARGS)

test: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench: $(STAMP)
	$(PY) scripts/bench_venue.py
	$(PY) scripts/bench_indicators.py
	$(PY) scripts/bench_pipeline.py

clean-venv:
	rm -rf $(VENV)
