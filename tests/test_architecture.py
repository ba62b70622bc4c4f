"""The tree is the architecture: `events` <- `projections` <- `egd`, and projections do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"events": 0, "projections": 1, "egd": 2}
IO_MODULES = {"asyncio", "nats", "grpc", "structlog", "prometheus_client", "aiohttp", "redis", "socket", "subprocess"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in LAYERS and LAYERS[top] > LAYERS[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_projections_do_no_io() -> None:
    offenders = []
    for path in sorted((ROOT / "projections").rglob("*.py")):
        for module in imported_modules(path):
            if module.split(".")[0] in IO_MODULES:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
