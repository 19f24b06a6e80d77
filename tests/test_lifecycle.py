"""The promotion's attempts (auditor.lifecycle) over hand-built evidence, and the property
that a later attempt which failed or was never validated can never leave a promotion
compliant.

The by-the-book promotion of `tests.evidence_builders` is attempt 1. `second_attempt()`
appends what a real release day adds after it: the pick reverted from release (with the
label removed, or left on), the MR picked again, a release job, a staging deployment and
checks, and (or not) a new note and label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.derive import Clock
from auditor.evaluate import evaluate
from auditor.evidence import CherryPick, Job, PromotionEvidence, ReleaseScope, ScopeCommit
from auditor.findings import Status, Verdict
from auditor.lifecycle import change_coverage, lifecycle
from tests.evidence_builders import (
    AFTER_GRACE,
    BASE_SHA,
    DEPLOY_SHA,
    DEPLOYMENT,
    LABEL_AT,
    MERGE_SHA,
    MR,
    PICK,
    PICK_AT,
    PICK_SHA,
    RELEASE_JOB,
    REVERT,
    REVERT_AT,
    REVERT_COMMIT,
    REVERT_SHA,
    RUN,
    by_the_book,
    commit,
    deployment,
    job,
    label_event,
    note,
    orchestration_run,
    smoke,
    with_smoke,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)

PICK2_SHA = "7a" * 20
DEPLOY2_SHA = "8b" * 20
RUN2, RELEASE2, DOWN2, DEPLOY2_JOB, SMOKE2, DEPLOYMENT2 = 510, 5101, 710, 7201, 7202, 910


@dataclass(frozen=True)
class Second:
    """How the second attempt went."""

    gap: timedelta = 2 * H  # from the revert to the new pick
    released: bool = True
    deploy: str = "success"  # the deployment's status
    smoke: str | None = "success"  # None: no smoke job
    note: bool = True
    label: str = "readd"  # readd | left_on | none


def second_attempt(s: Second) -> tuple[PromotionEvidence, Clock]:
    """By the book, reverted at REVERT_AT, then picked again `s.gap` later."""
    ev = by_the_book()
    pick_at = REVERT_AT + s.gap
    pick2 = CherryPick(
        commit(
            PICK2_SHA,
            "Fix charge session rounding",
            f"Fix charge session rounding\n\n(cherry picked from commit {MERGE_SHA})",
            parents=(REVERT_SHA,),
        ),
        "trailer",
        MERGE_SHA,
        pick_at,
    )
    runs = [RUN]
    deployments = [DEPLOYMENT]
    jobs: dict[int, tuple[Job, ...]] = dict(ev.pipeline_jobs)  # type: ignore[arg-type]
    bridges = dict(ev.pipeline_bridges)
    ancestry = dict(ev.ancestry)
    done = pick_at
    scopes = {DEPLOYMENT.id: ev.scope}
    if s.released:
        run_at = pick_at + 10 * M
        release = job(RELEASE2, RELEASE_JOB.name, "success", RUN2, run_at + 5 * M, downstream=DOWN2)
        runs.append(orchestration_run(RUN2, run_at, (release,)))
        deploy_at = run_at + 10 * M
        d2 = deployment(
            DEPLOYMENT2, DEPLOY2_SHA, s.deploy, DOWN2, deploy_at, deployable_id=DEPLOY2_JOB
        )
        deployments.append(d2)
        for sha in (PICK_SHA, PICK2_SHA, REVERT_SHA):
            ancestry[(sha, DEPLOY2_SHA)] = True
        own = [job(DEPLOY2_JOB, "deploy staging", s.deploy, DOWN2, deploy_at, took=20 * M)]
        done = deploy_at + 20 * M
        if s.smoke is not None and s.deploy == "success":
            own.append(job(SMOKE2, "smoke staging", s.smoke, DOWN2, done + 2 * M, took=10 * M))
            done += 12 * M
        jobs[DOWN2] = tuple(own)
        bridges[DOWN2] = ()
        scope = ReleaseScope(
            DEPLOYMENT2,
            DEPLOY_SHA,
            DEPLOY2_SHA,
            (
                ScopeCommit(REVERT_COMMIT, None, PICK_SHA, None),
                ScopeCommit(pick2.commit, MERGE_SHA, None, None),
            ),
        )
        scopes[DEPLOYMENT2] = scope
    notes = list(ev.notes)  # type: ignore[arg-type]
    events = list(ev.label_events)  # type: ignore[arg-type]
    if s.label in ("readd", "none"):
        events.append(label_event(202, REVERT_AT + M, "remove"))
    if s.note:
        notes.append(
            note(111, "Validated vemo-core on staging again: rounding holds.", done + 5 * M)
        )
    if s.label == "readd":
        events.append(label_event(203, done + 10 * M))
    ev = replace(
        ev,
        picks=(PICK, pick2),
        reverts=(REVERT,),
        orchestration_runs=tuple(runs),
        deployments=tuple(deployments),
        pipeline_jobs=jobs,
        pipeline_bridges=bridges,
        ancestry=ancestry,
        notes=tuple(notes),
        label_events=tuple(events),
    )
    # as the collector does: the scope of the deployment the last attempt is judged on
    life = lifecycle(ev)
    judged = life.last.deployment if life is not None else None
    ev = replace(ev, scope=scopes.get(judged.id) if judged is not None else None)
    return ev, Clock(pick_at + 3 * D)


def statuses(ev: PromotionEvidence, clock: Clock) -> dict[str, Status]:
    return {f.rule: f.status for f in evaluate(ev, clock).findings}


# -- attempts --------------------------------------------------------------------------
def test_by_the_book_is_one_validated_attempt() -> None:
    life = lifecycle(by_the_book())
    assert life is not None and len(life.attempts) == 1
    only = life.last
    assert only.state == "validated"
    assert only.deployment == DEPLOYMENT and only.validated_at == LABEL_AT
    assert only.reached_release_at == PICK_AT


def test_a_pick_after_a_revert_starts_a_new_attempt() -> None:
    ev, _ = second_attempt(Second())
    life = lifecycle(ev)
    assert life is not None and [a.number for a in life.attempts] == [1, 2]
    first, second = life.attempts
    assert first.revert == REVERT and first.state == "reverted"
    assert first.until == second.started_at
    assert second.deployment is not None and second.deployment.id == DEPLOYMENT2
    assert second.state == "validated"


def test_picks_before_a_revert_are_one_attempt() -> None:
    """The second commit of a two-commit MR picked later belongs to the same attempt."""
    ev = by_the_book()
    rest = replace(PICK, commit=commit("5c" * 20, "part 2"), reached_release_at=PICK_AT + 20 * M)
    life = lifecycle(replace(ev, picks=(PICK, rest)))
    assert life is not None and len(life.attempts) == 1
    assert life.last.reached_release_at == PICK_AT + 20 * M


def test_a_successful_rerun_is_judged_after_a_failed_deployment() -> None:
    ev = by_the_book()
    failed = deployment(DEPLOYMENT.id - 1, DEPLOY_SHA, "failed", 699, DEPLOYMENT.created_at - H)
    life = lifecycle(replace(ev, deployments=(failed, DEPLOYMENT)))
    assert life is not None and life.last.deployment == DEPLOYMENT
    assert statuses(replace(ev, deployments=(failed, DEPLOYMENT)), AFTER_GRACE)["SH08"] == "pass"


def test_a_redeploy_after_failed_checks_is_judged_and_the_failure_is_contained() -> None:
    ev = with_smoke(by_the_book(), smoke("failed"))
    again = deployment(DEPLOYMENT.id + 1, DEPLOY_SHA, "success", 702, DEPLOYMENT.created_at + H)
    ev = replace(
        ev,
        deployments=(DEPLOYMENT, again),
        pipeline_jobs={
            **ev.pipeline_jobs,
            702: (job(7301, "smoke staging", "success", 702, again.created_at + 25 * M),),
        },
        pipeline_bridges={**ev.pipeline_bridges, 702: ()},
        label_events=(label_event(201, again.created_at + 2 * H),),
    )
    life = lifecycle(ev)
    assert life is not None and life.last.deployment == again
    [failure] = life.last.failures
    assert failure.replaced_by == again and failure.rerun_only
    found = statuses(ev, AFTER_GRACE)
    assert found["SH10"] == "pass" and found["SH13"] == "warn"


def test_a_pick_reverted_before_any_deployment_is_stopped() -> None:
    ev = replace(
        by_the_book(),
        reverts=(replace(REVERT, at=PICK_AT + 5 * M),),
        deployments=(),
        orchestration_runs=(),
        label_events=(),
        notes=(),
    )
    life = lifecycle(ev)
    assert life is not None and life.last.stopped and life.last.state == "stopped"
    result = evaluate(ev, AFTER_GRACE)
    assert result.verdict == Verdict.COMPLIANT
    assert {f.rule for f in result.findings if f.status == "not_applicable"} >= {
        f"SH{n:02d}" for n in range(4, 15) if n != 7
    }


def test_coverage_names_the_commits_not_picked() -> None:
    first = commit("1a" * 20, "part 1", parents=(BASE_SHA,))
    second = commit("2b" * 20, "part 2", parents=("1a" * 20,))
    merge_inside = commit("3c" * 20, "Merge branch 'main' into fix", parents=("2b" * 20, BASE_SHA))
    partial = replace(PICK, picked_from="1a" * 20, commit=commit(PICK_SHA, "part 1"))
    mr = replace(MR, merge_commit_sha=None)
    cov = change_coverage(mr, (first, second, merge_inside), [partial])
    assert cov.whole is False and cov.missing == (second,)
    both = change_coverage(mr, (first, second), [partial, replace(partial, picked_from="2b" * 20)])
    assert both.whole is True
    assert change_coverage(MR, None, [PICK]).whole is True  # the merge commit picked
    assert change_coverage(mr, None, [partial]).whole is None  # commits unknown


def test_a_partial_pick_fails_sh03() -> None:
    other = commit("2b" * 20, "Round half up", parents=("9f" * 20,))
    ev = replace(
        by_the_book(),
        mr=replace(MR, merge_commit_sha=None),
        mr_commits=(commit("9f" * 20, "Fix charge session rounding"), other),
        picks=(replace(PICK, picked_from="9f" * 20),),
    )
    outcome = evaluate(ev, AFTER_GRACE)
    sh03 = next(f for f in outcome.findings if f.rule == "SH03")
    assert sh03.status == "fail" and "2b2b2b2b" in sh03.summary


def test_the_timeline_lists_every_attempt() -> None:
    ev, clock = second_attempt(Second())
    result = evaluate(ev, clock)
    assert [a.state for a in result.attempts] == ["reverted", "validated"]
    assert result.attempts[0].reverted_by == REVERT_COMMIT.short_id
    assert result.attempts[1].deployment_iid == DEPLOYMENT2


# -- the property ----------------------------------------------------------------------
def test_a_second_attempt_done_by_the_book_is_compliant() -> None:
    """The baseline of the property: revert, rerun, re-pick, revalidate, re-label."""
    ev, clock = second_attempt(Second())
    assert evaluate(ev, clock).verdict == Verdict.COMPLIANT, statuses(ev, clock)


BAD_SECOND = st.one_of(
    st.builds(Second, released=st.just(False)),
    st.builds(Second, deploy=st.sampled_from(["failed", "canceled", "running"])),
    st.builds(Second, smoke=st.sampled_from(["failed", "canceled", "running", "manual"])),
    st.builds(Second, smoke=st.none(), note=st.just(False)),
    st.builds(Second, note=st.just(False)),
    st.builds(Second, label=st.sampled_from(["left_on", "none"])),
)


@settings(max_examples=60, deadline=None)
@given(
    second=BAD_SECOND,
    gap=st.integers(min_value=5, max_value=48 * 60),
    in_grace=st.booleans(),
)
def test_a_later_failed_or_unvalidated_attempt_never_leaves_it_compliant(
    second: Second, gap: int, in_grace: bool
) -> None:
    ev, clock = second_attempt(replace(second, gap=gap * M))
    if in_grace:
        clock = Clock(REVERT_AT + gap * M + 2 * H)
    result = evaluate(ev, clock)
    assert result.verdict != Verdict.COMPLIANT, (second, statuses(ev, clock))
