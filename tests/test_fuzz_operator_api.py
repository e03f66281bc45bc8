"""Fuzzing the operator API's request handling (issue 15 item 3): random and edited bodies for the
kill-switch endpoints, random queries, paths, methods and Authorization headers, through the same
`dispatch` the server runs. The answer is always one of the API's own (200, 400, 401, 404, 405)
with a one-line error; a backend that never fails never sees a 503 (which would mean a bad request
got past validation), and a command reaches the backend only with a known scope and a text reason.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operator_api.routes import Request, dispatch
from tests.fuzzing import json_values, mutated
from tests.test_operator_api import GOOD, TOKEN, RecordingBackend

pytestmark = pytest.mark.timeout(120)

PATHS = ["/api/v1/status", "/api/v1/trades", "/api/v1/equity", "/api/v1/halt", "/api/v1/flatten",
         "/api/v1/resume", "/health", "/metrics", "/", "/static/app.js", "/api/v1/halt/", "/api/v2/halt",
         "/api/v1/../halt", "//", "/api/v1/status?x=1", "/\x00", "/%2e%2e/etc/passwd"]
GOOD_BODY = {"strategy": "alpha", "reason": "fuzz"}
bodies = st.one_of(
    st.binary(max_size=80),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(GOOD_BODY).map(lambda v: json.dumps(v).encode()),
    st.just(json.dumps(GOOD_BODY).encode()),
)
auths = st.one_of(st.just(GOOD), st.none(), st.text(max_size=20), st.just(f"bearer {TOKEN}"),
                  st.just(f"Bearer {TOKEN} "), st.just("Bearer"), st.just(f"Basic {TOKEN}"))
queries = st.dictionaries(st.sampled_from(["limit", "x", ""]),
                          st.one_of(st.sampled_from(["0", "1", "1000", "1001", "-5", "1e3", "", "NaN"]),
                                    st.text(max_size=6)), max_size=2)


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "get", "PATCH"]),
       path=st.sampled_from(PATHS), auth=auths, body=bodies, query=queries)
def test_any_request_gets_one_of_the_api_s_answers(method: str, path: str, auth: str | None, body: bytes,
                                                    query: dict[str, str]) -> None:
    backend = RecordingBackend()
    resp = asyncio.run(dispatch(Request(method=method, path=path, query=query, authorization=auth, body=body),
                                TOKEN, backend))
    assert resp.status in (200, 400, 401, 404, 405), (resp.status, resp.body[:200])
    if resp.status != 200:
        error = json.loads(resp.body)["error"]
        assert isinstance(error, str) and "\n" not in error and TOKEN not in error
    for kind, scope, reason in backend.commands:
        assert kind in ("halt", "flatten", "resume")
        assert scope in ("all", *backend.strategy_names())
        assert isinstance(reason, str)
