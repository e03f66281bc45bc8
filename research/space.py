"""Search spaces: which parameters of a strategy a sweep varies, and over what, checked up front.

    space = load_space("rsi_bb", "default", yaml_path, ["rsi_period=int:5:30", "trailing_stop=bool"])

A dimension is written `int:LOW:HIGH`, `float:LOW:HIGH`, either with `:log` (sampled on a log
scale; LOW > 0), `choice:A,B,C` (each a JSON value) or `bool`; in YAML either that string or a
mapping {type: int|float, low: L, high: H, log: true} / {choice: [...]} under `params:` (flags
override the file's dimension of the same name). Checks, each one line naming the parameter: the
name is a parameter of the strategy; the kind fits the parameter's type (an int range on an int
parameter, float on float, bool on bool); LOW < HIGH, finite; and the strategy builds at both ends
of a range and with every choice (a period of 0 fails there, before any trial runs).
"""

from __future__ import annotations

import difflib
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from research.errors import ResearchInputError
from strategies.registry import KINDS, build, make_params
from venue.markets import SOL_DEFAULT

DimKind = Literal["int", "float", "choice", "bool"]
KIND_HELP = "int:LOW:HIGH[:log], float:LOW:HIGH[:log], choice:A,B,... or bool"


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    kind: DimKind
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind in ("int", "float"):
            return f"{self.kind}:{self.low:g}:{self.high:g}{':log' if self.log else ''}"
        if self.kind == "bool":
            return "bool"
        return "choice:" + ",".join(json.dumps(c) for c in self.choices)


def param_types(kind: str) -> dict[str, tuple[type, ...]]:
    """Each parameter of a directional strategy -> the value types it accepts (None left out)."""
    if kind not in KINDS:
        raise ResearchInputError(f"unknown strategy {kind!r}; known: {', '.join(sorted(KINDS))}")
    hints = typing.get_type_hints(KINDS[kind].params_type)
    out: dict[str, tuple[type, ...]] = {}
    for name, hint in hints.items():
        args = typing.get_args(hint) or (hint,)
        out[name] = tuple(a for a in args if isinstance(a, type) and a is not type(None))
    return out


def _number(text: str, name: str, spec: str, integer: bool) -> float | int:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        what = "an integer" if integer else "a number"
        raise ResearchInputError(f"bad range for {name} ({spec!r}): {text!r} is not {what}") from None
    if not math.isfinite(value):
        raise ResearchInputError(f"bad range for {name} ({spec!r}): {text!r} is not finite")
    return value


def parse_dimension(name: str, spec: Any) -> Dimension:
    """One dimension from its text form or YAML mapping (syntax only; `check_dimension` does the rest)."""
    if isinstance(spec, dict):
        if "choice" in spec:
            if not isinstance(spec["choice"], list) or not spec["choice"]:
                raise ResearchInputError(f"bad choice for {name}: expected a non-empty list")
            return Dimension(name, "choice", choices=tuple(spec["choice"]))
        kind = spec.get("type")
        if kind == "bool":
            return Dimension(name, "bool")
        if kind not in ("int", "float") or "low" not in spec or "high" not in spec:
            raise ResearchInputError(f"bad dimension for {name}: {spec!r} (expected {KIND_HELP})")
        text = f"{kind}:{spec['low']}:{spec['high']}" + (":log" if spec.get("log") else "")
        return parse_dimension(name, text)
    if not isinstance(spec, str):
        raise ResearchInputError(f"bad dimension for {name}: {spec!r} (expected {KIND_HELP})")
    kind, _, rest = spec.strip().partition(":")
    if kind == "bool" and not rest:
        return Dimension(name, "bool")
    if kind == "choice" and rest:
        try:
            choices = tuple(json.loads(f"[{rest}]"))
        except ValueError:
            raise ResearchInputError(f"bad choice for {name} ({spec!r}): values must be JSON (2, 2.5, true, \"x\")") from None
        return Dimension(name, "choice", choices=choices)
    if kind in ("int", "float"):
        parts = rest.split(":")
        log = len(parts) == 3 and parts[2] == "log"
        if len(parts) != 2 and not log:
            raise ResearchInputError(f"bad range for {name} ({spec!r}): expected {kind}:LOW:HIGH[:log]")
        low = _number(parts[0], name, spec, kind == "int")
        high = _number(parts[1], name, spec, kind == "int")
        if not low < high:
            raise ResearchInputError(f"bad range for {name} ({spec!r}): LOW must be below HIGH")
        if log and low <= 0:
            raise ResearchInputError(f"bad range for {name} ({spec!r}): a log scale needs LOW > 0")
        return Dimension(name, kind, low=low, high=high, log=log)  # type: ignore[arg-type]
    raise ResearchInputError(f"bad dimension for {name} ({spec!r}): expected {KIND_HELP}")


def check_dimension(kind: str, preset: str, dim: Dimension, types: dict[str, tuple[type, ...]]) -> None:
    if dim.name not in types:
        close = difflib.get_close_matches(dim.name, list(types), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ResearchInputError(f"unknown parameter {dim.name!r} for {kind}{hint}")
    accepted = types[dim.name]
    type_name = "/".join(t.__name__ for t in accepted)
    fits = {
        "int": int in accepted or float in accepted,
        "float": float in accepted,
        "bool": bool in accepted,
        "choice": True,
    }[dim.kind]
    if not fits:
        raise ResearchInputError(f"bad range for {dim.name}: {dim.describe()} does not fit its type ({type_name})")
    values: list[Any] = list(dim.choices) if dim.kind == "choice" else [dim.low, dim.high]
    if dim.kind == "bool":
        values = [False, True]
    for value in values:
        try:
            build(kind, "space-check", SOL_DEFAULT, preset=preset, overrides={dim.name: value})
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ResearchInputError(
                f"bad range for {dim.name}: {kind} does not accept {dim.name}={json.dumps(value)} ({first})"
            ) from None


def load_space(kind: str, preset: str, path: str | Path | None, flags: list[str]) -> dict[str, Dimension]:
    """The space from a YAML file and/or --param NAME=SPEC flags, every dimension checked."""
    types = param_types(kind)
    try:
        make_params(kind, preset)
    except ValueError as exc:
        raise ResearchInputError(f"bad --preset: {exc}") from None
    raw: dict[str, Any] = {}
    if path is not None:
        raw.update(_read_yaml(Path(path), kind))
    for item in flags:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise ResearchInputError(f"bad --param {item!r}: expected NAME=SPEC (e.g. rsi_period=int:5:30)")
        raw[name.strip()] = spec
    if not raw:
        raise ResearchInputError("empty search space: give --space FILE and/or --param NAME=SPEC")
    space = {name: parse_dimension(name, spec) for name, spec in raw.items()}
    for dim in space.values():
        check_dimension(kind, preset, dim, types)
    return space


def _read_yaml(path: Path, kind: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ResearchInputError(f"--space {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ResearchInputError(f"--space {path}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        raise ResearchInputError(f"--space {path}: expected a mapping with `params:` (NAME: SPEC)")
    if doc.get("strategy") not in (None, kind):
        raise ResearchInputError(f"--space {path} is for {doc['strategy']}, not {kind}")
    return dict(doc["params"])
