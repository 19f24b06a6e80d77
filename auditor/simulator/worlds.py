"""Finding and loading worlds: `fixtures/worlds/NAME.py` or any path to such a module.

A world module defines `build() -> World`, and may define `SERVICES` (the auditor.toml
[services.*] tables the world is meant to be audited with), `TARGETS` (MRs worth checking)
and `EXPECTED` (the verdicts the tests hold it to).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from auditor.resources import data_dir
from auditor.simulator.flows import DEFAULT_SERVICES, ORCHESTRATION
from auditor.simulator.world import World


class WorldNotFound(Exception):
    pass


def worlds_dir() -> Path:
    return data_dir("fixtures") / "worlds"


def available_worlds() -> list[str]:
    return sorted(p.stem for p in worlds_dir().glob("*.py") if not p.stem.startswith("_"))


def load_module(name_or_path: str) -> ModuleType:
    path = Path(name_or_path)
    if not (path.suffix == ".py" and path.is_file()):
        path = worlds_dir() / f"{name_or_path}.py"
    if not path.is_file():
        raise WorldNotFound(f"no world {name_or_path!r}; known: {', '.join(available_worlds())}")
    spec = importlib.util.spec_from_file_location(f"auditor_world_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_world(module: ModuleType) -> World:
    world = module.build()
    if not isinstance(world, World):
        raise WorldNotFound(f"{module.__name__}.build() did not return a World")
    return world


def services_of(module: ModuleType) -> dict[str, dict[str, Any]]:
    default = {name: {"project": path} for name, path in DEFAULT_SERVICES.items()}
    return getattr(module, "SERVICES", default)


def config_toml(url: str, services: dict[str, dict[str, Any]]) -> str:
    """An auditor.toml for a world served at `url` (the token comes from the environment)."""
    lines = [
        "[gitlab]",
        f"url = {json.dumps(url)}",
        f"orchestration_project = {json.dumps(ORCHESTRATION)}",
        "",
    ]
    for name, table in services.items():
        lines.append(f"[services.{name}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)
