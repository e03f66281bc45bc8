"""The operator API's bearer token and where a CLI finds the running API.

The token is made at each start (`secrets.token_urlsafe`) and written, mode 0600, to
`<db>.operator-token`, unless `LT_OPERATOR_TOKEN` gives it (then no file is written). Beside it
the operator actor writes `<db>.operator.json`: the API's URL and the token file's path (never the
token). The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TOKEN_ENV = "LT_OPERATOR_TOKEN"


def token_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.operator-token")


def info_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.operator.json")


def write_private(path: Path, text: str) -> None:
    """Write text to path readable by its owner only (0600 whatever the umask), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def prepare_token(db_path: str | Path, environ: Mapping[str, str] = os.environ) -> tuple[str, Path | None]:
    """The token of this run and the file holding it (None when the environment gives it)."""
    given = environ.get(TOKEN_ENV, "").strip()
    if given:
        return given, None
    token = secrets.token_urlsafe(32)
    path = token_path(db_path)
    write_private(path, token + "\n")
    return token, path


def read_token(path: Path) -> str:
    return path.read_text().strip()


def bearer_ok(authorization: str | None, token: str) -> bool:
    """True when the Authorization header is `Bearer <token>` (constant-time comparison)."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def write_info(db_path: str | Path, url: str, token_file: Path | None) -> None:
    info = {"url": url, "token_file": None if token_file is None else str(token_file)}
    write_private(info_path(db_path), json.dumps(info) + "\n")


def read_info(db_path: str | Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(info_path(db_path).read_text())
    return data
