"""Dependencies point inward: the domain knows only the standard library, the services
know no adapter, and the simulator shares no code with the client it tests."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exerciser"


def imports_of(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    for module, names in imports_of("domain").items():
        for name in names:
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or name.startswith("exerciser.domain")
            assert allowed, f"{module} imports {name}"


@pytest.mark.parametrize("folder", ["services"])
def test_use_cases_do_not_reach_adapters_or_io_libraries(folder: str) -> None:
    forbidden = (
        "exerciser.adapters",
        "exerciser.sim",
        "httpx",
        "httpcore",
        "sqlite3",
        "apscheduler",
    )
    for module, names in imports_of(folder).items():
        for name in names:
            assert not name.startswith(forbidden), f"{module} imports {name}"


def test_simulator_has_its_own_wire_code() -> None:
    for module, names in imports_of("sim").items():
        for name in names:
            if name.startswith("exerciser"):
                assert name.startswith("exerciser.sim"), f"{module} imports {name}"
