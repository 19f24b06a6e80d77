"""Unit tests of pick finding and collection (`Collector._picks`, `Collector.collect`) over
the in-memory GitLab source double (`tests/source_double.py`).

Each test tells a story in a few lines (`Story`), runs the real collector on it and holds
what it found. The docstrings name the runbook sentence or the GitLab behaviour pinned
(GitLab facts: /work/shared/gitlab-api/NOTES.md §1 "Cherry-pick"). The simulator worlds
stay the end-to-end tests; `test_double_matches_real_source` holds the double to the real
source on some of them.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from auditor.collect import Collector
from auditor.config import Service, Settings
from auditor.evidence import MergeRequest, PromotionEvidence, Unavailable
from auditor.lifecycle import lifecycle
from tests.source_double import (
    ANY,
    DENIED,
    PROJECT,
    T0,
    D,
    H,
    M,
    SourceDouble,
    Story,
    patch,
    world_and_double,
)


def found(ev: PromotionEvidence) -> list[tuple[str, str | None]]:
    """(method, picked_from) of each pick, in order of reaching release."""
    assert isinstance(ev.picks, tuple), ev.picks
    return [(p.method, p.picked_from) for p in ev.picks]


@pytest.fixture
def story() -> Story:
    return Story()


# -- trailer forms --------------------------------------------------------------------------
def test_ui_pick_of_merge_commit_is_found_by_its_system_note(story: Story) -> None:
    """GitLab's Cherry-pick button on a merged MR picks its merge commit and adds the system
    note "picked the changes into the branch [`release`](…) with commit Y" to the MR
    (NOTES §1): the note names the pick, whose trailer names the merge commit."""
    mr = story.hotfix("Fix charger session timeout")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M, note_on=mr)
    ev = story.collect(mr)
    assert found(ev) == [("system_note", mr.merge_commit_sha)]
    assert ev.picks[0].commit == pick
    assert lifecycle(ev).last.coverage.whole is True


def test_trailer_naming_the_merge_commit_without_a_note(story: Story) -> None:
    """`(cherry-picked from commit <merge sha>)`, GitLab's own spelling, with no system
    note (picked through the API, or the note is gone): the trailer alone proves the pick,
    and a merge commit carries the MR's whole change."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    ev = story.collect(mr)
    assert found(ev) == [("trailer", mr.merge_commit_sha)]
    assert lifecycle(ev).last.coverage.whole is True


def test_old_spelling_trailer_of_the_mrs_own_commit(story: Story) -> None:
    """`git cherry-pick -x` (and GitLab before the hyphen) writes `(cherry picked from commit
    X)`; X may be the MR's own commit rather than its merge commit (NOTES §1: accept
    both spellings)."""
    mr = story.hotfix("Fix charger session timeout")
    own = story.own(mr)[0]
    story.pick(own.id, T0 + 30 * M, style="x")
    ev = story.collect(mr)
    assert found(ev) == [("trailer", own.id)]
    assert lifecycle(ev).last.coverage.whole is True


def test_trailer_naming_the_squash_commit(story: Story) -> None:
    """A squashed, fast-forwarded MR has no merge commit: the button picks the squash
    commit (`commit_to_cherry_pick`, NOTES §1) and GitLab adds no system note, so only the
    trailer naming `squash_commit_sha` proves it."""
    mr = story.hotfix("Fix charger session timeout", method="ff")
    assert mr.merge_commit_sha is None and mr.squash_commit_sha
    story.pick(mr.squash_commit_sha, T0 + 30 * M)
    ev = story.collect(mr)
    assert found(ev) == [("trailer", mr.squash_commit_sha)]
    assert lifecycle(ev).last.coverage.whole is True


def test_abbreviated_sha_in_a_trailer_names_the_same_commit(story: Story) -> None:
    """A trailer edited by hand may carry a short SHA: 7 or more hex digits that prefix the
    merge commit name it (`lineage.same_sha`)."""
    mr = story.hotfix("Fix charger session timeout")
    short = mr.merge_commit_sha[:10]
    story.commit(
        "release",
        mr.title,
        T0 + 30 * M,
        message=f"{mr.title}\n\n(cherry picked from commit {short})\n",
        diff=story.p.diffs[mr.merge_commit_sha],
    )
    assert found(story.collect(mr)) == [("trailer", short)]


def test_multi_commit_mr_picked_commit_by_commit(story: Story) -> None:
    """Runbook Evidence 1 "the merged hotfix is present on `release`": an MR of two commits
    picked one by one (`-x` each) is whole only when every commit is there."""
    mr = story.hotfix("Fix charger session timeout", commits=2)
    first, second = story.own(mr)
    story.pick(first.id, T0 + 30 * M, style="x")
    story.pick(second.id, T0 + 31 * M, style="x")
    ev = story.collect(mr)
    assert found(ev) == [("trailer", first.id), ("trailer", second.id)]
    life = lifecycle(ev)
    assert len(life.attempts) == 1 and life.last.coverage.whole is True


def test_multi_commit_mr_partly_picked_names_what_is_missing(story: Story) -> None:
    """Only one of the MR's two commits picked: the pick is found, and the change is
    known to be incomplete (SH03 fails naming the missing commit), never whole."""
    mr = story.hotfix("Fix charger session timeout", commits=2)
    first, second = story.own(mr)
    story.pick(first.id, T0 + 30 * M, style="x")
    ev = story.collect(mr)
    assert found(ev) == [("trailer", first.id)]
    coverage = lifecycle(ev).last.coverage
    assert coverage.whole is False and [c.id for c in coverage.missing] == [second.id]


# -- picks without a trailer: matched by title, then proven by patch ------------------------
def test_local_pick_without_trailer_with_the_same_patch(story: Story) -> None:
    """Runbook Exceptions "Cherry-pick conflicts: resolve on a local `release` branch": a
    local pick without `-x` keeps the title and no trailer; a release commit titled like the
    MR whose patch equals the merge commit's is the pick (`same_patch`)."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, style="none")
    ev = story.collect(mr)
    assert found(ev) == [("same_patch", mr.merge_commit_sha)]
    assert ev.suspected_picks == ()


def test_local_pick_of_the_merge_commit_keeps_gits_merge_title(story: Story) -> None:
    """`git cherry-pick -m 1 <merge>` without `-x` keeps git's title "Merge branch '…' into
    'main'": matched to the merge commit by that title, then proven by its patch."""
    mr = story.hotfix("Fix charger session timeout")
    merge_title = f"Merge branch '{mr.source_branch}' into 'main'"
    story.pick(mr.merge_commit_sha, T0 + 30 * M, style="none", title=merge_title)
    assert found(story.collect(mr)) == [("same_patch", mr.merge_commit_sha)]


def test_same_title_different_patch_is_suspected_not_a_pick(story: Story) -> None:
    """A release commit titled like the MR without a trailer whose patch differs (a
    conflict resolved differently, or another change with the same title) is not proven
    to carry the hotfix: a suspected pick (SH03 unknown), never a pick."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(
        mr.merge_commit_sha,
        T0 + 30 * M,
        style="none",
        diff=patch("src/other.py", "something else"),
    )
    ev = story.collect(mr)
    assert found(ev) == []
    assert [s.reason for s in ev.suspected_picks] == [
        "same title as the MR but a different patch and no cherry-pick trailer"
    ]


def test_same_patch_under_another_title_is_not_matched(story: Story) -> None:
    """The documented rule (`Collector._same_patch`): a commit without a trailer is only
    compared when its title is the MR's, one of its commits' or git's merge title; the same
    patch under another title is not taken for the pick."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, style="none", title="Tweak timeouts")
    ev = story.collect(mr)
    assert found(ev) == [] and ev.suspected_picks == ()


def test_title_match_without_a_single_commit_to_compare_is_suspected(story: Story) -> None:
    """An MR fast-forwarded as several commits has neither merge nor squash commit: a
    release commit bearing the MR's title cannot be compared with one patch, so it stays
    suspected."""
    mr = story.hotfix("Fix charger session timeout", commits=2, method="rebase")
    assert mr.merge_commit_sha is None and mr.squash_commit_sha is None
    story.commit("release", mr.title, T0 + 30 * M)
    ev = story.collect(mr)
    assert found(ev) == []
    assert [s.reason for s in ev.suspected_picks] == [
        "same title; the MR has no single commit to compare patches with"
    ]


def test_unreadable_patch_leaves_a_title_match_suspected(story: Story) -> None:
    """When the diffs cannot be read the title match proves nothing: suspected (unknown),
    never a pick nor an absence."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, style="none")
    story.src.fail("commit_diff", reason=DENIED)
    ev = story.collect(mr)
    assert found(ev) == []
    assert [s.reason for s in ev.suspected_picks] == ["same title; the patches could not be read"]


# -- whose pick, which branch ---------------------------------------------------------------
def test_pick_of_another_mrs_commit_is_not_attributed(story: Story) -> None:
    """Runbook Procedure 3 "no unexpected extra commits": another hotfix picked onto the same
    `release` belongs to its own MR; this MR's evidence holds only its own pick."""
    mine = story.hotfix("Fix charger session timeout")
    other = story.hotfix("Fix meter rounding", T0 + 5 * M)
    story.pick(other.merge_commit_sha, T0 + 20 * M)
    mine_pick = story.pick(mine.merge_commit_sha, T0 + 30 * M)
    assert [p.commit for p in story.collect(mine).picks] == [mine_pick]
    assert found(story.collect(other)) == [("trailer", other.merge_commit_sha)]


def test_pick_onto_another_branch_is_ignored(story: Story) -> None:
    """Runbook Procedure 2 "target branch `release`": a UI pick into another branch (its
    system note names that branch, the commit lives only there) is no pick onto release."""
    mr = story.hotfix("Fix charger session timeout")
    story.branch_from("stable", "main")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, onto="stable", note_on=mr)
    ev = story.collect(mr)
    assert ev.picks == ()
    assert not story.src.asked("commit"), "the note's commit on another branch was fetched"


def test_pick_through_a_cherry_pick_merge_request(story: Story) -> None:
    """ "Start a new merge request" (NOTES §1): the pick lands on `cherry-pick-<short>`, the
    system note names that branch, and the hotfix reaches release when that MR merges."""
    mr = story.hotfix("Fix charger session timeout")
    branch = f"cherry-pick-{mr.merge_commit_sha[:8]}"
    story.branch_from(branch, "release")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M, onto=branch, note_on=mr)
    story.p.branches["release"].insert(0, pick)  # the pick MR fast-forwarded release
    pick_mr = story.opened(f"Cherry pick '{mr.title}' into 'release'", T0 + 35 * M)
    merged = replace(
        pick_mr,
        state="merged",
        merged_at=T0 + 50 * M,
        source_branch=branch,
        target_branch="release",
    )
    story.p.mrs[merged.iid] = merged
    ev = story.collect(mr)
    assert found(ev) == [("cherry_pick_mr", mr.merge_commit_sha)]
    assert ev.picks[0].via_mr.iid == merged.iid
    assert ev.picks[0].reached_release_at == T0 + 50 * M


def test_cherry_pick_mr_never_merged_is_no_pick(story: Story) -> None:
    """ "Start a new merge request" leaves the pick on `cherry-pick-<short>` until someone
    merges that MR: an MR into release still open carried nothing onto release."""
    mr = story.hotfix("Fix charger session timeout")
    branch = f"cherry-pick-{mr.merge_commit_sha[:8]}"
    story.branch_from(branch, "release")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, onto=branch, note_on=mr)
    pick_mr = story.opened(f"Cherry pick '{mr.title}' into 'release'", T0 + 35 * M)
    story.p.mrs[pick_mr.iid] = replace(pick_mr, source_branch=branch, target_branch="release")
    assert story.collect(mr).picks == ()


def test_pick_found_although_made_before_the_mr_was_opened(story: Story) -> None:
    """A change can be picked before anyone proposes it (the world
    `day_picked_before_mr_opened`): the collector reads release from before the MR's
    commits were made, so such a pick is found (and judged by SH01), not missed."""
    mr = story.hotfix("Fix charger session timeout")
    own = story.own(mr)[0]
    early = story.pick(own.id, own.committed_date + 5 * M, style="x")
    assert early.committed_date < mr.created_at
    assert [p.commit for p in story.collect(mr).picks] == [early]


# -- attempts: reverts and second picks -----------------------------------------------------
def test_second_pick_after_a_revert_is_a_second_attempt(story: Story) -> None:
    """Runbook Rollback "revert the cherry-pick from `release` … rerun … revalidate", then
    picked again: two picks, one revert, two attempts, the second the one judged."""
    mr = story.hotfix("Fix charger session timeout")
    first = story.pick(mr.merge_commit_sha, T0 + 30 * M, note_on=mr)
    story.deploy(T0 + 40 * M)
    revert = story.revert(first, T0 + 3 * H)
    story.deploy(T0 + 3 * H + 10 * M)
    second = story.pick(mr.merge_commit_sha, T0 + 5 * H, note_on=mr)
    story.deploy(T0 + 5 * H + 10 * M)
    ev = story.collect(mr)
    assert [p.commit for p in ev.picks] == [first, second]
    assert [(r.commit, r.reverted_sha) for r in ev.reverts] == [(revert, first.id)]
    life = lifecycle(ev)
    assert [a.picks[0].commit for a in life.attempts] == [first, second]
    assert life.last.revert is None and life.attempts[0].revert.commit == revert


def test_revert_of_the_revert_puts_the_change_back(story: Story) -> None:
    """`Revert "Revert …"` restores what the revert took away: a pick of its own
    (`reapplied`), starting a new attempt."""
    mr = story.hotfix("Fix charger session timeout")
    first = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    revert = story.revert(first, T0 + 2 * H)
    again = story.revert(revert, T0 + 4 * H)
    ev = story.collect(mr)
    # it restores the pick's change: it names what the pick named
    assert found(ev) == [("trailer", mr.merge_commit_sha), ("reapplied", mr.merge_commit_sha)]
    assert ev.picks[1].commit == again
    assert len(lifecycle(ev).attempts) == 2


def test_revert_of_the_mrs_merge_commit_on_release_is_a_revert(story: Story) -> None:
    """A revert may name the MR's merge commit rather than the pick (the world
    `eve_stopped_by_merge_commit_revert`): "This reverts commit <merge sha>" on release
    undoes the hotfix all the same."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    revert = story.revert(story.p.commits[mr.merge_commit_sha], T0 + 2 * H)
    ev = story.collect(mr)
    assert [(r.commit, r.reverted_sha) for r in ev.reverts] == [(revert, mr.merge_commit_sha)]


def test_revert_by_hand_found_by_its_inverse_patch(story: Story) -> None:
    """A revert whose message lost git's "This reverts commit" line is still a revert when
    its patch is the pick's, inverted."""
    mr = story.hotfix("Fix charger session timeout")
    first = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    revert = story.revert(first, T0 + 2 * H, cite=False)
    ev = story.collect(mr)
    assert [(r.commit, r.reverted_sha) for r in ev.reverts] == [(revert, None)]


def test_revert_by_hand_with_unreadable_patch_leaves_reverts_unknown(story: Story) -> None:
    """A `Revert "…"` commit whose patch cannot be read may undo the hotfix: the reverts are
    Unavailable, never "none" (missing it would judge a taken-back hotfix as live)."""
    mr = story.hotfix("Fix charger session timeout")
    first = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    revert = story.revert(first, T0 + 2 * H, cite=False)
    story.src.fail("commit_diff", PROJECT, revert.id)
    ev = story.collect(mr)
    assert isinstance(ev.reverts, Unavailable)
    assert ev.reverts.what == f"whether {revert.short_id} reverts the hotfix"


# -- unreadable answers are Unavailable, never a pass-looking value --------------------------
def test_release_and_deployments_unreadable_make_the_picks_unavailable(story: Story) -> None:
    """Neither the branch nor the deployments readable: the picks are unknown, not
    "nothing picked" (which would fail SH03 as if the hotfix never reached release)."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.src.fail("branch_commits")
    story.src.fail("deployments")
    ev = story.collect(mr)
    assert ev.picks == Unavailable(
        f"commits of {PROJECT}:release", "neither the branch nor deployments readable"
    )


def test_release_unreadable_pick_found_in_what_a_deployment_added(story: Story) -> None:
    """`release` is rebuilt by cut-offs and may be unreadable; the compare of a staging
    deployment with the one before still shows the pick. What release holds beyond the
    deployments (a revert) is then unknown."""
    mr = story.hotfix("Fix charger session timeout")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M)
    story.src.fail("branch_commits", reason=DENIED)
    ev = story.collect(mr)
    assert [p.commit for p in ev.picks] == [pick]
    assert isinstance(ev.reverts, Unavailable) and ev.reverts.reason == DENIED


def test_release_and_the_compare_unreadable_make_the_picks_unavailable(story: Story) -> None:
    """The branch unreadable and the only deployment's compare unreadable: nothing says
    what reached release, so the picks are Unavailable (not an empty tuple)."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M)
    story.src.fail("branch_commits")
    story.src.fail("compare")
    ev = story.collect(mr)
    assert isinstance(ev.picks, Unavailable)


def test_unreadable_commit_named_by_a_pick_note_makes_the_picks_unavailable(
    story: Story,
) -> None:
    """A pick GitLab recorded (system note) but whose commit cannot be read may be the
    latest attempt: judging the other picks alone could pass a hotfix picked again."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)  # found by its trailer
    later = story.pick(mr.merge_commit_sha, T0 + 5 * H, note_on=mr)
    story.p.branches["release"].remove(later)  # rebuilt since: only the note remembers it
    story.src.fail("commit", PROJECT, later.id, reason=DENIED)
    ev = story.collect(mr)
    assert ev.picks == Unavailable(f"commit {later.id[:8]} of {PROJECT}", DENIED)


def test_unreadable_cherry_pick_mr_list_makes_the_picks_unavailable(story: Story) -> None:
    """The note names a `cherry-pick-…` branch whose MRs cannot be listed: when (and
    whether) that pick reached release is unknown."""
    mr = story.hotfix("Fix charger session timeout")
    branch = f"cherry-pick-{mr.merge_commit_sha[:8]}"
    story.branch_from(branch, "release")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, onto=branch, note_on=mr)
    story.src.fail("merge_requests", PROJECT)
    ev = story.collect(mr)
    assert ev.picks == Unavailable(
        f"merge requests of {PROJECT}", "HTTP 500 after retries: Internal Server Error"
    )


def test_unreadable_mr_commits_do_not_hide_a_pick_of_one_of_them(story: Story) -> None:
    """Found by this suite: with the MR's commits unreadable, a `-x` pick of the MR's own
    commit (not its merge commit) was not recognised and the picks read "none": SH03
    failed "no commit on release carries this MR's change" on a fact that was only
    unknown. GitLab's `commits/:sha/merge_requests` names the MR the commit belongs to."""
    mr = story.hotfix("Fix charger session timeout")
    own = story.own(mr)[0]
    story.pick(own.id, T0 + 30 * M, style="x")
    story.src.fail("mr_commits", reason=DENIED)
    ev = story.collect(mr)
    assert found(ev) == [("trailer", own.id)]
    # whether that is the whole change rests on the commits that could not be read
    assert lifecycle(ev).last.coverage.whole is None


def test_unreadable_mr_commits_do_not_hide_a_second_attempt(story: Story) -> None:
    """The false pass behind the same gap: attempt 1 (the merge commit) reverted, attempt 2
    picked commit by commit with `-x`; without the MR's commits attempt 2 was missed and
    the promotion judged as rolled back."""
    mr = story.hotfix("Fix charger session timeout")
    first = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.revert(first, T0 + 2 * H)
    again = story.pick(story.own(mr)[0].id, T0 + 4 * H, style="x")
    story.src.fail("mr_commits")
    ev = story.collect(mr)
    assert [p.commit for p in ev.picks] == [first, again]
    assert len(lifecycle(ev).attempts) == 2


def test_unreadable_mr_commits_and_owner_lookup_make_the_picks_unavailable(
    story: Story,
) -> None:
    """Neither the MR's commits nor the owner of the commit a release trailer names can be
    read: whether that commit is this hotfix's pick is unknown, so the picks are too."""
    mr = story.hotfix("Fix charger session timeout")
    own = story.own(mr)[0]
    story.pick(own.id, T0 + 30 * M, style="x")
    story.src.fail("mr_commits")
    story.src.fail("commit_merge_requests", reason=DENIED)
    ev = story.collect(mr)
    assert ev.picks == Unavailable(f"MRs of commit {own.id[:8]}", DENIED)


def test_unreadable_mr_commits_another_mrs_pick_stays_its_own(story: Story) -> None:
    """With this MR's commits unreadable, another hotfix's pick (its trailer names a commit
    GitLab says belongs to the other MR) is still not attributed to this one; and since a
    trailer-less pick of one of this MR's commits cannot be ruled out, "not picked" is
    unknown rather than a fail."""
    mine = story.hotfix("Fix charger session timeout")
    other = story.hotfix("Fix meter rounding", T0 + 5 * M)
    story.pick(story.own(other)[0].id, T0 + 20 * M, style="x")
    story.src.fail("mr_commits", PROJECT, mine.iid)
    ev = story.collect(mine)
    assert isinstance(ev.picks, Unavailable)
    assert ev.picks.what == f"commits of {PROJECT}!{mine.iid}"
    assert story.src.asked("commit_merge_requests") == [(PROJECT, story.own(other)[0].id)]


def test_deployment_ancestry_unknown_when_compare_and_merge_base_fail(story: Story) -> None:
    """Whether the pick is in a deployment comes from the compare with the deployment
    before, else GitLab's merge base; with both unreadable it is Unavailable, never False
    or True."""
    mr = story.hotfix("Fix charger session timeout")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.commit("release", "Bump version", T0 + 35 * M)  # deployed: the tip, not the pick
    deployed = story.deploy(T0 + 40 * M)
    story.src.fail("compare")
    story.src.fail("is_ancestor", ANY, ANY, deployed.sha)
    ev = story.collect(mr)
    assert isinstance(ev.ancestry[(pick.id, deployed.sha)], Unavailable)


# -- what collect reads ---------------------------------------------------------------------
def test_nothing_on_release_reads_no_ci(story: Story) -> None:
    """An MR never picked: the evidence says so (an empty tuple, GitLab answered) and the
    collector stops before deployments' jobs and orchestration pipelines."""
    mr = story.hotfix("Fix charger session timeout")
    story.deploy(T0 + 40 * M)
    ev = story.collect(mr)
    assert ev.picks == () and ev.reverts == ()
    assert not story.src.asked("pipelines") and not story.src.asked("pipeline_jobs")


def test_a_pick_older_than_the_cut_off_is_not_on_release(story: Story) -> None:
    """ "`cut-off` rebuilds `release` from the default branch": a pick made before the
    cut-off is gone from release; with no deployment of it, nothing shows it reached
    release after the MR (it is not found)."""
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.cut_off(T0 + 2 * D)
    assert story.collect(mr).picks == ()


# -- the double is the real source's twin ---------------------------------------------------
CONSISTENCY_WORLDS = ["by_the_book", "day_rollback_then_second_pick", "cherry_pick_mr"]


@pytest.fixture(scope="module")
def twins(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, list[tuple[Settings, Service, MergeRequest, PromotionEvidence, SourceDouble]]]:
    """For each world: every target's evidence as the collector gathers it over the real
    source (HTTP, simulator), beside a double loaded from a survey of the whole world."""
    out = {}
    for name in CONSISTENCY_WORLDS:
        with world_and_double(name, tmp_path_factory.mktemp(name)) as (
            served,
            settings,
            real,
            double,
        ):
            runs = []
            for target in served.module.TARGETS:
                path, iid = target.split("!")
                mr = real.merge_request(path, int(iid))
                for service in settings.services_for_project(path):
                    ev = Collector(real, settings).collect(service, mr)
                    runs.append((settings, service, mr, ev, double))
        out[name] = runs
    return out


@pytest.mark.parametrize("name", CONSISTENCY_WORLDS)
def test_double_matches_real_source(name: str, twins: dict) -> None:
    """The double loaded with the whole world (not with the collector's own questions)
    gives the collector the same `PromotionEvidence` (picks, reverts, deployments,
    ancestry, checks, orchestration runs, scope) as the real source over HTTP: its filters,
    compares, ancestry, merge bases and MR lookups answer as GitLab (as simulated) does."""
    assert twins[name]
    for settings, service, mr, real_ev, double in twins[name]:
        ev = Collector(double, settings).collect(service, double.merge_request(mr.project, mr.iid))
        assert ev == real_ev
        assert isinstance(ev.picks, tuple) and ev.picks


def test_a_surveyed_world_edited(twins: dict) -> None:
    """A surveyed world can be edited: on the rollback day with `release` and every compare
    unreadable, GitLab's system notes (the record that survives a rebuilt branch) still
    prove both picks, and what release holds beyond them (the revert) is unknown, not
    "none"."""
    settings, service, mr, real_ev, double = twins["day_rollback_then_second_pick"][0]
    edited = copy.deepcopy(double)
    edited.fail("branch_commits")
    edited.fail("compare")
    ev = Collector(edited, settings).collect(service, edited.merge_request(mr.project, mr.iid))
    assert [p.commit.id for p in ev.picks] == [p.commit.id for p in real_ev.picks]
    assert {p.method for p in ev.picks} == {"system_note"} and len(ev.picks) == 2
    assert isinstance(ev.reverts, Unavailable)
