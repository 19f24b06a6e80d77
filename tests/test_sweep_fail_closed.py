"""The sweep fails closed, and finds what never reached staging; the sign-off cannot say
"Ready" by mistake. Through python-gitlab over HTTP against the simulator.

- a hypothesis property over the `week` world: making any one endpoint family unreadable
  (403, 404 or 500, everywhere or in one project) never yields exit 0, and never fewer
  promotions than the clean run without a gap that says why;
- a failed "which MR owns this commit" lookup is a gap, never drift, and is not remembered;
- picks onto `release` that no staging deployment carried are listed and audited;
- sign-off blocks on a staging deployment the run never saw, on a run of another GitLab,
  on a run that did not finish, and refuses a malformed or unknown `--release`; exit 4 when
  GitLab cannot be reached.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta as td
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.report.json_report import load_schema
from auditor.simulator.flows import T0, hotfix, release_flow, standard_org
from auditor.simulator.worlds import build_world, load_module, services_of
from auditor.store import EvidenceStore
from tests.sweep_faults import (
    BOTH,
    FAMILIES,
    VEMO,
    WEEK,
    Sim,
    by_the_book,
    hit,
    picked_by_hand,
    serve_world,
)


def keys(doc: dict[str, Any]) -> set[tuple[str, int, str]]:
    return {(p["mr"]["project"], p["mr"]["iid"], p["service"]) for p in doc["promotions"]}


def verdicts(doc: dict[str, Any]) -> dict[tuple[str, int, str], str]:
    return {
        (p["mr"]["project"], p["mr"]["iid"], p["service"]): p["verdict"] for p in doc["promotions"]
    }


# -- the property -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sim, dict[str, Any]]]:
    module = load_module("week")
    world = build_world(module)
    tmp = tmp_path_factory.mktemp("week")
    for sim in serve_world(world, tmp, services_of(module)):
        expect = world.expect  # type: ignore[attr-defined]
        window = ("--from", expect["window"]["from"], "--to", expect["window"]["to"])
        code, clean, _ = _sweep(sim, tmp / "clean.db", window)
        assert clean["gaps"] == [] and clean["coverage"]["status"] == "complete"
        assert code == 1 and len(clean["promotions"]) == len(expect["promotions"])
        yield sim, {"doc": clean, "window": window}


def _sweep(sim: Sim, db: Path, window: tuple[str, ...]) -> tuple[int, dict[str, Any], str]:
    result = sim.run(
        "sweep", *window, "--db", str(db), "--format", "json", "--now", sim.world.now.isoformat()
    )
    assert result.exit_code != 70, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, load_schema())
    return result.exit_code, doc, result.stderr


PROJECTS = ("", "evenergi(%2F|/)vemo-core", "evenergi(%2F|/)fleet", "evenergi(%2F|/)develop")


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    project=st.sampled_from(PROJECTS),
    status=st.sampled_from((403, 404, 500)),
)
def test_one_unreadable_endpoint_never_gives_exit_0_with_fewer_promotions(
    week: tuple[Sim, dict[str, Any]], family: str, project: str, status: int
) -> None:
    sim, clean = week
    pattern = FAMILIES[family]
    if project:
        pattern = rf"/projects/{project}/.*{pattern.lstrip('/')}"
    sim.clear()
    sim.server.faults.fail_paths[pattern] = status
    try:
        with tempfile.TemporaryDirectory() as tmp:
            code, doc, _ = _sweep(sim, Path(tmp) / "a.db", clean["window"])
            with EvidenceStore(Path(tmp) / "a.db") as store:
                stored = store.runs()[0].status
        faulted = hit(sim.server, pattern, status)
    finally:
        sim.clear()
    fewer = len(doc["promotions"]) < len(clean["doc"]["promotions"])
    assert not (code == 0 and fewer)
    # the clean week has violations: a fault may make them unknown (3), never pass (0)
    assert code in (1, 3, 4), code
    if keys(clean["doc"]) - keys(doc):
        assert doc["gaps"], "promotions went missing without a gap saying why"
    if doc["gaps"]:
        assert stored == "incomplete" and doc["coverage"]["status"] == "incomplete"
    if not faulted:
        assert verdicts(doc) == verdicts(clean["doc"])


# -- a failed ownership lookup ----------------------------------------------------------------
def _custom_pick_world() -> Any:
    """vemo-core!1 picked by hand with a message of its own, not the MR's title: only
    GitLab's "MRs of this commit" can say whose pick it is."""
    org = standard_org()
    picked_by_hand(org, "Fix charger session timeout", "Hotfix: sessions time out", T0)
    return org.world


def test_a_failed_owner_lookup_is_a_gap_never_drift_and_never_remembered(tmp_path: Path) -> None:
    for sim in serve_world(_custom_pick_world(), tmp_path):
        code, clean, _ = sim.sweep(tmp_path / "clean.db")
        assert (code, verdicts(clean), clean["drift"]) == (
            0,
            {("evenergi/vemo-core", 1, "vemo-core"): "compliant"},
            [],
        )
        db = tmp_path / "a.db"
        sim.server.faults.fail_paths[FAMILIES["commit MRs"]] = 500
        try:
            code, doc, _ = sim.sweep(db)
        finally:
            sim.clear()
        assert doc["drift"] == [], "a failed lookup turned the hotfix into drift"
        assert code == 3 and doc["coverage"]["status"] == "incomplete"
        (gap,) = [g for g in doc["gaps"] if "belongs to" in g["what"]]
        assert gap["service"] == "vemo-core" and "500" in gap["reason"]
        assert "Hotfix: sessions time out" in gap["what"]
        with EvidenceStore(db) as store:
            assert store.runs()[0].status == "incomplete"
        # GitLab answers again: the same store finds the promotion (nothing cached from the
        # failed lookup) and the new run is complete
        code, again, _ = sim.sweep(db)
        assert (code, verdicts(again), again["drift"], again["gaps"]) == (
            0,
            {("evenergi/vemo-core", 1, "vemo-core"): "compliant"},
            [],
            [],
        )
        with EvidenceStore(db) as store:
            assert [r.status for r in store.runs()] == ["complete", "incomplete"]


# -- picks that never reached staging ---------------------------------------------------------
def _release_only_world() -> Any:
    """vemo-core!1 by the book; vemo-core!2 picked Wednesday and never released (it would
    ride along with the next release, unvalidated); charge-api!1 picked and reverted on
    `release` before any deployment (the runbook's "stop the promotion")."""
    org = standard_org()
    by_the_book(org)
    vemo, charge = org.projects["vemo-core"], org.projects["charge-api"]
    mr2 = hotfix(org, "vemo-core", "Fix meter rounding", T0 + td(hours=3))
    vemo.cherry_pick(mr2, org.rm, T0 + td(hours=3, minutes=30))
    mr3 = hotfix(org, "charge-api", "Fix tariff lookup", T0 + td(hours=4))
    sha = charge.cherry_pick(mr3, org.rm, T0 + td(hours=4, minutes=10))
    charge.revert(sha, org.rm, T0 + td(hours=4, minutes=40))
    return org.world


def test_picks_that_never_reached_staging_are_listed_and_audited(tmp_path: Path) -> None:
    for sim in serve_world(_release_only_world(), tmp_path, BOTH):
        code, doc, _ = sim.sweep(tmp_path / "a.db")
        found = verdicts(doc)
        assert set(found) == {
            ("evenergi/vemo-core", 1, "vemo-core"),
            ("evenergi/vemo-core", 2, "vemo-core"),
            ("evenergi/charge-api", 1, "charge-api"),
        }
        assert found[("evenergi/vemo-core", 1, "vemo-core")] == "compliant"
        # picked a week before `now`, never released: past the grace period, not compliant
        assert found[("evenergi/vemo-core", 2, "vemo-core")] not in ("compliant", "in_progress")
        assert code != 0
        assert doc["gaps"] == [] and doc["drift"] == []
        # the release branch is read once per project, shared by discovery and collection
        listings = [
            r
            for r in sim.server.requests
            if r.path.endswith("/repository/commits") and r.query.get("ref_name") == ["release"]
        ]
        per_project = [r.path for r in listings]
        assert sorted(per_project) == sorted(set(per_project)) and len(per_project) == 2
        assert all(r.method == "GET" for r in sim.server.requests)


def test_the_demo_world_sweep_finds_the_same_promotions_as_before(tmp_path: Path) -> None:
    """The branch scan adds nothing to a world where every pick was released."""
    module = load_module("by_the_book")
    for sim in serve_world(build_world(module), tmp_path, services_of(module)):
        code, doc, _ = sim.sweep(tmp_path / "a.db")
        assert (code, verdicts(doc)) == (0, {("evenergi/vemo-core", 1, "vemo-core"): "compliant"})


# -- sign-off ---------------------------------------------------------------------------------
def _org_world() -> tuple[Any, Any]:
    org = standard_org()
    by_the_book(org)
    return org, org.world


def test_signoff_blocks_on_a_staging_deployment_the_run_never_saw(tmp_path: Path) -> None:
    org, world = _org_world()
    for sim in serve_world(world, tmp_path):
        db = tmp_path / "a.db"
        code, doc, _ = sim.sweep(db)
        assert code == 0 and sim.signoff(db).exit_code == 0
        # a window that ended before the deployment on staging: the run never looked at it
        early = tmp_path / "early.db"
        sim.run(
            "sweep",
            "--from",
            "2026-11-16",
            "--to",
            "2026-11-17",
            "--db",
            str(early),
            "--now",
            world.now.isoformat(),
        )
        blocked = sim.signoff(early)
        assert blocked.exit_code == 3 and "Ready for sign-off" not in blocked.stdout
        assert "after the audited window ended" in blocked.stdout
        assert "run auditor sweep again" in blocked.stdout
        # a hotfix released after the sweep, inside its window: a deployment the run did not see
        mr = hotfix(org, "vemo-core", "Fix plug detection", T0 + td(days=1))
        org.projects["vemo-core"].cherry_pick(mr, org.rm, T0 + td(days=1, minutes=30))
        flow = release_flow(org, "vemo-core", T0 + td(days=1, minutes=40))
        newer = flow.deployments["vemo-core"]
        after = sim.signoff(db)
        assert after.exit_code == 3 and "Ready for sign-off" not in after.stdout
        assert f"staging runs deployment {newer.id}" in after.stdout
        assert "newer than the newest deployment the run looked at" in after.stdout


def test_signoff_blocks_on_a_run_of_another_gitlab_or_an_unfinished_run(tmp_path: Path) -> None:
    _, world = _org_world()
    for sim in serve_world(world, tmp_path):
        db = tmp_path / "a.db"
        sim.sweep(db)
        # the same simulator under another name is, to the auditor, another GitLab
        other = tmp_path / "other.toml"
        other.write_text(
            sim.config.read_text().replace("http://127.0.0.1:", "http://localhost:"),
            encoding="utf-8",
        )
        result = sim.run(
            "--config",
            str(other),
            "signoff",
            "--service",
            "vemo-core",
            "--db",
            str(db),
            "--now",
            world.now.isoformat(),
        )
        assert result.exit_code == 3, result.output
        assert "not the configured GitLab" in result.stdout
        with EvidenceStore(db) as store:
            (run,) = store.runs()
            with store.exclusive("sweep"):
                failed = store.begin_run(
                    window_from=world.now - td(days=7),
                    window_to=world.now,
                    services=["vemo-core"],
                    config_sha256="x",
                    rulebook_sha256="y",
                    tool_version="0",
                    gitlab_url=run.gitlab_url,
                )
                store.finish_run(failed, status="failed", requests=0, coverage={}, summary={})
        unfinished = sim.signoff(db, "vemo-core", "--run", str(failed))
        assert unfinished.exit_code == 3 and f"run {failed} is failed" in unfinished.stdout


@pytest.mark.parametrize(
    ("release", "code", "words"),
    [
        ("not-a-sha", 2, "--release must be a commit SHA"),
        ("12345", 2, "--release must be a commit SHA"),
        ("f" * 40, 4, "does not give it as a commit"),
    ],
)
def test_signoff_refuses_a_release_that_is_not_a_known_commit(
    tmp_path: Path, release: str, code: int, words: str
) -> None:
    _, world = _org_world()
    for sim in serve_world(world, tmp_path):
        db = tmp_path / "a.db"
        sim.sweep(db)
        result = sim.signoff(db, "vemo-core", "--release", release)
        assert result.exit_code == code, result.output
        assert words in result.stderr and "Ready" not in result.stdout
        assert len(result.stderr.strip().splitlines()) == 1
        head = world.projects["evenergi/vemo-core"].head("release")
        ok = sim.signoff(db, "vemo-core", "--release", head[:12])
        assert ok.exit_code == 0, ok.output


def test_signoff_when_gitlab_cannot_be_reached_is_exit_4(tmp_path: Path) -> None:
    _, world = _org_world()
    for sim in serve_world(world, tmp_path):
        db = tmp_path / "a.db"
        sim.sweep(db)
        sim.server.stop()
        result = sim.signoff(db)
        assert result.exit_code == 4, result.output
        assert "unreachable" in result.stderr and "Ready" not in result.stdout


def test_report_of_an_incomplete_run_is_not_skipped_for_an_older_complete_one(
    tmp_path: Path,
) -> None:
    _, world = _org_world()
    for sim in serve_world(world, tmp_path, VEMO):
        db = tmp_path / "a.db"
        assert sim.sweep(db)[0] == 0
        sim.server.faults.fail_paths[FAMILIES["deployments"]] = 403
        try:
            code, _, _ = sim.sweep(db, "--service", "vemo-core", "--timezone", "UTC")
        finally:
            sim.clear()
        assert code == 3
        latest = sim.run("report", "--db", str(db), "--format", "json")
        assert latest.exit_code == 3
        assert re.search(r'"status": "incomplete"', latest.stdout)
        assert sim.signoff(db).exit_code == 3


def test_sweep_when_gitlab_cannot_be_reached_is_exit_4_and_a_failed_run(tmp_path: Path) -> None:
    _, world = _org_world()
    for sim in serve_world(world, tmp_path):
        sim.server.stop()
        db = tmp_path / "a.db"
        result = sim.run("sweep", *WEEK, "--db", str(db), "--format", "json")
        assert result.exit_code == 4, result.output
        assert result.stdout == "" and "unreachable" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        with EvidenceStore(db) as store:
            (run,) = store.runs()
        assert run.status == "failed" and run.coverage is not None
        assert "unreachable" in str(run.coverage.error)
