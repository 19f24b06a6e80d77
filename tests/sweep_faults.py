"""Helpers for the sweep's fault tests: small worlds served over HTTP, the endpoint families
the sweep reads, and fault injection on top of the simulator's own `Faults`.

`Faults.fail_paths` answers 403/404/500 for a path pattern. Two test-side additions, both
wrapped around `SimulatorServer.respond` (the simulator's own code runs unchanged):
`retry_now` adds `Retry-After: 0` to 5xx answers, so python-gitlab's six retries of a
persistent 500 happen at once instead of over six seconds (the failure is the same, only
faster); `slow_paths` delays answers on matching paths past the client's timeout.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta as td
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from typer.testing import CliRunner

from auditor.cli import app
from auditor.simulator.flows import T0, Org, hotfix, release_flow, standard_org, validate
from auditor.simulator.server import Response, SimulatorServer
from auditor.simulator.world import World
from auditor.simulator.worlds import config_toml

WEEK = ("--from", "2026-11-16", "--to", "2026-11-22")
VEMO = {"vemo-core": {"project": "evenergi/vemo-core"}}
BOTH = {
    "vemo-core": {"project": "evenergi/vemo-core"},
    "charge-api": {"project": "evenergi/charge-api"},
}

# Every endpoint family a sweep reads, as a regex on the request path (either spelling of
# the project path: GitLab accepts `group%2Fname`, the simulator records both).
FAMILIES: dict[str, str] = {
    "deployments": r"/deployments$",
    "compare": r"/repository/compare$",
    "commit MRs": r"/repository/commits/[0-9a-f]+/merge_requests$",
    "release commits": r"/repository/commits$",
    "MR": r"/merge_requests/\d+$",
    "notes": r"/merge_requests/\d+/notes$",
    "approvals": r"/merge_requests/\d+/approvals$",
    "label events": r"/merge_requests/\d+/resource_label_events$",
    "pipelines": r"/projects/[^/]+(/[^/]+)?/pipelines$",
    "jobs": r"/pipelines/\d+/jobs$",
    "bridges": r"/pipelines/\d+/bridges$",
}


def by_the_book(org: Org) -> None:
    """vemo-core!1: picked, released, deployed, smoke green, noted and labelled."""
    mr = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    org.projects["vemo-core"].cherry_pick(mr, org.rm, T0 + td(minutes=30))
    flow = release_flow(org, "vemo-core", T0 + td(minutes=40))
    validate(org, mr, "vemo-core", flow.finished_at + td(minutes=10))


def picked_by_hand(org: Org, title: str, message_title: str, at: datetime) -> None:
    """A vemo-core hotfix picked onto `release` by hand with a message of its own: a trailer
    naming the MR's own commit (not its merge commit, which the list of merged MRs would
    show), so only GitLab's "MRs of this commit" says whose pick it is; then released,
    deployed and validated by the book."""
    mr = hotfix(org, "vemo-core", title, at)
    org.projects["vemo-core"].cherry_pick(
        mr,
        org.rm,
        at + td(minutes=30),
        style="custom",
        message=f"{message_title}\n\n(cherry picked from commit {mr.commit_shas[-1]})",
    )
    flow = release_flow(org, "vemo-core", at + td(minutes=40))
    validate(org, mr, "vemo-core", flow.finished_at + td(minutes=10))


def matrix_world() -> World:
    """The smallest world that makes a sweep read every family once: two compliant
    promotions, the second picked by hand (`picked_by_hand`). A clean sweep of it exits 0,
    so any fault must show as 3 or 4."""
    org = standard_org()
    by_the_book(org)
    picked_by_hand(org, "Retry tariff sync", "Retry tariff sync", T0 + td(hours=2))
    return org.world


@dataclass
class Sim:
    world: World
    server: SimulatorServer
    config: Path

    def run(self, *args: str) -> Any:
        env = {"GITLAB_TOKEN": self.world.token, "AUDITOR_CONFIG": ""}
        return CliRunner().invoke(
            app, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )

    def sweep(self, db: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
        """`auditor sweep --format json` of the week; (exit code, document, stderr)."""
        result = self.run(
            "sweep",
            *WEEK,
            "--db",
            str(db),
            "--format",
            "json",
            "--now",
            self.world.now.isoformat(),
            *extra,
        )
        assert result.exit_code != 70, result.output
        assert result.stdout.strip(), result.output
        return result.exit_code, json.loads(result.stdout), result.stderr

    def signoff(self, db: Path, service: str = "vemo-core", *extra: str) -> Any:
        return self.run(
            "signoff",
            "--service",
            service,
            "--db",
            str(db),
            "--now",
            self.world.now.isoformat(),
            *extra,
        )

    def clear(self) -> None:
        self.server.faults.fail_paths.clear()
        self.server.reset_counts()


def serve_world(
    world: World,
    tmp: Path,
    services: dict[str, dict[str, Any]] = VEMO,
    extra_config: str = "",
) -> Iterator[Sim]:
    server = SimulatorServer(world)
    url = server.start()
    config = tmp / "auditor.toml"
    text = config_toml(url, services)
    if extra_config:
        text = text.replace("[gitlab]\n", f"[gitlab]\n{extra_config}\n", 1)
    config.write_text(text, encoding="utf-8")
    retry_now(server)
    try:
        yield Sim(world, server, config)
    finally:
        server.stop()


def _wrap(server: SimulatorServer, wrapper: Callable[..., Response]) -> None:
    original = server.respond

    def respond(method: str, target: str, headers: Any) -> Response:
        return wrapper(original, method, target, headers)

    server.respond = respond  # type: ignore[method-assign]


def retry_now(server: SimulatorServer) -> None:
    def wrapper(original: Callable[..., Response], *args: Any) -> Response:
        response = original(*args)
        if response.status >= 500:
            response.headers["Retry-After"] = "0"
        return response

    _wrap(server, wrapper)


def slow_paths(server: SimulatorServer, pattern: str, seconds: float) -> None:
    rx = re.compile(pattern)

    def wrapper(original: Callable[..., Response], method: str, target: str, headers: Any):  # noqa: ANN202
        path = target.partition("?")[0]
        if rx.search(path) or rx.search(unquote(path)):
            time.sleep(seconds)
        return original(method, target, headers)

    _wrap(server, wrapper)


def hit(server: SimulatorServer, pattern: str, status: int) -> bool:
    """Whether some request on a path matching `pattern` was answered `status`."""
    rx = re.compile(pattern)
    return any(
        r.status == status and (rx.search(r.path) or rx.search(unquote(r.path)))
        for r in server.requests
    )
