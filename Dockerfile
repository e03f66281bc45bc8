# The trading system in one image: `python supervisor.py` with the profile in $LT_CONFIG (default
# config/paper.yaml: the local simulator; config/live.yaml for Lighter mainnet, see README "Going live").
# Keys come from the environment at run time (compose.yaml), never from the image.
#
# BASE may be any Debian-based image with Python 3.11+ and venv (the default is the official one;
# a registry-less build can use a local Debian image with python3-venv, as README says).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Install the dependencies first (a layer that changes only with pyproject.toml), then the code.
COPY pyproject.toml README.md ./
RUN python3 -m venv /app/.venv \
 && /app/.venv/bin/pip install --upgrade pip \
 && /app/.venv/bin/python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"
# Every package of the project (.dockerignore keeps out the venv, data, tests and secrets).
COPY . .
RUN /app/.venv/bin/pip install --no-deps . && rm -rf build *.egg-info \
 && /app/.venv/bin/python -c "import supervisor, venue, messages, actors, strategies, indicators, storage, config, risk, \
        operator_api, lighter_cli, alerts, research"

ENV PATH=/app/.venv/bin:$PATH
# data/ (the database) and backups/ are volumes (compose.yaml); the operator API, /health and
# /metrics listen on 127.0.0.1:8780 (host networking in compose.yaml).
VOLUME ["/app/data", "/app/backups"]
ENTRYPOINT ["python", "supervisor.py"]
CMD []
