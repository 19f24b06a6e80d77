"""A promotion's milestones (auditor.milestones): computed once from the facts the rules
judge, stored with the run, and what every page reads its times from.

Unit tests over hand-built evidence (`tests.evidence_builders`), then the report of a real
sweep of a simulated world whose SH12 finding cites no label event, then a store written
before milestones were kept.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from auditor.checks._outcome import at
from auditor.evaluate import evaluate
from auditor.evidence import Unavailable
from auditor.findings import (
    ChecksRan,
    Deployed,
    Labelled,
    Milestones,
    Picked,
    PipelineCreated,
    ReleaseJobRan,
    Unread,
    ValidationNote,
)
from auditor.milestones import milestones
from auditor.report.html import NOT_RECORDED, UNREAD, build_service_pages, render_service
from auditor.store import MIGRATIONS, EvidenceStore
from tests.conftest import serve
from tests.evidence_builders import (
    AFTER_GRACE,
    DEPLOY_DONE,
    DEPLOYMENT,
    DEPLOYMENT_ID,
    LABEL_AT,
    NOTE_AT,
    ORCH_PIPELINE,
    PICK_AT,
    PICK_SHA,
    RELEASE_JOB_ID,
    RUN_AT,
    SERVICE,
    SMOKE_DONE,
    T0,
    M,
    by_the_book,
    label_event,
    with_deployment,
)
from tests.test_lifecycle import DEPLOYMENT2, PICK2_SHA, RELEASE2, RUN2, Second, second_attempt
from tests.test_reports_html_pdf import GENERATED, Page, build_site
from tests.test_store import _downgrade

SH12 = "SH12"


def finding(ev: object, rule: str, clock: object = AFTER_GRACE) -> str:
    result = evaluate(ev, clock)  # type: ignore[arg-type]
    (f,) = [f for f in result.findings if f.rule == rule]
    return f.summary


# -- computed from the evidence ------------------------------------------------------------
def test_by_the_book_has_every_milestone_of_its_one_attempt() -> None:
    m = milestones(by_the_book())
    assert m.attempt == 1 and m.merged_at == T0
    assert isinstance(m.picked, Picked) and (m.picked.sha, m.picked.at) == (PICK_SHA, PICK_AT)
    assert m.pipeline is not None and not isinstance(m.pipeline, Unread)
    assert (m.pipeline.id, m.pipeline.at) == (ORCH_PIPELINE, RUN_AT)
    assert isinstance(m.release_job, ReleaseJobRan)
    assert (m.release_job.id, m.release_job.status) == (RELEASE_JOB_ID, "success")
    assert m.deployed == Deployed(
        DEPLOYMENT_ID, DEPLOYMENT.iid, "success", DEPLOY_DONE, DEPLOYMENT.web_url
    )
    assert m.checks == ChecksRan("passed", SMOKE_DONE)
    assert isinstance(m.validated, ValidationNote)
    assert (m.validated.at, m.validated.outcome) == (NOTE_AT, "validated")
    assert isinstance(m.labelled, Labelled) and (m.labelled.at, m.labelled.kept) == (LABEL_AT, True)
    # the result carries them, and they say what the findings say
    assert evaluate(by_the_book(), AFTER_GRACE).milestones == m
    assert at(m.labelled.at) in finding(by_the_book(), SH12)


def test_a_second_attempt_after_a_revert_is_the_one_the_milestones_follow() -> None:
    ev, clock = second_attempt(Second())
    m = milestones(ev)
    assert m.attempt == 2
    assert isinstance(m.picked, Picked) and m.picked.sha == PICK2_SHA
    assert m.picked.shas == (PICK2_SHA,)
    assert isinstance(m.pipeline, PipelineCreated) and m.pipeline.id == RUN2
    assert isinstance(m.release_job, ReleaseJobRan) and m.release_job.id == RELEASE2
    assert isinstance(m.deployed, Deployed) and m.deployed.id == DEPLOYMENT2
    assert isinstance(m.checks, ChecksRan) and m.checks.status == "passed"
    # the label and note of attempt 1 are not attempt 2's
    assert isinstance(m.labelled, Labelled) and m.labelled.at > m.deployed.at > LABEL_AT
    assert isinstance(m.validated, ValidationNote) and m.validated.at > m.deployed.at
    assert at(m.labelled.at) in finding(ev, SH12, clock)


def test_a_second_attempt_never_released_has_no_later_steps_and_no_earlier_ones() -> None:
    ev, _ = second_attempt(Second(released=False, note=False, label="none"))
    m = milestones(ev)
    assert m.attempt == 2 and isinstance(m.picked, Picked)
    assert (m.pipeline, m.release_job, m.deployed, m.checks) == (None, None, None, None)
    assert (m.validated, m.labelled) == (None, None)


def test_a_label_removed_and_added_again_is_the_add_that_stuck() -> None:
    readded = LABEL_AT + 30 * M
    events = (
        label_event(201, DEPLOY_DONE - 5 * M),  # too early, taken off
        label_event(202, DEPLOY_DONE - 2 * M, "remove"),
        label_event(203, readded),
    )
    m = milestones(replace(by_the_book(), label_events=events))
    assert m.labelled == Labelled(readded, True, by_the_book().mr.web_url)
    # removed and never added again: the add the rules judged, marked as not kept
    gone = (label_event(201, LABEL_AT), label_event(202, LABEL_AT + 5 * M, "remove"))
    m = milestones(replace(by_the_book(), label_events=gone))
    assert isinstance(m.labelled, Labelled) and (m.labelled.at, m.labelled.kept) == (
        LABEL_AT,
        False,
    )


def test_a_failed_deployment_is_the_deployed_milestone_with_its_status() -> None:
    ev = with_deployment(by_the_book(), status="failed")
    m = milestones(ev)
    assert isinstance(m.deployed, Deployed) and m.deployed.status == "failed"
    assert m.deployed.id == DEPLOYMENT_ID
    assert "failed" in finding(ev, "SH08")


def test_an_unreadable_deployments_list_is_unread_never_absent() -> None:
    gone = Unavailable("deployments to staging", "403 Forbidden")
    m = milestones(replace(by_the_book(), deployments=gone))
    for step in (m.deployed, m.checks, m.validated):
        assert isinstance(step, Unread), step
        assert "403 Forbidden" in step.reason
    # what does not rest on the deployments is still known
    assert isinstance(m.picked, Picked) and isinstance(m.release_job, ReleaseJobRan)


def test_other_unreadable_facts_are_unread_and_absent_ones_are_none() -> None:
    ev = by_the_book()
    m = milestones(replace(ev, label_events=Unavailable("label events", "timed out")))
    assert isinstance(m.labelled, Unread) and isinstance(m.deployed, Deployed)
    m = milestones(replace(ev, orchestration_runs=Unavailable("pipelines", "timed out")))
    assert isinstance(m.pipeline, Unread) and isinstance(m.release_job, Unread)
    m = milestones(replace(ev, notes=Unavailable("notes", "timed out")))
    assert isinstance(m.validated, Unread)
    m = milestones(replace(ev, pipeline_jobs={}))  # the checks' jobs were not collected
    assert isinstance(m.checks, Unread)
    # GitLab answered: no label, no note
    m = milestones(replace(ev, label_events=(), notes=()))
    assert m.labelled is None and m.validated is None
    ungoverned = replace(SERVICE, policy=replace(SERVICE.policy, governed=False))
    assert milestones(replace(ev, service=ungoverned)).labelled is None
    # no pick at all: nothing followed; the picks unreadable: nothing can be placed
    none = milestones(replace(ev, picks=()))
    assert none.attempt is None and none.picked is None and none.deployed is None
    unread = milestones(replace(ev, picks=Unavailable("release branch", "404")))
    assert all(
        isinstance(getattr(unread, f), Unread)
        for f in ("picked", "pipeline", "release_job", "deployed", "checks", "validated")
    )


# -- the report of a real sweep ------------------------------------------------------------
def _steps(html: str) -> str:
    """The text of the promotion's steps line (`<p class="steps">`)."""
    found = re.search(r'<p class="steps">(.*?)</p>', html, re.S)
    assert found is not None
    return Page(found.group(1)).text


def test_the_timeline_shows_when_the_label_was_added_though_sh12_cites_no_label_event(
    tmp_path: Path,
) -> None:
    """The bug a new user saw: "label added —" in red for a promotion whose SH12 finding
    says when the label was added. The label came before the deployment finished, so SH12
    fails citing the MR and the deployment, no label event; the timeline must still show
    the time of the add the finding judged."""
    for served in serve("day_label_too_early_then_cut_off", tmp_path):
        site = build_site(served, tmp_path)
    (promotion,) = site.doc["promotions"]
    (sh12,) = [f for f in promotion["findings"] if f["rule"] == SH12]
    assert sh12["status"] == "fail"
    assert all(e["kind"] != "label_event" for e in sh12["evidence"])  # the world still bites
    stated = re.search(r"added at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", sh12["summary"])
    assert stated is not None, sh12["summary"]
    assert promotion["milestones"]["labelled"]["kept"] is True
    html = (site.out / "vemo-core.html").read_text(encoding="utf-8")
    steps = _steps(html)
    assert f"label added {stated.group(1)} UTC" in steps, steps
    assert "label added —" not in steps


def test_a_store_from_before_milestones_still_renders_and_says_not_recorded(
    tmp_path: Path,
) -> None:
    """A version-2 store (attempts, no milestones) migrates, loads its promotions with no
    milestones, and its report renders: the timeline says the steps were not recorded for
    that run (never guessed from the findings' links), the merge time still shows."""
    for served in serve("by_the_book", tmp_path):
        site = build_site(served, tmp_path)
    _downgrade(site.db, to=2)
    with EvidenceStore(site.db) as store:
        assert store.schema_version == len(MIGRATIONS)
        (run,) = store.runs()
        report = store.report(int(run.id))
        assert report.promotions and all(p.milestones is None for p in report.promotions)
        pages = build_service_pages(store, int(run.id), generated_at=GENERATED)
    html = "".join(render_service(p) for p in pages)
    steps = _steps(html)
    assert f"cherry-picked {NOT_RECORDED}" in steps and "label added" in steps
    assert re.search(r"merged \d{4}-\d\d-\d\d \d\d:\d\d", steps), steps
    assert UNREAD not in steps


def test_milestones_round_trip_through_the_store(tmp_path: Path) -> None:
    ev = replace(by_the_book(), deployments=Unavailable("deployments", "403"))
    result = evaluate(ev, AFTER_GRACE)
    assert result.milestones is not None
    with EvidenceStore(tmp_path / "s.db") as store:
        run = store.begin_run(
            window_from=T0,
            window_to=T0 + 7 * 24 * 60 * M,
            services=["vemo-core"],
            config_sha256="0" * 64,
            rulebook_sha256="0" * 64,
            tool_version="0.1.0",
            gitlab_url="https://gitlab.example.com",
        )
        store.record_promotion(run, result)
        store.record_promotion(
            run,
            replace(
                result,
                service="other",
                milestones=Milestones.unread("not audited: timed out"),
            ),
        )
        store.finish_run(run, status="complete", requests=0, coverage={}, summary={})
        back = store.report(run).promotions
    assert back[0].milestones == result.milestones
    assert back[1].milestones == Milestones.unread("not audited: timed out")


def test_milestones_in_the_json_report_validate_against_the_schema() -> None:
    from datetime import UTC, datetime

    from jsonschema import Draft202012Validator

    from auditor.findings import Report
    from auditor.report import json_report

    known = evaluate(by_the_book(), AFTER_GRACE)
    unread = evaluate(replace(by_the_book(), deployments=Unavailable("d", "403")), AFTER_GRACE)
    skipped = replace(known, milestones=Milestones.unread("not audited: timed out"))
    old = replace(known, milestones=None)
    assert known.milestones is not None
    unmerged = replace(known, milestones=replace(known.milestones, merged_at=None))
    report = Report("https://g", datetime(2026, 11, 26, tzinfo=UTC), "0.1.0")
    doc = json_report.to_dict(replace(report, promotions=(known, unread, skipped, old, unmerged)))
    validator = Draft202012Validator(json_report.load_schema())
    assert [e.message for e in validator.iter_errors(doc)] == []
    steps = [p["milestones"] for p in doc["promotions"]]
    assert steps[0]["labelled"] == {
        "at": "2026-11-20T11:10:00Z",
        "kept": True,
        "web_url": by_the_book().mr.web_url,
    }
    assert steps[1]["deployed"] == {"unread": "could not read d: 403"}
    assert steps[2]["merged_at"] == {"unread": "not audited: timed out"}
    assert steps[3] is None


def test_a_deployments_list_gitlab_refused_shows_unknown_steps_not_missing_ones(
    tmp_path: Path,
) -> None:
    """The token may not read the deployments (403): the timeline says the deployment and
    what rests on it are unknown, with the reason, never "—" (did not happen)."""
    for served in serve("environment_unreadable", tmp_path):
        site = build_site(served, tmp_path)
    (promotion,) = site.doc["promotions"]
    assert "403" in promotion["milestones"]["deployed"]["unread"]
    html = (site.out / "vemo-core.html").read_text(encoding="utf-8")
    steps = _steps(html)
    for step in ("deployed", "smoke checks", "validation note"):
        assert f"{step} {UNREAD}" in steps, steps
    assert "—" not in steps
    assert 'title="could not read deployments to staging' in html
