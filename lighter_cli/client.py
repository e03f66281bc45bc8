"""The CLI's side of the operator API: finding it and calling it.

Without flags the CLI reads the configuration (`--config`, else $LT_CONFIG, else
config/paper.yaml) for the database path, then `<db>.operator.json` (written by the operator actor
at start) for the URL and the token file; LT_OPERATOR_TOKEN, when set, is the token. Every failure
is an `ApiError` whose str() is one line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from operator_api.token import TOKEN_ENV, info_path, read_info, read_token

TIMEOUT_S = 40.0  # a flatten waits for risk's durable write; a status for every actor's answer


class ApiError(Exception):
    """One line: what went wrong talking to the operator API."""


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code}: {_error_text(exc.read())}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"cannot reach the operator API at {self.url} ({reason}): is the system running?") from None
        if path == "/metrics":
            return raw.decode()
        return json.loads(raw)


def _error_text(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"])
    except Exception:
        return " ".join(raw.decode(errors="replace").split())[:200]


def discover(config: str | None, db: str | None, url: str | None) -> Api:
    """The API of the system run with this configuration (or database), as the supervisor started it."""
    if db is None:
        from config.loader import load_config

        db = str(load_config(config).storage.db_path)
    db_path = Path(db).expanduser().resolve()
    token = os.environ.get(TOKEN_ENV, "").strip()
    info: dict[str, Any] = {}
    if url is None or not token:
        try:
            info = read_info(db_path)
        except FileNotFoundError:
            raise ApiError(f"no running system found for database {db_path} (no {info_path(db_path).name}): "
                           "start it with `lighter-trader run`, or give --url") from None
        except (OSError, ValueError) as exc:
            raise ApiError(f"cannot read {info_path(db_path)}: {exc}") from None
    if not token:
        token_file = info.get("token_file")
        if not token_file:
            raise ApiError(f"the system takes its token from {TOKEN_ENV}: set it here too")
        try:
            token = read_token(Path(token_file))
        except OSError as exc:
            raise ApiError(f"cannot read the token file {token_file}: {exc.strerror or exc}") from None
    return Api(url or str(info["url"]), token)
