"""The edge agent installs alone: exact pins and none of the cloud side's libraries.

A gateway installs ``edge-agent/`` by itself, so its ``pyproject.toml`` must
not pull in the web or database stack, and every dependency is pinned exactly
so that two gateways never run different library versions by accident.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EDGE_AGENT = REPO / "edge-agent"

CLOUD_ONLY = frozenset({"flask", "flask-smorest", "sqlalchemy", "alembic", "psycopg", "dramatiq"})
EDGE_NEEDS = frozenset({"pymodbus", "pyserial", "paho-mqtt", "cryptography"})

# name, optional [extras], then the version specifiers (environment markers split off first).
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")
_EXACT_PIN = re.compile(r"^==\s*[0-9][0-9A-Za-z.+!-]*$")


def _pyproject(path: Path) -> dict[str, Any]:
    with (path / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _split(requirement: str) -> tuple[str, str]:
    """``"psycopg[binary]==3.3.9; python_version>'3'"`` -> ``("psycopg", "==3.3.9")``."""
    match = _REQUIREMENT.match(requirement.split(";", 1)[0])
    assert match is not None, f"unreadable requirement {requirement!r}"
    # PEP 503 normalisation, so "Flask_Smorest" and "flask-smorest" are one name.
    return re.sub(r"[-_.]+", "-", match[1]).lower(), match[2]


def _all_requirements(project: dict[str, Any]) -> list[str]:
    extras = project.get("optional-dependencies", {})
    return list(project.get("dependencies", [])) + [r for group in extras.values() for r in group]


EDGE_PROJECT = _pyproject(EDGE_AGENT)["project"]
ROOT_PROJECT = _pyproject(REPO)["project"]


def test_edge_agent_is_its_own_project() -> None:
    assert EDGE_PROJECT["name"] == "ems-edge-agent"
    assert EDGE_PROJECT["scripts"] == {"ems-edge": "ems_edge.cli:main"}


@pytest.mark.parametrize("requirement", EDGE_PROJECT["dependencies"])
def test_edge_agent_dependency_is_pinned_exactly(requirement: str) -> None:
    _, specifier = _split(requirement)
    assert _EXACT_PIN.match(specifier), f"{requirement!r} is not pinned with =="


def test_edge_agent_has_its_own_dependencies() -> None:
    names = {_split(r)[0] for r in EDGE_PROJECT["dependencies"]}
    assert names >= EDGE_NEEDS, f"missing {sorted(EDGE_NEEDS - names)}"


def test_edge_agent_pulls_in_nothing_of_the_cloud_side() -> None:
    names = {_split(r)[0] for r in EDGE_PROJECT["dependencies"]}
    assert not names & CLOUD_ONLY, (
        f"cloud-only libraries on a gateway: {sorted(names & CLOUD_ONLY)}"
    )


def test_optional_extras_add_only_what_their_name_says() -> None:
    # SQLAlchemy is a cloud library, but pulling from an existing system's database
    # (construction code 4.3.5(2)) needs it; it may come only with the "sql" extra.
    extras = EDGE_PROJECT.get("optional-dependencies", {})
    for extra, requirements in extras.items():
        names = {_split(r)[0] for r in requirements}
        allowed = {"sqlalchemy"} if extra == "sql" else set()
        assert not (names & CLOUD_ONLY) - allowed, f"extra {extra!r} brings {sorted(names)}"
        for requirement in requirements:
            assert _EXACT_PIN.match(_split(requirement)[1]), f"{requirement!r} is not exact"


def test_root_pins_pymodbus_exactly_if_it_lists_it() -> None:
    # The root may leave pymodbus to the edge agent (its dev install adds ./edge-agent);
    # if it lists it, a loose pin would let the two sides test against different versions.
    pins = [s for n, s in map(_split, _all_requirements(ROOT_PROJECT)) if n == "pymodbus"]
    for specifier in pins:
        assert _EXACT_PIN.match(specifier), f"root pyproject: pymodbus{specifier} is not exact"


def test_pins_shared_with_the_root_agree() -> None:
    # The development environment installs both projects; differing pins could not coexist.
    root = dict(map(_split, _all_requirements(ROOT_PROJECT)))
    for name, specifier in map(_split, EDGE_PROJECT["dependencies"]):
        if name in root:
            assert root[name] == specifier, f"{name}: root {root[name]}, edge agent {specifier}"


def test_importing_the_agent_loads_no_cloud_library() -> None:
    # A fresh interpreter: this test process has long since imported Flask.
    probe = (
        "import sys, ems_edge, ems_edge.cli, ems_edge.errors\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', "
        "'alembic', 'psycopg', 'dramatiq', 'flask_smorest', 'ems', 'ems_tenants'})\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(EDGE_AGENT)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
