"""Shared test fixtures: a served world and a CLI run against it over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.simulator.server import SimulatorServer
from auditor.simulator.world import World
from auditor.simulator.worlds import build_world, config_toml, load_module, services_of


@dataclass
class Served:
    module: ModuleType
    world: World
    server: SimulatorServer
    url: str
    config: Path

    def run(self, *args: str, token: str | None = None) -> Any:
        env = {"GITLAB_TOKEN": token or self.world.token, "AUDITOR_CONFIG": ""}
        return CliRunner().invoke(
            app, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )

    def sweep_json(
        self, db: Path, *extra: str, window: tuple[str, str] = ("2026-11-16", "2026-11-22")
    ) -> Any:
        """`auditor sweep` of `window` into `db` as JSON, as of the world's now (the result)."""
        start, end = window
        now = self.world.now.isoformat()
        return self.run(
            "sweep", "--from", start, "--to", end, "--db", str(db), "--format", "json",
            "--now", now, *extra,
        )  # fmt: skip

    def check_json(self, target: str, *extra: str) -> tuple[int, dict[str, Any]]:
        now = self.world.now.isoformat()
        result = self.run("check", target, "--format", "json", "--now", now, *extra)
        assert result.stdout.strip(), result.output
        return result.exit_code, json.loads(result.stdout)


def serve(name: str, tmp_path: Path) -> Iterator[Served]:
    module = load_module(name)
    world = build_world(module)
    server = SimulatorServer(world)
    url = server.start()
    config = tmp_path / "auditor.toml"
    config.write_text(config_toml(url, services_of(module)), encoding="utf-8")
    try:
        yield Served(module, world, server, url, config)
    finally:
        server.stop()


@pytest.fixture
def by_the_book(tmp_path: Path) -> Iterator[Served]:
    yield from serve("by_the_book", tmp_path)


def one_error_line(result: Any, code: int, *words: str) -> None:
    """The contract's answer to bad input: exit `code` and one `auditor: error:` line on
    stderr naming each of `words`, no traceback."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("auditor: error: ")
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
