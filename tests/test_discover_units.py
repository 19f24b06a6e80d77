"""Unit tests of discovery (`Discoverer._service` and what it calls) over the in-memory
GitLab source double (`tests/source_double.py`).

Discovery turns a time window into promotions: each staging deployment in the window is
compared with the successful one before it, and each commit it added is classified (pick,
revert, merge, cut-off context, drift); picks on `release` no deployment carried are
promotions too. Each test tells one such story in a few lines and holds what the real
`Discoverer` made of it; docstrings name the runbook sentence or GitLab behaviour pinned.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import affected_services
from auditor.config import Policy, Service
from auditor.discover import Discoverer, Discovery, Window
from auditor.simulator.flows import T0 as FLOW_T0
from tests.source_double import DENIED, PROJECT, T0, D, H, M, Story, world_and_double

START, END = T0 - H, T0 + 2 * D  # the window every test sweeps


def promotions(found: Discovery) -> list[tuple[str, int, str]]:
    return [(p.service, p.iid, p.how) for p in found.promotions]


def test_a_deployed_trailer_pick_is_a_promotion() -> None:
    """Runbook Evidence 1 and 4: the pick (GitLab's trailer naming the merge commit) reached
    staging in a deployment of the window; it is that MR's promotion, dated when the
    deployment finished, and nothing is drift."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    deployed = story.deploy(T0 + 40 * M)
    found = story.discover(START, END)
    assert promotions(found) == [("vemo-core", mr.iid, "trailer")]
    assert found.promotions[0].first_deployed_at == deployed.finished_at
    assert found.drift == [] and found.gaps == []
    assert found.staging_seen == {"vemo-core": deployed.id}


def test_monorepo_finds_a_promotion_per_service_then_paths_choose() -> None:
    """Runbook "More than one service needs the hotfix: repeat the release job and
    validation for each affected service": one repository, two services with their own
    staging environments; the pick reached both, so discovery finds one promotion per
    service, and the services' `paths` then keep only the one the MR touches."""
    core = Service(
        "vemo-core",
        PROJECT,
        Policy(staging_environment="staging/vemo-core"),
        ("services/vemo-core/**",),
    )
    worker = Service(
        "vemo-worker",
        PROJECT,
        Policy(staging_environment="staging/vemo-worker"),
        ("services/vemo-worker/**",),
    )
    story = Story(services=(core, worker))
    mr = story.hotfix("Fix charger session timeout", files=["services/vemo-core/charger.py"])
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M, environment="staging/vemo-core")
    story.deploy(T0 + 45 * M, environment="staging/vemo-worker")
    found = story.discover(START, END)
    assert promotions(found) == [
        ("vemo-core", mr.iid, "trailer"),
        ("vemo-worker", mr.iid, "trailer"),
    ]
    audited, skipped = affected_services(
        story.src,  # type: ignore[arg-type]
        story.settings,
        mr,
        ["vemo-core", "vemo-worker"],
    )
    assert (audited, skipped) == (["vemo-core"], ["vemo-worker"])


def test_monorepo_service_not_released_is_still_audited() -> None:
    """The same repository, the release job run for one service only (the world
    `two_services_one_released`): that service's deployment carried the pick; for the other
    the pick is on `release` and no deployment of it carried it, so it is audited as
    picked and never released, not forgotten."""
    core = Service("vemo-core", PROJECT, Policy(staging_environment="staging/vemo-core"))
    worker = Service("vemo-worker", PROJECT, Policy(staging_environment="staging/vemo-worker"))
    story = Story(services=(core, worker))
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M, environment="staging/vemo-core")
    found = story.discover(START, END)
    assert promotions(found) == [
        ("vemo-core", mr.iid, "trailer"),
        ("vemo-worker", mr.iid, "release"),
    ]


def test_a_deployment_before_the_window_is_not_discovered() -> None:
    """A promotion belongs to the window its deployment was created in: a pick deployed
    before the window is not one of this window's promotions, even though the MR and its
    pick are recent."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M)
    found = story.discover(T0 + 2 * H, END)
    assert promotions(found) == [] and found.drift == [] and found.gaps == []


def test_a_pick_on_release_never_deployed_is_a_release_promotion() -> None:
    """A pick onto `release` in the window that no staging deployment carried is audited
    too (`how="release"`, dated when it was picked): picked and never released is a
    finding, not silence."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    found = story.discover(START, END)
    assert promotions(found) == [("vemo-core", mr.iid, "release")]
    assert found.promotions[0].first_deployed_at == pick.committed_date


def test_a_pick_on_release_before_the_window_is_ignored() -> None:
    """A pick made (and not deployed) before the window is not this window's promotion."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    assert promotions(story.discover(T0 + 2 * H, END)) == []


def test_a_title_match_counts_only_for_mrs_merged_within_the_lookback() -> None:
    """A commit without trailer bearing a merged MR's title is a candidate promotion
    (`how="title"`, confirmed later by patch) only for MRs merged within `MR_LOOKBACK` of
    the window; the same title of an MR merged long before is drift."""
    story = Story()
    recent = story.hotfix("Fix charger session timeout")
    story.pick(recent.merge_commit_sha, T0 + 30 * M, style="none")
    old = story.hotfix("Fix meter rounding", T0 - 60 * D)
    story.commit("release", old.title, T0 + 35 * M)
    story.deploy(T0 + 40 * M)
    found = story.discover(START, END)
    assert promotions(found) == [("vemo-core", recent.iid, "title")]
    assert [d.title for d in found.drift] == [old.title]


def test_reverts_merges_and_unexplained_commits_are_told_apart() -> None:
    """Runbook Procedure 3 "no unexpected extra commits": in one deployment a pick, a revert
    (git's "This reverts commit"), a merge commit (carries nothing of its own) and a commit
    no merged MR explains: only the last is drift."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    pick = story.pick(mr.merge_commit_sha, T0 + 30 * M)
    revert = story.revert(pick, T0 + 32 * M)
    head = story.p.branches["release"][0].id
    side = story.commit("side", "Side work", T0 + 33 * M, parents=(head,))
    story.commit("release", "Merge branch 'side'", T0 + 34 * M, parents=(head, side.id))
    extra = story.commit("release", "Tune logging", T0 + 35 * M)
    story.deploy(T0 + 40 * M)
    found = story.discover(START, END)
    assert promotions(found) == [("vemo-core", mr.iid, "trailer")]
    assert [(r.sha, r.reverts) for r in found.reverts] == [(revert.id, pick.id)]
    assert [d.sha for d in found.drift] == [side.id, extra.id]


def test_commits_a_cut_off_brought_are_context_not_drift() -> None:
    """Runbook "`cut-off` … rebuilds `release` from the default branch": a deployment after
    a cut-off played in the window adds main's commits, which are cut-off context, not
    drift and not promotions."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.commit("main", "Weekly work", T0 + 2 * H)
    story.cut_off_job(T0 + 3 * H)
    story.deploy(T0 + 3 * H + 10 * M)
    found = story.discover(START, END)
    assert promotions(found) == [] and found.drift == []
    assert found.cut_off_commits == {"vemo-core": 3}  # the MR's commit, its merge, the work
    assert [c.at for c in found.cut_offs] == [T0 + 3 * H]
    assert mr.merge_commit_sha in {c.id for c in story.p.branches["release"]}


def test_a_deployment_that_added_nothing_is_idle() -> None:
    """A staging deployment that redeployed what staging already ran carried no promotion:
    it is listed as idle (a release job run without a hotfix)."""
    story = Story()
    idle = story.deploy(T0 + 40 * M)
    found = story.discover(START, END)
    assert found.idle_deployments == [("vemo-core", idle.id)]


# -- unreadable answers are gaps, never drift and never silence ------------------------------
def test_unreadable_compare_is_a_gap_not_drift_nor_idle() -> None:
    """What a deployment added cannot be read: the deployment is a gap of its service; none
    of its commits is drift, and it is not called idle."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    deployed = story.deploy(T0 + 40 * M)
    story.src.fail("compare", reason=DENIED)
    found = story.discover(START, END)
    assert found.drift == [] and found.idle_deployments == []
    assert [(g.service, g.reason) for g in found.gaps] == [("vemo-core", DENIED)]
    assert f"what deployment {deployed.iid} to staging" in found.gaps[0].what


def test_unreadable_deployments_still_find_the_picks_on_release() -> None:
    """The deployments cannot be listed: a gap, and every pick on release in the window is
    still found (`how="release"`), so none is lost with them."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M)
    story.deploy(T0 + 40 * M)
    story.src.fail("deployments")
    found = story.discover(START, END)
    assert promotions(found) == [("vemo-core", mr.iid, "release")]
    assert [g.what for g in found.gaps] == [f"deployments to staging of {PROJECT}"]


def test_unreadable_owner_of_a_trailer_is_unresolved_not_drift() -> None:
    """A pick's trailer names a commit whose merge request cannot be looked up (and no
    merged MR bears its title): neither a promotion nor drift, a gap naming the commit."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout", commits=2)
    part = story.own(mr)[0]
    pick = story.pick(part.id, T0 + 30 * M, style="x")
    story.deploy(T0 + 40 * M)
    story.src.fail("commit_merge_requests", reason=DENIED)
    found = story.discover(START, END)
    assert promotions(found) == [] and found.drift == []
    assert [g.reason for g in found.gaps] == [f"MRs of commit {part.id[:8]}: {DENIED}"]
    assert pick.id[:8] in found.gaps[0].what
    assert found.idle_deployments == []  # it carried something, unknown what


def test_unreadable_merged_mr_list_leaves_a_trailerless_commit_unresolved() -> None:
    """Without the list of recently merged MRs a commit without trailer cannot be told
    from a pick by title: unresolved (a gap), never drift."""
    story = Story()
    mr = story.hotfix("Fix charger session timeout")
    story.pick(mr.merge_commit_sha, T0 + 30 * M, style="none")
    story.deploy(T0 + 40 * M)
    story.src.fail("merge_requests")
    found = story.discover(START, END)
    assert promotions(found) == [] and found.drift == []
    assert [g.reason for g in found.gaps] == [
        f"merge requests of {PROJECT}: HTTP 500 after retries: Internal Server Error"
    ]


def test_unreadable_cut_off_pipelines_keep_main_commits_out_of_drift() -> None:
    """The orchestration pipelines cannot be read, so a cut-off may have gone unseen: the
    deployment's commits from the default branch are told apart by the merge base and
    are cut-off context, never drift."""
    story = Story()
    story.hotfix("Fix charger session timeout")
    story.cut_off_job(T0 + 3 * H)
    story.deploy(T0 + 3 * H + 10 * M)
    story.src.fail("pipelines")
    found = story.discover(START, END)
    assert found.drift == [] and promotions(found) == []
    assert found.cut_off_commits == {"vemo-core": 2}  # the MR's commit and its merge
    assert [g.what for g in found.gaps] == ["pipelines of evenergi/develop"]


# -- the double is the real source's twin ---------------------------------------------------
@pytest.mark.parametrize("name", ["two_services_one_released", "week"])
def test_double_matches_real_source(name: str, tmp_path: Path) -> None:
    """Discovery over the double loaded with the whole world finds the same promotions,
    reverts, cut-offs, drift, idle deployments and gaps as over the real source (HTTP,
    simulator): the week world has drift, cut-offs and thirteen promotions in five
    services."""
    with world_and_double(name, tmp_path) as (served, settings, real, double):
        window = Window(FLOW_T0 - D, served.world.now)
        services = list(settings.services.values())
        expected = Discoverer(real, settings, window, window.start - 7 * D).discover(services)
    found = Discoverer(double, settings, window, window.start - 7 * D).discover(services)  # type: ignore[arg-type]
    assert expected.promotions
    assert found == expected
