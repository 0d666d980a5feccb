"""The layout stays honest: imports point the agreed way and public surfaces are explicit."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "twin", "adapters", "simulation", "scenarios", "valley_twin")


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_imports_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPOSITORY / name


@pytest.mark.parametrize("name", (*PACKAGES, "twin.projections"))
def test_exports_are_complete_and_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, symbol) for symbol in exported)


@pytest.mark.slow
def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a test dependency: pip install -e '.[test]'"
    result = subprocess.run(
        [lint_imports, "--config", str(REPOSITORY / "pyproject.toml")],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_reads_no_clock() -> None:
    for source in (REPOSITORY / "domain").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "datetime.now" not in text and "utcnow" not in text and "time.time" not in text, (
            source
        )


# What the front door may import of the rooms: their packages' public surfaces. The adapters'
# package stays empty on purpose (a gateway or the twin importing the wire loads no device
# code), so its public modules are named one by one.
ROOMS_PUBLIC_MODULES = {
    "domain",
    "twin",
    "twin.projections",
    "twin.export",
    "twin.web",  # the web view, served by `twin serve`
    "simulation",
    "simulation.parameters",  # the public figures, with their sources
    "scenarios",
    "adapters.wire",
    "adapters.sdk",
    "adapters.registry",
    "adapters.service",
    "adapters.simulators",
}


def test_the_front_door_reaches_the_rooms_only_through_their_public_apis() -> None:
    rooms = {"domain", "twin", "simulation", "scenarios", "adapters"}
    reached = set()
    for source in (REPOSITORY / "valley_twin").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            reached.update(
                (source.name, module) for module in modules if module.split(".")[0] in rooms
            )
    assert reached, "the front door imports the rooms"
    assert {(name, m) for name, m in reached if m not in ROOMS_PUBLIC_MODULES} == set()
