"""The sign-off decision over hand-built reports: what is in scope, what blocks, exit codes,
and a Markdown page whose GitLab text cannot break out of its escaping."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from markdown_it import MarkdownIt

from auditor.evidence import Deployment
from auditor.findings import (
    EvidenceLink,
    Finding,
    Milestones,
    MRSummary,
    Picked,
    PromotionResult,
    Report,
    Status,
    Unread,
    Verdict,
)
from auditor.release_line import CutOff, Drift, SweepExtras
from auditor.report.signoff_markdown import render_signoff_markdown
from auditor.rulebook import load_rulebook
from auditor.signoff import (
    SignoffContext,
    StagingDeployment,
    decide_signoff,
    last_cut_off,
    promoted_at,
    signoff_exit_code,
    to_dict,
)

GITLAB = "https://gitlab.example.com"
H = timedelta(hours=1)
CUT_OFF = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
AUDITED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
RULES = load_rulebook().rules
SERVICE = "vemo-core"
STAGING = StagingDeployment(
    id=702, sha="da706369aeb9", finished_at=AUDITED - 2 * H, url=f"{GITLAB}/e/v/-/jobs/9"
)


def promotion(
    iid: int,
    verdict: Verdict,
    picked: datetime | None,
    *,
    service: str = SERVICE,
    title: str = "Fix",
    statuses: dict[str, Status] | None = None,
) -> PromotionResult:
    """All 14 rules; the pick's milestone at `picked`, which SH03 also cites (no pick
    established and no time at all when None)."""
    statuses = statuses or {}
    findings = []
    for rule in RULES:
        at = picked if rule.id == "SH03" else None
        evidence = (EvidenceLink("commit", "abc", f"{GITLAB}/e/v/-/commit/abc", at),)
        status = statuses.get(rule.id, Status.PASS)
        findings.append(Finding(rule.id, rule.name, status, f"{rule.name} said so", evidence))
    mr = MRSummary("evenergi/vemo-core", iid, title, f"{GITLAB}/e/v/-/merge_requests/{iid}", None)
    pick = Picked("abc", picked, None, ("abc",)) if picked is not None else None
    steps = Milestones(1 if pick else None, None, pick, None, None, None, None, None, None)
    return PromotionResult(mr, service, verdict, tuple(findings), milestones=steps)


def report(*promotions: PromotionResult) -> Report:
    return Report(GITLAB, AUDITED, "0.1.0", tuple(promotions))


AFTER = CUT_OFF + 24 * H
BEFORE = CUT_OFF - 24 * H
FAILING = {"SH10": Status.FAIL, "SH12": Status.FAIL}
UNKNOWN = {"SH11": Status.UNKNOWN}


@dataclass
class Case:
    name: str
    promotions: list[PromotionResult]
    code: int
    staging: StagingDeployment | None = STAGING
    drift: list[Drift] = field(default_factory=list)
    in_scope: list[int] | None = None  # iids expected in scope (None: all of SERVICE's)


CASES = [
    Case("clean", [promotion(1, Verdict.COMPLIANT, AFTER)], 0),
    Case("nothing promoted since the cut-off", [], 0),
    Case(
        "violation blocks",
        [
            promotion(1, Verdict.COMPLIANT, AFTER),
            promotion(2, Verdict.NON_COMPLIANT, AFTER + H, statuses=FAILING),
        ],
        1,
    ),
    Case(
        "violation outranks unknown",
        [
            promotion(1, Verdict.INCOMPLETE, AFTER, statuses=UNKNOWN),
            promotion(2, Verdict.NON_COMPLIANT, AFTER + H, statuses=FAILING),
        ],
        1,
    ),
    Case("incomplete blocks", [promotion(1, Verdict.INCOMPLETE, AFTER, statuses=UNKNOWN)], 3),
    Case("in progress blocks", [promotion(1, Verdict.IN_PROGRESS, AFTER, statuses=UNKNOWN)], 3),
    Case("not promoted blocks", [promotion(1, Verdict.NOT_PROMOTED, None)], 3),
    Case(
        "violation before the cut-off is out of scope",
        [
            promotion(1, Verdict.NON_COMPLIANT, BEFORE, statuses=FAILING),
            promotion(2, Verdict.COMPLIANT, AFTER),
        ],
        0,
        in_scope=[2],
    ),
    Case(
        "unknown before the cut-off is out of scope",
        [promotion(1, Verdict.INCOMPLETE, BEFORE, statuses=UNKNOWN)],
        0,
        in_scope=[],
    ),
    Case(
        "another service's violation is not this sign-off's",
        [
            promotion(1, Verdict.NON_COMPLIANT, AFTER, service="charge-api", statuses=FAILING),
            promotion(2, Verdict.COMPLIANT, AFTER),
        ],
        0,
        in_scope=[2],
    ),
    Case(
        "a promotion of unknown time stays in scope",
        [promotion(1, Verdict.NOT_PROMOTED, None)],
        3,
        in_scope=[1],
    ),
    Case(
        "drift since the cut-off is a violation",
        [promotion(1, Verdict.COMPLIANT, AFTER)],
        1,
        drift=[Drift("evenergi/vemo-core", SERVICE, "feedbeef", "sneaky", AFTER)],
    ),
    Case(
        "drift before the cut-off or of another service does not block",
        [promotion(1, Verdict.COMPLIANT, AFTER)],
        0,
        drift=[
            Drift("p", SERVICE, "a", "t", BEFORE),
            Drift("p", "charge-api", "b", "t", AFTER),
        ],
    ),
    Case("staging unknown blocks", [promotion(1, Verdict.COMPLIANT, AFTER)], 3, staging=None),
    Case(
        "staging deployed after the audit blocks",
        [promotion(1, Verdict.COMPLIANT, AFTER)],
        3,
        staging=StagingDeployment(703, "beef", AUDITED + H, None),
    ),
    Case(
        "staging deployment still running blocks",
        [promotion(1, Verdict.COMPLIANT, AFTER)],
        3,
        staging=StagingDeployment(703, "beef", None, None),
    ),
]


def decide(case: Case) -> SignoffContext:
    return decide_signoff(
        report(*case.promotions),
        CUT_OFF,
        service=SERVICE,
        staging=case.staging,
        extras=SweepExtras(drift=tuple(case.drift)),
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision(case: Case) -> None:
    ctx = decide(case)
    assert signoff_exit_code(ctx) == case.code
    assert ctx.blocking is (case.code != 0)
    expected = case.in_scope
    if expected is None:
        expected = [p.mr.iid for p in case.promotions if p.service == SERVICE]
    assert sorted(p.mr.iid for p in ctx.promotions) == sorted(expected)
    assert {p.mr.iid for p in ctx.violations} == {
        p.mr.iid for p in ctx.promotions if p.verdict is Verdict.NON_COMPLIANT
    }
    assert ctx.window == (CUT_OFF, AUDITED)
    doc = to_dict(ctx)
    assert doc["exit_code"] == case.code and doc["blocking"] == ctx.blocking
    page = render_signoff_markdown(ctx)
    assert ("BLOCKED" in page) is ctx.blocking


def test_no_cut_off_means_the_whole_audit() -> None:
    r = report(promotion(1, Verdict.NON_COMPLIANT, BEFORE, statuses=FAILING))
    ctx = decide_signoff(r, None, service=SERVICE, staging=STAGING)
    assert signoff_exit_code(ctx) == 1
    assert "no cut-off known" in render_signoff_markdown(ctx)


def test_promoted_at_prefers_the_pick_then_any_time_then_the_merge() -> None:
    p = promotion(1, Verdict.COMPLIANT, AFTER)
    assert promoted_at(p) == AFTER
    no_time = promotion(2, Verdict.COMPLIANT, None)
    assert promoted_at(no_time) is None
    merged = MRSummary("g/p", 3, "t", "u", BEFORE)
    assert promoted_at(PromotionResult(merged, SERVICE, Verdict.COMPLIANT, ())) == BEFORE


def test_promoted_at_is_the_picks_milestone_not_a_time_a_finding_cites() -> None:
    """The pick's time comes from the milestones, whatever links SH03 or others attach; a
    pick that could not be established falls back to the latest cited time (an upper
    bound: keeping the promotion in scope can only block)."""
    p = promotion(1, Verdict.COMPLIANT, BEFORE)
    later = Finding(
        "SH08",
        "staging-deploy-succeeded",
        Status.PASS,
        "deployed",
        (EvidenceLink("deployment", 7, None, AFTER),),
    )
    p = dataclasses.replace(p, findings=(*p.findings, later))
    assert promoted_at(p) == BEFORE
    assert p.milestones is not None
    unread = dataclasses.replace(p.milestones, picked=Unread("could not read the branch"))
    assert promoted_at(dataclasses.replace(p, milestones=unread)) == AFTER


def test_last_cut_off_takes_the_latest_before_until() -> None:
    rows = [
        CutOff("g/develop", 1, 11, CUT_OFF, "maria"),
        CutOff("g/develop", 2, 21, CUT_OFF + 48 * H, None),
        CutOff("g/develop", 3, 31, None, None),
    ]
    assert last_cut_off(rows) == CUT_OFF + 48 * H
    assert last_cut_off(rows, until=CUT_OFF + H) == CUT_OFF
    assert last_cut_off([]) is None


def test_staging_from_a_gitlab_deployment() -> None:
    d = Deployment(
        id=702,
        iid=2,
        environment="staging",
        status="success",
        sha="da70",
        ref="release",
        created_at=AFTER,
        updated_at=AFTER,
        finished_at=AFTER + H,
        deployable_id=9,
        deployable_name="deploy",
        pipeline_id=5,
        web_url=f"{GITLAB}/e/v/-/jobs/9",
    )
    assert StagingDeployment.from_deployment(d) == StagingDeployment(
        702, "da70", AFTER + H, f"{GITLAB}/e/v/-/jobs/9"
    )


HOSTILE = "Fix | <script>x</script> [click](javascript:alert(1)) @all\n- [x] approve"


def test_markdown_has_the_signoff_block_and_escapes_gitlab_text() -> None:
    r = report(
        promotion(7, Verdict.NON_COMPLIANT, AFTER, title=HOSTILE, statuses=FAILING),
        promotion(8, Verdict.COMPLIANT, AFTER + H),
    )
    ctx = decide_signoff(r, CUT_OFF, service=SERVICE, staging=STAGING)
    page = render_signoff_markdown(ctx)
    for label in ("- Name: ", "- Role: ", "- Date (UTC): ", "- Decision (tick one):"):
        assert label in page.splitlines()
    assert "  - [ ] approve: staging of vemo-core may go on toward production" in page
    assert "  - [ ] reject: staging of vemo-core must not go on" in page
    assert "approve only with a recorded exception" in page
    # The hostile title: no HTML, no link, no mention, no ticked box, no extra table cell.
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\\@all" in page
    assert "[x]" not in page
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<script>" not in html
    assert 'href="javascript' not in html
    assert "<li>[x]" not in html
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    header_cells = rows[0].count(" | ")
    for row in rows:
        assert row.replace("\\|", "").count(" | ") == header_cells, row
    # Blocking section names the violation with its failing rules and their summaries.
    assert "**Violation**" in page and "SH10 smoke-checks-passed" in page
    assert "deployment 702" in page and "da706369aeb9" in page


def test_clean_markdown_offers_plain_approval() -> None:
    ctx = decide_signoff(
        report(promotion(1, Verdict.COMPLIANT, AFTER)), CUT_OFF, service=SERVICE, staging=STAGING
    )
    page = render_signoff_markdown(ctx)
    assert "**Ready for sign-off**" in page
    assert "recorded exception" not in page
    assert "What blocks sign-off\n\nNothing." in page


def test_release_scope_keeps_what_the_release_carries_and_what_cannot_be_told() -> None:
    """--release SHA: a promotion whose pick the release does not contain drops out; one
    whose ancestry GitLab did not answer stays (a sign-off must not lose a violation)."""
    from auditor.findings import EvidenceLink, Finding, MRSummary, PromotionResult, Report
    from auditor.signoff import restrict_to_release

    def promotion(iid: int, pick: str, verdict: Verdict) -> PromotionResult:
        # SH03 also cites a commit the release does not carry (a missing one of the MR's):
        # the scope is the pick's milestone, not whatever commit links SH03 attaches
        sh03 = Finding(
            "SH03",
            "hotfix-on-release",
            Status.PASS,
            "on release",
            (EvidenceLink("commit", "d" * 40, None, None),),
        )
        picked = Picked(pick, AUDITED, None, (pick,))
        steps = Milestones(1, None, picked, None, None, None, None, None, None)
        return PromotionResult(
            MRSummary("g/p", iid, f"fix {iid}", "u", None),
            "svc",
            verdict,
            (sh03,),
            milestones=steps,
        )

    report = Report(
        "https://g",
        datetime(2026, 11, 26, tzinfo=UTC),
        "0.1.0",
        (
            promotion(1, "a" * 40, Verdict.COMPLIANT),
            promotion(2, "b" * 40, Verdict.NON_COMPLIANT),
            promotion(3, "c" * 40, Verdict.NON_COMPLIANT),
        ),
    )
    answers = {"a" * 40: True, "b" * 40: False, "c" * 40: None, "d" * 40: False}
    extras = SweepExtras(drift=(Drift("g/p", "svc", "d" * 40, "x", None),))
    narrowed, rest = restrict_to_release(report, extras, answers.get)
    assert [p.mr.iid for p in narrowed.promotions] == [1, 3]
    assert rest.drift == ()


# -- what the run could not establish, and whether the run itself can be relied on ------------
def test_gaps_of_the_service_or_of_every_service_block_and_others_do_not() -> None:
    from auditor.gaps import Gap

    r = report(promotion(1, Verdict.COMPLIANT, AFTER))
    own = Gap(SERVICE, "deployments to staging of evenergi/vemo-core", "permission denied (403)")
    every = Gap(None, "jobs of pipeline 5006", "HTTP 500")
    other = Gap("charge-api", "deployments to staging of evenergi/charge-api", "timed out")
    for gaps, code in (([own], 3), ([every], 3), ([other], 0), ([own, other], 3)):
        ctx = decide_signoff(r, CUT_OFF, service=SERVICE, staging=STAGING, gaps=gaps)
        assert signoff_exit_code(ctx) == code, gaps
        assert ctx.gaps == tuple(g for g in gaps if g is not other)
        page = render_signoff_markdown(ctx)
        assert ("Ready for sign-off" in page) is (code == 0)
        assert to_dict(ctx)["gaps"] == [g.to_dict() for g in ctx.gaps]
    ctx = decide_signoff(r, CUT_OFF, service=SERVICE, staging=STAGING, gaps=[own])
    assert "the run could not establish deployments to staging" in render_signoff_markdown(ctx)
    assert "1 not shown yet" in render_signoff_markdown(ctx)


def test_run_issues_block() -> None:
    r = report(promotion(1, Verdict.COMPLIANT, AFTER))
    ctx = decide_signoff(
        r, CUT_OFF, service=SERVICE, staging=STAGING, run_issues=["run 3 audited another GitLab"]
    )
    assert signoff_exit_code(ctx) == 3
    assert "run 3 audited another GitLab" in render_signoff_markdown(ctx)
    assert to_dict(ctx)["run_issues"] == ["run 3 audited another GitLab"]


@pytest.mark.parametrize(
    ("window_end", "seen", "code", "words"),
    [
        (AUDITED, 702, 0, None),
        (STAGING.finished_at - H, 702, 3, "after the audited window ended"),  # type: ignore[operator]
        (AUDITED, 701, 3, "newer than the newest deployment the run looked at (701)"),
        (AUDITED, None, 0, None),  # the run saw no deployment in its window: nothing to compare
    ],
)
def test_staging_newer_than_the_run_blocks_and_is_named(
    window_end: datetime, seen: int | None, code: int, words: str | None
) -> None:
    ctx = decide_signoff(
        report(promotion(1, Verdict.COMPLIANT, AFTER)),
        CUT_OFF,
        service=SERVICE,
        staging=STAGING,
        window_end=window_end,
        staging_seen=seen,
    )
    assert signoff_exit_code(ctx) == code
    if words:
        (issue,) = ctx.staging_issues
        assert words in issue and "staging runs deployment 702" in issue
        assert "run auditor sweep again" in issue


def test_the_html_page_lists_gaps_and_run_issues() -> None:
    from auditor.gaps import Gap
    from auditor.report.signoff_page import render_signoff_html

    ctx = decide_signoff(
        report(promotion(1, Verdict.COMPLIANT, AFTER)),
        CUT_OFF,
        service=SERVICE,
        staging=STAGING,
        gaps=[Gap(SERVICE, "notes of evenergi/vemo-core!1", "<b>403</b>")],
        run_issues=["run 3 is failed"],
    )
    html = render_signoff_html(ctx, GITLAB)
    assert "BLOCKED" in html and "Ready for sign-off" not in html
    assert "run 3 is failed" in html and "&lt;b&gt;403&lt;/b&gt;" in html
