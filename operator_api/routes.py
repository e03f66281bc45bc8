"""Routing, auth and validation of the operator API, as a pure async function of a request.

`dispatch(request, token, backend)` answers every endpoint and the operator page (GET / and
/static/<file>, no token: operator_api/static.py); the HTTP shell (actors/operator.py)
only turns aiohttp's request into a `Request` and the `Response` back. Order of checks: an unknown
path is 404, a known path with another method 405, then the token (everything but /health: 401
on a missing or wrong one), then the query and body (400 with one line), then the backend (503
with one line when an actor does not answer).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from operator_api import static
from operator_api.token import bearer_ok

MAX_TRADES = 1000
DEFAULT_TRADES = 50
CONTROL_KINDS = ("halt", "flatten", "resume")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    authorization: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload, default=str).encode(), headers=dict(headers or {}))

    @classmethod
    def error(cls, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        return cls.json(status, {"error": " ".join(message.split())}, headers)


class ControlBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The body of POST /api/v1/halt, /flatten and /resume: null strategy = all of them."""

    strategy: str | None = None
    reason: str = ""


class Backend(Protocol):
    """What the API needs from the running system (actors/operator.py answers through Ray)."""

    def strategy_names(self) -> list[str]: ...

    async def status(self) -> dict[str, Any]: ...

    async def trades(self, limit: int) -> list[dict[str, Any]]: ...

    async def equity(self) -> dict[str, Any]: ...

    async def control(self, kind: str, scope: str, reason: str) -> list[str]: ...

    def health(self) -> tuple[bool, list[str]]: ...

    async def metrics(self) -> str: ...


class BadRequest(ValueError):
    """The request is malformed: str() is the one line the client gets with a 400."""


def parse_control_body(body: bytes, known: list[str]) -> ControlBody:
    if not body.strip():
        raise BadRequest('empty body: expected JSON {"strategy": name or null, "reason": text}')
    try:
        parsed = msgspec.json.decode(body, type=ControlBody)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if parsed.strategy is not None and parsed.strategy not in known:
        raise BadRequest(f"unknown strategy {parsed.strategy!r} (known: {', '.join(known) or 'none'})")
    return parsed


def parse_limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_TRADES
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be an integer 1-{MAX_TRADES}, got {raw!r}") from None
    if not 1 <= value <= MAX_TRADES:
        raise BadRequest(f"limit must be an integer 1-{MAX_TRADES}, got {raw!r}")
    return value


Handler = Callable[[Request, Any], Awaitable[Response]]


async def _status(_req: Request, backend: Backend) -> Response:
    return Response.json(200, await backend.status())


async def _trades(req: Request, backend: Backend) -> Response:
    limit = parse_limit(req.query)
    return Response.json(200, {"trades": await backend.trades(limit)})


async def _equity(_req: Request, backend: Backend) -> Response:
    return Response.json(200, await backend.equity())


def _control(kind: str) -> Handler:
    async def handle(req: Request, backend: Backend) -> Response:
        body = parse_control_body(req.body, backend.strategy_names())
        reason = body.reason or f"{kind} by the operator API"
        names = await backend.control(kind, body.strategy or "all", reason)
        return Response.json(200, {"action": kind, "scope": body.strategy or "all", "strategies": names})
    return handle


async def _health(_req: Request, backend: Backend) -> Response:
    ok, reasons = backend.health()
    return Response.json(200 if ok else 503, {"healthy": ok, "reasons": reasons})


async def _metrics(_req: Request, backend: Backend) -> Response:
    return Response(200, (await backend.metrics()).encode(), content_type="text/plain; version=0.0.4")


# path -> (method, handler, needs the token)
ROUTES: dict[str, tuple[str, Handler, bool]] = {
    "/api/v1/status": ("GET", _status, True),
    "/api/v1/trades": ("GET", _trades, True),
    "/api/v1/equity": ("GET", _equity, True),
    **{f"/api/v1/{kind}": ("POST", _control(kind), True) for kind in CONTROL_KINDS},
    "/health": ("GET", _health, False),
    "/metrics": ("GET", _metrics, True),
}


def page(req: Request) -> Response:
    """GET / and /static/<file>: the operator page, without a token (it holds no data)."""
    name = static.page_file_for(req.path)
    if name is None:
        return Response.error(404, f"no such page file: {req.path}")
    if req.method.upper() not in ("GET", "HEAD"):
        return Response.error(405, f"{req.path} takes GET", {"Allow": "GET, HEAD"})
    return Response(200, static.read_page_file(name), content_type=static.PAGE_FILES[name],
                    headers=static.SECURITY_HEADERS)


async def dispatch(req: Request, token: str, backend: Backend) -> Response:
    if static.is_page_path(req.path):
        return page(req)
    route = ROUTES.get(req.path.rstrip("/") or "/")
    if route is None:
        return Response.error(404, f"no such endpoint: {req.path}")
    method, handler, needs_token = route
    if req.method.upper() != method:
        return Response.error(405, f"{req.path} takes {method}", {"Allow": method})
    if needs_token and not bearer_ok(req.authorization, token):
        return Response.error(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                              {"WWW-Authenticate": "Bearer"})
    try:
        return await handler(req, backend)
    except BadRequest as exc:
        return Response.error(400, str(exc))
    except Exception as exc:  # an actor that does not answer: the system is there, this part is not
        return Response.error(503, f"{type(exc).__name__}: {exc}"[:400])
