"""The fault matrix of `auditor sweep` and `auditor signoff`, through python-gitlab over HTTP
against the simulator: for every endpoint family the sweep reads, a 403, a 404, a 500 and a
timeout. For each: no crash (never exit 70), no false all-clear (never exit 0, never a
`complete` run), the failure named (in a gap or an unknown finding), the run stored as
`incomplete`, the JUnit export counting it as an error, and a sign-off that is not "Ready".

The world is one compliant promotion (`sweep_faults.matrix_world`), so the clean sweep exits
0 and anything else is the fault's doing.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.config import load_settings
from auditor.dates import parse_window
from auditor.gitlab.client import ReadOnlySession, connect
from auditor.gitlab.source import GitLabSource
from auditor.report.json_report import load_schema
from auditor.store import EvidenceStore
from auditor.sweep import Sweep, SweepResult
from tests.sweep_faults import FAMILIES, WEEK, Sim, hit, matrix_world, serve_world, slow_paths

STATUSES = (403, 404, 500)
MARKERS = {403: "403", 404: "404", 500: "500", "timeout": "timed out", 401: "401"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    yield from serve_world(matrix_world(), tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def clean(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The baseline: the same world without faults is compliant, complete and Ready."""
    db = tmp_path_factory.mktemp("clean") / "a.db"
    sim.clear()
    code, doc, _ = sim.sweep(db)
    assert code == 0
    assert [(p["mr"]["iid"], p["verdict"]) for p in doc["promotions"]] == [
        (1, "compliant"),
        (2, "compliant"),
    ]
    assert doc["gaps"] == [] and doc["coverage"]["status"] == "complete"
    with EvidenceStore(db) as store:
        assert store.runs()[0].status == "complete"
    signed = sim.signoff(db)
    assert signed.exit_code == 0 and "Ready for sign-off" in signed.stdout
    return doc


def named(doc: dict[str, Any], marker: str) -> bool:
    """Whether the document names a failure with `marker` (in a gap or an unknown finding)."""
    reasons = [g["reason"] for g in doc["gaps"]]
    reasons += [
        f["summary"] for p in doc["promotions"] for f in p["findings"] if f["status"] == "unknown"
    ]
    return any(marker in r for r in reasons)


def assert_fails_closed(sim: Sim, db: Path, code: int, doc: dict[str, Any], marker: str) -> None:
    jsonschema.validate(doc, load_schema())
    assert code in (3, 4), (code, doc["gaps"])
    assert doc["coverage"]["status"] == "incomplete" and doc["gaps"], doc["coverage"]
    assert named(doc, marker), (marker, doc["gaps"])
    assert all(p["verdict"] != "compliant" for p in doc["promotions"]) or doc["gaps"]
    with EvidenceStore(db) as store:
        (run,) = store.runs()
    assert run.status == "incomplete"
    assert run.as_row()["coverage"]["gaps"] == doc["gaps"]
    # every export of the stored run shows it: JUnit as errors, CSV as an incomplete row
    junit = sim.run("report", "--db", str(db), "--format", "junit")
    assert junit.exit_code == 3, junit.output
    root = ET.fromstring(junit.stdout)
    assert int(root.get("errors", "0")) >= len(doc["gaps"]) > 0
    assert root.find("testsuite[@name='coverage']") is not None
    services = ET.fromstring(
        sim.run("report", "--db", str(db), "--format", "junit-services").stdout
    )
    assert int(services.get("errors", "0")) > 0
    csv = sim.run("report", "--db", str(db), "--format", "csv")
    assert ",incomplete," in csv.stdout
    # and the sign-off on it, with GitLab answering again, is not "Ready"
    sim.clear()
    signed = sim.signoff(db)
    assert signed.exit_code == 3, signed.output
    assert "Ready for sign-off" not in signed.stdout and "BLOCKED" in signed.stdout
    as_json = json.loads(sim.signoff(db, "vemo-core", "--format", "json").stdout)
    assert as_json["blocking"] and as_json["exit_code"] == 3


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_unreadable_family_never_gives_an_all_clear(
    sim: Sim, clean: dict[str, Any], tmp_path: Path, family: str, status: int
) -> None:
    sim.clear()
    sim.server.faults.fail_paths[FAMILIES[family]] = status
    try:
        code, doc, stderr = sim.sweep(tmp_path / "a.db")
        assert hit(sim.server, FAMILIES[family], status), "the fault was never hit"
    finally:
        sim.clear()
    assert "could not be established" in stderr
    assert_fails_closed(sim, tmp_path / "a.db", code, doc, MARKERS[status])


def test_a_rejected_token_part_way_is_exit_4_and_an_incomplete_run(
    sim: Sim, clean: dict[str, Any], tmp_path: Path
) -> None:
    """A 401 on one MR's notes: the token is no good for what the audit needs (exit 4);
    the sweep still stores what it saw, as incomplete, and names the refusal."""
    sim.clear()
    sim.server.faults.fail_paths[FAMILIES["notes"]] = 401
    try:
        code, doc, _ = sim.sweep(tmp_path / "a.db")
    finally:
        sim.clear()
    assert code == 4
    assert any("rejected the token" in g["reason"] for g in doc["gaps"])
    assert [(p["mr"]["iid"], p["verdict"]) for p in doc["promotions"]] == [
        (1, "incomplete"),
        (2, "incomplete"),
    ]
    with EvidenceStore(tmp_path / "a.db") as store:
        assert store.runs()[0].status == "incomplete"
    assert sim.signoff(tmp_path / "a.db").exit_code == 3


# -- timeouts ---------------------------------------------------------------------------------
# A timed-out read is retried by python-gitlab (six times, backing off up to 3.2 s), so each
# family's case takes seconds of waiting: the cases run side by side, each against its own
# world and server, through the same `Sweep` the command runs (the command's exit code is
# `SweepResult.exit_code()`), and the CLI then reads each stored run back.
TIMEOUT = 1  # the config's [gitlab] timeout in these cases
DELAY = 2.5  # how long a slowed path takes to answer


@dataclass
class TimedOut:
    sim: Sim
    db: Path
    result: SweepResult
    served: Iterator[Sim]  # kept: closing it stops the server


def _timed_out_sweep(family: str, root: Path) -> TimedOut:
    tmp = root / family.replace(" ", "-")
    tmp.mkdir()
    served = serve_world(matrix_world(), tmp, extra_config=f"timeout = {TIMEOUT}")
    sim = next(served)
    slow_paths(sim.server, FAMILIES[family], DELAY)
    settings = load_settings(sim.config, {"GITLAB_TOKEN": sim.world.token})
    window = parse_window(None, WEEK[1], WEEK[3], None, sim.world.now)
    db = tmp / "a.db"
    with EvidenceStore(db) as store, store.exclusive("sweep"):
        session = ReadOnlySession()
        src = GitLabSource(connect(settings, session), cache=store, session=session)
        result = Sweep(src, session, settings, store).run(
            window, list(settings.services), sim.world.now
        )
    return TimedOut(sim, db, result, served)


@pytest.fixture(scope="module")
def timed_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TimedOut]]:
    root = tmp_path_factory.mktemp("timeouts")
    with ThreadPoolExecutor(len(FAMILIES)) as pool:
        futures = {f: pool.submit(_timed_out_sweep, f, root) for f in FAMILIES}
        runs = {f: future.result() for f, future in futures.items()}
    try:
        yield runs
    finally:
        for case in runs.values():
            case.served.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_family_that_times_out_never_gives_an_all_clear(
    timed_out: dict[str, TimedOut], family: str
) -> None:
    case = timed_out[family]
    # the stored run, exported as the command would (GitLab no longer slow for sign-off)
    case.sim.server.respond = type(case.sim.server).respond.__get__(case.sim.server)  # type: ignore[method-assign]
    code = case.result.exit_code()
    exported = case.sim.run("report", "--db", str(case.db), "--format", "json")
    doc = json.loads(exported.stdout)
    with EvidenceStore(case.db) as store:
        assert store.runs()[0].as_row()["coverage"]["gaps"] == case.result.gap_rows()
    assert doc["gaps"] == case.result.gap_rows()
    assert assert_timeout_named(case.result), case.result.gap_rows()
    assert_fails_closed(case.sim, case.db, code, doc, "timed out")


def assert_timeout_named(result: SweepResult) -> bool:
    return any("timed out" in g.reason for g in result.gaps)
