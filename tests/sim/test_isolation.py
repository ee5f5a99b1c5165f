"""The simulator speaks the wire format with its own code: it imports nothing from the
client side of ``exerciser`` and no HTTP client or model library, only the standard
library, PyYAML and h11 (HTTP/1.1 framing for its asyncio server)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import exerciser.sim

SIM_DIR = Path(exerciser.sim.__file__).parent
ALLOWED_THIRD_PARTY = {"yaml", "h11"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_simulator_imports_only_itself_the_standard_library_yaml_and_h11() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(SIM_DIR.glob("*.py"))
        for name in imported_modules(path)
        if not (
            name == "exerciser.sim"
            or name.startswith("exerciser.sim.")
            or name.split(".")[0] in sys.stdlib_module_names
            or name.split(".")[0] in ALLOWED_THIRD_PARTY
        )
    }

    assert offenders == set()


def test_the_public_api_is_exported() -> None:
    for name in (
        "Scenario",
        "ScenarioError",
        "load_scenario",
        "parse_scenario",
        "sample_scenario_path",
        "Simulator",
        "running_simulator",
        "serve",
    ):
        assert name in exerciser.sim.__all__
        assert hasattr(exerciser.sim, name)
