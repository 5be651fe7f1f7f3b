"""The layering of DESIGN §1: ``gnss ← geo ← store ← maps ← api``, with ``partymap`` (settings,
ingestion wiring, CLI) on top. A module may import only its own layer and those below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {"gnss": 0, "geo": 1, "store": 2, "maps": 3, "api": 4, "partymap": 5}
# Settings import nothing of ours; the layers that serve (maps, api) may take them, the layers
# below take what they need (a database URL) instead.
SHARED_LEAVES = {"partymap.settings": 3}
# The pure layers know nothing of databases, HTTP or servers.
FORBIDDEN_THIRD_PARTY = {
    "gnss": {
        "sqlalchemy",
        "geoalchemy2",
        "fastapi",
        "starlette",
        "psycopg",
        "uvicorn",
        "httpx",
        "shapely",
        "geopandas",
        "folium",
    },
    "geo": {
        "sqlalchemy",
        "geoalchemy2",
        "fastapi",
        "starlette",
        "psycopg",
        "uvicorn",
        "httpx",
        "folium",
    },
}


def imports_of(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(package: str, name_of_file: str, source: str) -> list[str]:
    own = RANK[package]
    bad = []
    for lineno, name in imports_of(source):
        top = name.split(".")[0]
        where = f"{name_of_file}:{lineno} imports {name}"
        if name in SHARED_LEAVES or any(name.startswith(f"{leaf}.") for leaf in SHARED_LEAVES):
            if own < SHARED_LEAVES.get(name, 3):
                bad.append(f"{where} (settings are for maps and above)")
        elif top in RANK and RANK[top] > own:
            bad.append(f"{where} ({package} is below {top})")
        elif top in FORBIDDEN_THIRD_PARTY.get(package, ()):
            bad.append(f"{where} ({package} must not depend on {top})")
    return bad


def sources() -> list[Path]:
    return sorted(p for pkg in RANK for p in (ROOT / pkg).rglob("*.py"))


def test_every_layer_has_modules() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in sources()} == set(RANK)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    relative = path.relative_to(ROOT)
    assert violations(relative.parts[0], str(relative), path.read_text()) == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_never_imports_the_development_tools(path: Path) -> None:
    """``devkit`` (simulators, test services) is not shipped: nothing shipped may need it."""
    found = [name for _, name in imports_of(path.read_text()) if name.split(".")[0] == "devkit"]
    assert found == []


def test_the_check_catches_upward_and_forbidden_imports() -> None:
    source = (
        "import store.models\nfrom geo import model\nimport sqlalchemy\nimport gnss.nmea.parser\n"
    )
    found = violations("gnss", "gnss/probe.py", source)
    assert [f.split(" imports ")[1].split(" ")[0] for f in found] == [
        "store.models",
        "geo",
        "sqlalchemy",
    ]
    assert violations("geo", "geo/probe.py", "from partymap.settings import Settings\n")
    assert violations("store", "store/probe.py", "from partymap.settings import Settings\n")
    assert not violations("api", "api/probe.py", "from partymap.settings import Settings\n")
