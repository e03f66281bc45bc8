# Builds and runs the default paper system: the local Lighter simulator and the trader on it.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends make gcc \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY venue venue
COPY messages messages
COPY actors actors
COPY strategies strategies
COPY indicators indicators
COPY storage storage
COPY config config
COPY scripts scripts
COPY *.py ./

# Install into the image's venv the same way `make` does, so `make run` finds it ready.
RUN python -m venv .venv \
 && .venv/bin/pip install --upgrade pip \
 && .venv/bin/pip install -e '.[dev]' \
 && touch .venv/.installed

# The dashboard binds to 127.0.0.1 inside the container; publish it with an SSH tunnel or
# `docker run --network host` when an operator needs it.
CMD ["make", "run"]
