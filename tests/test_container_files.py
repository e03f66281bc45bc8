"""The container files keep up with the project: the image holds every package pyproject.toml
installs (its import check names each one; .dockerignore keeps none of them out), and compose.yaml
mounts the database and backups and passes keys through without values."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parent.parent


def _packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_the_image_imports_every_package_it_installs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")  # continued lines joined
    checks = [m.group(1) for m in re.finditer(r'python -c "import ([^";]+)"', dockerfile)]
    assert checks, "the Dockerfile has no import check"
    imported = {name.strip() for check in checks for name in check.split(",")}
    missing = [p for p in _packages() if p not in imported and p != "scripts"]
    assert not missing, f"the image's import check does not cover {missing}"
    assert "supervisor" in imported
    for package in _packages():
        assert (ROOT / package).is_dir(), package


def test_dockerignore_keeps_out_no_package() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for package in [*_packages(), "supervisor.py", "pyproject.toml"]:
        assert package not in ignored and f"{package}/" not in ignored, package
    assert ".venv" in ignored and "data" in ignored  # a local venv or database never goes into the image


def test_compose_mounts_state_and_passes_keys_without_values() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    trader = compose["services"]["trader"]
    targets = {v.split(":")[1] for v in trader["volumes"]}
    assert {"/app/data", "/app/backups"} <= targets
    keys = {k: v for k, v in trader["environment"].items() if k.startswith("LT_API_KEY_")}
    assert keys and all(v is None for v in keys.values()), "compose.yaml must not hold a key's value"
