"""Hypothesis strategies for the fuzzers (tests/test_fuzz_*.py): Lighter's own messages, taken from
the shared fixtures, either as they are or broken in the ways a wire breaks them.

`mutated(doc)` draws a copy of a JSON document with a few edits at random paths: a key removed, a
value replaced by another JSON value of any type (a number where a string was, a string that is not
a number, null, a huge integer, a nested object), a list emptied or grown; `broken_bytes(raw)` cuts,
flips or splices bytes of the encoded document. Both keep most of the structure, so the decoders
get past their first check and the handlers behind them are exercised too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# values a venue has been seen to send where a number string belongs, and worse
NUMBER_TEXTS = ["0", "-1", "-0.0001", "1e309", "-1e309", "NaN", "nan", "inf", "", " ", "1,5", "0x10",
                "99999999999999999999999999", "1e-320", "abc", "\u00bd", "0.0000", "12.34.56"]
ODD_INTS = [0, -1, 2**31, 2**63 - 1, -(2**63), 2**64, 10**30]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(ODD_INTS), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(NUMBER_TEXTS), st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def fixture_docs(folder: Path, prefix: str) -> dict[str, Any]:
    """name -> parsed JSON of every fixture file whose name starts with prefix."""
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob(f"{prefix}*.json"))}


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside doc (keys of dicts, indices of lists), the root excluded."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*here, key))
            out.extend(_paths(value, (*here, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.append((*here, i))
            out.extend(_paths(value, (*here, i)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: Any, max_edits: int = 3) -> Any:
    """A deep copy of doc with 1..max_edits random edits (see the module docstring)."""
    out = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = _paths(out)
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        parent, last = _parent(out, path), path[-1]
        action = draw(st.sampled_from(["drop", "replace", "number_text", "grow", "empty"]))
        if action == "drop":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(json_values)
        elif action == "number_text":
            parent[last] = draw(st.sampled_from(NUMBER_TEXTS))
        elif action == "grow" and isinstance(parent[last], list) and parent[last]:
            parent[last].append(copy.deepcopy(draw(st.sampled_from(parent[last]))))
        elif action == "empty" and isinstance(parent[last], list | dict):
            parent[last] = type(parent[last])()
        else:
            parent[last] = draw(json_values)
    return out


@st.composite
def broken_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """raw cut short, with bytes flipped, or with random bytes spliced in."""
    how = draw(st.sampled_from(["cut", "flip", "splice", "garbage"]))
    if how == "cut":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if how == "flip":
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:] if raw else b"\xff"
    if how == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    return draw(st.binary(max_size=64))
