"""The simulated GitLab, driven over real HTTP by the real python-gitlab client: shapes,
filters, pagination, GitLab's error rules, and the faults the auditor must survive."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import gitlab
import pytest
import requests

from auditor.simulator.faults import WINDOW_SECONDS, Faults
from auditor.simulator.server import SimulatorServer, paginate, parse_trailers
from auditor.simulator.world import SimDeployment, SimJob, SimMR, SimPipeline, World, utc

T0 = utc("2026-11-01T09:00")
API_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
USER_KEYS = {"id", "username", "name", "state", "avatar_url", "web_url"}
RATE_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Observed",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Name",
)


@dataclass
class Scene:
    world: World
    server: SimulatorServer
    gl: gitlab.Gitlab
    fix: SimMR  # merged with a merge commit, 45 comments, cherry-picked to release via the UI
    squashed: SimMR  # squash-merged
    draft: SimMR  # still open
    pick: str
    release_pipeline: SimPipeline
    build_failed: SimJob
    build_retry: SimJob
    bridge: SimJob
    downstream: SimPipeline
    first_deploy: SimDeployment
    second_deploy: SimDeployment

    @property
    def project(self) -> Any:
        return self.gl.projects.get("evenergi/vemo-core", lazy=True)

    def raw(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.world.url}/api/v4{path}",
            params=params,
            headers={"PRIVATE-TOKEN": self.world.token},
            timeout=10,
        )


def _build() -> Scene:
    w = World(utc("2026-11-16T09:00"))
    alice, bob, carol = w.user("alice"), w.user("bob"), w.user("carol")
    p = w.project("evenergi/vemo-core")
    p.commit("main", "Initial import", {"README.md": "vemo\n"}, alice, T0)
    p.branch("release", "main")

    # First deployment of release, before any hotfix.
    pl0 = p.pipeline("release", bob, T0 + timedelta(hours=1), source="push")
    first = w.deploy(pl0.job("deploy-staging", "deploy", environment="staging"))

    fix = p.merge_request(
        "Fix charging bug", {"src/charge.py": "rate = 2\n"}, alice, T0 + timedelta(days=1)
    )
    for i in range(45):
        fix.note(f"comment {i}", carol, T0 + timedelta(days=1, minutes=i + 1))
    fix.label("hotfix", alice, T0 + timedelta(days=1, hours=1))
    fix.label("needs-staging", alice, T0 + timedelta(days=1, hours=2))
    fix.label("needs-staging", bob, T0 + timedelta(days=1, hours=3), action="remove")
    fix.approve(bob, T0 + timedelta(days=1, hours=4))
    p.merge(fix, bob, T0 + timedelta(days=2))

    squashed = p.merge_request(
        "Tune retries",
        [{"src/retry.py": "n = 3\n"}, {"src/retry.py": "n = 4\n"}],
        carol,
        T0 + timedelta(days=2, hours=2),
        approvals_required=2,
    )
    squashed.approve(alice, T0 + timedelta(days=2, hours=3))
    p.merge(squashed, alice, T0 + timedelta(days=2, hours=4), method="squash")
    # world.py derives branch names from titles and would keep the colon
    draft = p.merge_request(
        "Draft: new tariff",
        {"src/tariff.py": "t = 1\n"},
        carol,
        T0 + timedelta(days=2, hours=6),
        source_branch="feature/tariff",
    )

    pick = p.cherry_pick(fix, bob, T0 + timedelta(days=3), style="ui", onto="release")

    e2e = w.project("evenergi/e2e")
    e2e.commit("main", "Suite", {"suite.txt": "ok\n"}, carol, T0)
    pl = p.pipeline("release", bob, T0 + timedelta(days=3, hours=1), source="push")
    build_failed = pl.job("build", "build", status="failed", at=pl.created_at)
    build_retry = w.retry(build_failed, "success", T0 + timedelta(days=3, hours=1, minutes=10))
    downstream = e2e.pipeline("main", bob, T0 + timedelta(days=3, hours=2), source="pipeline")
    downstream.job("e2e", "test")
    bridge = pl.job("trigger-e2e", "test", bridge=True, at=T0 + timedelta(days=3, hours=2))
    bridge.downstream = downstream
    deploy = pl.job(
        "deploy-staging", "deploy", environment="staging", at=T0 + timedelta(days=3, hours=3)
    )
    second = w.deploy(deploy)

    server = SimulatorServer(w)
    server.start()
    gl = gitlab.Gitlab(w.url, private_token=w.token)
    return Scene(
        w,
        server,
        gl,
        fix,
        squashed,
        draft,
        pick,
        pl,
        build_failed,
        build_retry,
        bridge,
        downstream,
        first,
        second,
    )


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    s = _build()
    try:
        yield s
    finally:
        s.server.stop()


@pytest.fixture(autouse=True)
def _no_simulator_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "scene" in request.fixturenames:
        errors = request.getfixturevalue("scene").server.errors
        assert not errors, errors[0]


def _tiny(faults: Faults | None = None) -> tuple[World, SimulatorServer]:
    """A one-commit world with its own server, for tests that break things."""
    w = World(utc("2026-11-16T09:00"))
    w.project("acme/tiny").commit("main", "Only", {"a": "a\n"}, w.user("dana"), T0)
    server = SimulatorServer(w, faults=faults)
    server.start()
    return w, server


# -- identity and auth ----------------------------------------------------------------------
def test_version_user_and_token(scene: Scene) -> None:
    scene.gl.auth()
    assert scene.gl.user is not None and scene.gl.user.username == "alice"
    assert scene.gl.version() == ("18.6.0-ee", "sim")
    token = scene.gl.http_get("/personal_access_tokens/self")
    assert isinstance(token, dict)
    assert token["scopes"] == ["read_api"] and token["active"] and not token["revoked"]


def test_bad_token_is_401_and_bearer_works(scene: Scene) -> None:
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gitlab.Gitlab(scene.world.url, private_token="glpat-wrong").auth()
    resp = requests.get(f"{scene.world.url}/api/v4/user", timeout=5)
    assert resp.status_code == 401 and resp.json() == {"message": "401 Unauthorized"}
    oauth = gitlab.Gitlab(scene.world.url, oauth_token=scene.world.token)
    oauth.auth()
    assert oauth.user is not None and oauth.user.username == "alice"


def test_project_by_path_and_id(scene: Scene) -> None:
    by_path = scene.gl.projects.get("evenergi/vemo-core")
    by_id = scene.gl.projects.get(by_path.id)
    assert by_path.attributes == by_id.attributes
    assert by_path.path_with_namespace == "evenergi/vemo-core"
    assert by_path.default_branch == "main"
    assert by_path.web_url == f"{scene.world.url}/evenergi/vemo-core"
    assert by_path.namespace["full_path"] == "evenergi"
    assert API_TS.match(by_path.created_at)
    assert scene.server.requests[-2].path == "/api/v4/projects/evenergi%2Fvemo-core"


# -- pagination -----------------------------------------------------------------------------
def _notes_requests(scene: Scene) -> list[Any]:
    return [r for r in scene.server.requests if r.path.endswith("/notes")]


def test_iterator_follows_link_next_across_pages(scene: Scene) -> None:
    scene.server.reset_counts()
    mr = scene.project.mergerequests.get(scene.fix.iid, lazy=True)
    listing = mr.notes.list(sort="asc", order_by="created_at", per_page=20, iterator=True)
    notes = list(listing)
    # 45 comments plus the cherry-pick system note
    assert len(notes) == 46 and listing.total == 46 and listing.total_pages == 3
    assert [n.body for n in notes[:2]] == ["comment 0", "comment 1"]
    assert notes[-1].system and notes[-1].body.startswith("picked the changes into the branch")
    sent = _notes_requests(scene)
    assert [r.query.get("page", ["1"])[0] for r in sent] == ["1", "2", "3"]
    # the Link URLs keep the caller's other parameters
    assert all(r.query["sort"] == ["asc"] for r in sent)


def test_get_all_and_default_order(scene: Scene) -> None:
    mr = scene.project.mergerequests.get(scene.fix.iid, lazy=True)
    notes = mr.notes.list(get_all=True)
    assert len(notes) == 46
    assert notes[0].system  # default sort is desc: newest first


def test_pagination_headers(scene: Scene) -> None:
    pid = scene.world.projects["evenergi/vemo-core"].id
    resp = scene.raw(f"/projects/{pid}/merge_requests/1/notes", sort="asc", page=3)
    h = resp.headers
    assert resp.status_code == 200 and len(resp.json()) == 6
    pages = (h["X-Page"], h["X-Per-Page"], h["X-Next-Page"], h["X-Prev-Page"])
    assert pages == ("3", "20", "", "2")
    assert (h["X-Total"], h["X-Total-Pages"]) == ("46", "3")
    assert set(resp.links) == {"prev", "first", "last"}
    assert "sort=asc" in resp.links["prev"]["url"] and "page=2" in resp.links["prev"]["url"]
    big = scene.raw(f"/projects/{pid}/merge_requests/1/notes", per_page=500)
    assert big.headers["X-Per-Page"] == "100" and len(big.json()) == 46


def test_pager_drops_totals_over_ten_thousand() -> None:
    base = "http://sim/api/v4/projects/1/jobs"
    rows, h = paginate(
        range(10_001), [("scope[]", "failed"), ("page", "2"), ("per_page", "100")], base
    )
    assert rows == list(range(100, 200))
    assert "X-Total" not in h and "X-Total-Pages" not in h
    assert 'rel="last"' not in h["Link"] and 'rel="next"' in h["Link"]
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    assert "scope%5B%5D=failed" in h["Link"]
    _, exact = paginate(range(10_000), [], base)
    assert exact["X-Total"] == "10000" and 'rel="last"' in exact["Link"]
    _, end = paginate(range(10_001), [("page", "101"), ("per_page", "100")], base)
    assert end["X-Next-Page"] == "" and 'rel="next"' not in end["Link"]


def test_commits_list_never_counts(scene: Scene) -> None:
    pid = scene.world.projects["evenergi/vemo-core"].id
    resp = scene.raw(f"/projects/{pid}/repository/commits", ref_name="main", per_page=2)
    assert resp.status_code == 200 and len(resp.json()) == 2
    assert "X-Total" not in resp.headers and "X-Total-Pages" not in resp.headers
    assert "next" in resp.links and "last" not in resp.links
    listing = scene.project.commits.list(ref_name="main", per_page=2, iterator=True)
    titles = [c.title for c in listing]
    assert listing.total is None
    assert titles[-1] == "Initial import" and titles[0].startswith("Merge branch")
    on_release = scene.project.commits.list(ref_name="release", get_all=True)
    assert [c.id for c in on_release][0] == scene.pick
    since = scene.project.commits.list(
        ref_name="release", since="2026-11-03T00:00:00Z", get_all=True
    )
    assert [c.id for c in since] == [scene.pick]
    assert scene.project.commits.list(ref_name="no-such-branch", get_all=True) == []


# -- merge requests -------------------------------------------------------------------------
def test_merge_request_shape(scene: Scene) -> None:
    mr = scene.project.mergerequests.get(scene.fix.iid).attributes
    assert mr["state"] == "merged" and mr["labels"] == ["hotfix"]
    assert mr["merge_commit_sha"] == scene.fix.merge_commit_sha and mr["squash_commit_sha"] is None
    assert mr["merge_user"]["username"] == "bob" == mr["merged_by"]["username"]
    assert set(mr["author"]) >= USER_KEYS and mr["author"]["state"] == "active"
    for key in ("created_at", "updated_at", "merged_at"):
        assert API_TS.match(mr[key]), mr[key]
    assert mr["closed_at"] is None and mr["draft"] is False
    assert mr["references"]["full"] == "evenergi/vemo-core!1"
    assert mr["diff_refs"] == {
        "base_sha": scene.fix.base_sha,
        "head_sha": scene.fix.sha,
        "start_sha": scene.fix.base_sha,
    }
    assert mr["web_url"].endswith("/evenergi/vemo-core/-/merge_requests/1")
    assert mr["detailed_merge_status"] == "not_open"
    squashed = scene.project.mergerequests.get(scene.squashed.iid)
    assert squashed.squash and squashed.squash_commit_sha == scene.squashed.squash_commit_sha
    draft = scene.project.mergerequests.get(scene.draft.iid)
    assert draft.draft and draft.state == "opened" and draft.merged_at is None


def test_merge_request_list_filters(scene: Scene) -> None:
    mrs = scene.project.mergerequests
    assert [m.iid for m in mrs.list(get_all=True)] == [3, 2, 1]  # created_at desc
    assert [m.iid for m in mrs.list(state="merged", sort="asc", get_all=True)] == [1, 2]
    assert [m.iid for m in mrs.list(state="opened", get_all=True)] == [3]
    assert [m.iid for m in mrs.list(source_branch=scene.fix.source_branch, get_all=True)] == [1]
    assert mrs.list(target_branch="release", get_all=True) == []
    after = mrs.list(updated_after="2026-11-04T00:00:00Z", get_all=True)
    assert [m.iid for m in after] == [1]  # the pick's system note touched it
    as_datetime = mrs.list(updated_after=utc("2026-11-04T00:00"), get_all=True)
    assert [m.iid for m in as_datetime] == [1]
    unencoded_plus = scene.raw(
        f"/projects/{scene.fix.project.id}/merge_requests",
        updated_after="2026-11-04T00:00:00 00:00",
    )
    assert [m["iid"] for m in unencoded_plus.json()] == [1]
    with pytest.raises(gitlab.exceptions.GitlabListError):
        mrs.list(updated_after="yesterday", get_all=True)
    before = mrs.list(updated_before="2026-11-02T12:00:00Z", get_all=True)
    assert before == []
    by_update = mrs.list(order_by="updated_at", sort="desc", get_all=True)
    assert by_update[0].iid == 1
    with pytest.raises(gitlab.exceptions.GitlabListError) as err:
        mrs.list(order_by="bogus", get_all=True)
    assert err.value.response_code == 400


def test_approvals_label_events_commits_pipelines(scene: Scene) -> None:
    fix = scene.project.mergerequests.get(scene.fix.iid, lazy=True)
    approvals = fix.approvals.get()
    assert approvals.approvals_required == 1 and approvals.approvals_left == 0
    assert approvals.approved is True
    assert approvals.approved_by[0]["user"]["username"] == "bob"
    assert API_TS.match(approvals.approved_by[0]["approved_at"])
    squashed = scene.project.mergerequests.get(scene.squashed.iid, lazy=True).approvals.get()
    assert (squashed.approvals_left, squashed.approved) == (1, False)

    events = fix.resourcelabelevents.list(get_all=True)
    assert [(e.action, e.label["name"]) for e in events] == [
        ("add", "hotfix"),
        ("add", "needs-staging"),
        ("remove", "needs-staging"),
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert events[0].resource_id == scene.fix.id and events[0].resource_type == "MergeRequest"
    assert events[1].label["id"] == events[2].label["id"] != events[0].label["id"]

    two = scene.project.mergerequests.get(scene.squashed.iid, lazy=True)
    # python-gitlab's commits() is already a lazy iterator over every page
    commits = list(two.commits(per_page=1))
    assert [c.id for c in commits] == list(reversed(scene.squashed.commit_shas))
    assert commits[0].parent_ids == [scene.squashed.commit_shas[0]]
    assert two.pipelines.list(get_all=True) == []


def test_note_shape(scene: Scene) -> None:
    pid = scene.world.projects["evenergi/vemo-core"].id
    note = scene.raw(f"/projects/{pid}/merge_requests/1/notes", sort="asc").json()[0]
    assert note["noteable_id"] == scene.fix.id and note["noteable_iid"] == 1
    assert note["noteable_type"] == "MergeRequest" and note["type"] is None
    assert note["system"] is False and note["internal"] is False
    assert API_TS.match(note["created_at"]) and set(note["author"]) >= USER_KEYS


# -- repository -----------------------------------------------------------------------------
def test_commit_detail_diff_refs_and_mrs(scene: Scene) -> None:
    merge_sha = scene.fix.merge_commit_sha
    assert merge_sha
    c = scene.project.commits.get(merge_sha[:10])  # abbreviated shas resolve
    assert c.id == merge_sha and c.short_id == merge_sha[:8] and len(c.parent_ids) == 2
    assert c.web_url.endswith(f"/-/commit/{merge_sha}")
    assert c.stats == {"additions": 1, "deletions": 0, "total": 1}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", c.committed_date)
    assert [m["iid"] for m in c.merge_requests()] == [1]
    branches = [r["name"] for r in c.refs(type="branch", get_all=True)]
    # branches cut from main after the merge contain it too; release does not
    assert branches == ["feature/tariff", "hotfix/2-tune-retries", "main"]
    assert {r["type"] for r in c.refs(get_all=True)} == {"branch"}
    diff = c.diff(get_all=True)
    assert [(d["new_path"], d["new_file"]) for d in diff] == [("src/charge.py", True)]
    assert diff[0]["diff"].startswith("@@")
    by_branch = scene.project.commits.get("release")
    assert by_branch.id == scene.pick
    assert by_branch.trailers == {"Co-authored-by": "Alice <alice@example.com>"}
    assert by_branch.last_pipeline["id"] == scene.release_pipeline.id
    squash = scene.project.commits.get(scene.squashed.commit_shas[0], lazy=True)
    assert [m["iid"] for m in squash.merge_requests()] == [2]


def test_compare_and_merge_base(scene: Scene) -> None:
    initial = scene.project.commits.list(ref_name="main", get_all=True)[-1].id
    base = scene.project.repository_merge_base(["main", "release"])
    assert base["id"] == initial
    cmp = scene.project.repository_compare("main", "release")
    assert [c["id"] for c in cmp["commits"]] == [scene.pick]
    assert cmp["commit"]["id"] == scene.pick and cmp["compare_same_ref"] is False
    assert [d["new_path"] for d in cmp["diffs"]] == ["src/charge.py"]
    # straight: the diff is taken from `from` itself, so main's other changes show up
    straight = scene.project.repository_compare("main", "release", straight=True)
    assert "src/retry.py" in [d["new_path"] for d in straight["diffs"]]
    same = scene.project.repository_compare("main", "main")
    assert same["compare_same_ref"] is True and same["commits"] == [] and same["commit"] is None
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        scene.project.repository_merge_base(["main"])
    assert err.value.response_code == 400
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        scene.project.repository_merge_base(["main", "nope"])
    assert err.value.response_code == 400
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        scene.project.repository_compare("main", "nope")
    assert err.value.response_code == 404


def test_branches(scene: Scene) -> None:
    names = [b.name for b in scene.project.branches.list(get_all=True)]
    assert "main" in names and "release" in names and names == sorted(names)
    main = scene.project.branches.get("main")
    assert main.default and main.protected and not main.merged
    fix_branch = scene.project.branches.get(scene.fix.source_branch)  # has a slash
    assert fix_branch.merged and fix_branch.commit["id"] == scene.fix.sha
    assert [b.name for b in scene.project.branches.list(search="^rel", get_all=True)] == ["release"]


# -- CI -------------------------------------------------------------------------------------
def test_pipelines_list_and_detail(scene: Scene) -> None:
    pipelines = scene.project.pipelines
    listed = pipelines.list(get_all=True)
    assert [p.id for p in listed] == sorted((p.id for p in listed), reverse=True)
    assert set(listed[0].attributes) >= {
        "id",
        "iid",
        "project_id",
        "sha",
        "ref",
        "status",
        "source",
        "created_at",
        "updated_at",
        "web_url",
    }
    asc = pipelines.list(ref="release", order_by="id", sort="asc", get_all=True)
    assert [p.id for p in asc][-1] == scene.release_pipeline.id
    assert pipelines.list(sha=scene.pick, get_all=True)[0].id == scene.release_pipeline.id
    assert pipelines.list(source="schedule", get_all=True) == []
    assert pipelines.list(status="success", username="bob", get_all=True)
    assert pipelines.list(updated_after="2026-11-05T00:00:00Z", get_all=True) == []
    latest = pipelines.list(scope="branches", get_all=True)
    assert [p.id for p in latest] == [scene.release_pipeline.id]
    detail = pipelines.get(scene.release_pipeline.id)
    assert detail.status == "success" and detail.user["username"] == "bob"
    assert detail.detailed_status["group"] == "success" and detail.tag is False
    assert API_TS.match(detail.started_at) and API_TS.match(detail.finished_at)
    assert isinstance(detail.duration, int)


def test_jobs_hide_retried_and_bridges(scene: Scene) -> None:
    pl = scene.project.pipelines.get(scene.release_pipeline.id, lazy=True)
    default = pl.jobs.list(get_all=True)
    assert {j.id for j in default} == {scene.build_retry.id, scene.second_deploy.deployable.id}
    everything = pl.jobs.list(include_retried=True, get_all=True)
    assert scene.build_failed.id in {j.id for j in everything}
    assert [j.id for j in everything] == sorted((j.id for j in everything), reverse=True)
    failed = pl.jobs.list(include_retried=True, scope=["failed"], get_all=True)
    assert [(j.id, j.failure_reason) for j in failed] == [(scene.build_failed.id, "script_failure")]
    ok = next(j for j in everything if j.id == scene.build_retry.id)
    assert "failure_reason" not in ok.attributes
    assert ok.pipeline["id"] == scene.release_pipeline.id and ok.commit["id"] == scene.pick
    assert ok.erased_at is None and ok.archived is False and ok.tag_list == []
    assert ok.artifacts == []

    bridges = pl.bridges.list(get_all=True)
    assert [b.id for b in bridges] == [scene.bridge.id]
    down = bridges[0].downstream_pipeline
    assert down["id"] == scene.downstream.id
    assert down["project_id"] == scene.world.projects["evenergi/e2e"].id
    assert pl.bridges.list(scope=["failed"], get_all=True) == []

    job = scene.project.jobs.get(scene.build_retry.id)
    assert job.name == "build" and job.status == "success"
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        scene.project.jobs.get(scene.bridge.id)
    assert err.value.response_code == 404


def test_environments(scene: Scene) -> None:
    envs = scene.project.environments.list(get_all=True)
    assert [e.name for e in envs] == ["staging"]
    assert "last_deployment" not in envs[0].attributes
    assert scene.project.environments.list(name="stag", get_all=True) == []
    assert [e.name for e in scene.project.environments.list(search="tag", get_all=True)] == [
        "staging"
    ]
    env = scene.project.environments.get(envs[0].id)
    last = env.last_deployment
    assert last["id"] == scene.second_deploy.id and last["sha"] == scene.pick
    assert last["deployable"]["pipeline"]["id"] == scene.release_pipeline.id


def test_deployments_list_and_rules(scene: Scene) -> None:
    deps = scene.project.deployments
    listed = deps.list(get_all=True)
    assert [d.id for d in listed] == [scene.first_deploy.id, scene.second_deploy.id]  # id asc
    d = listed[1].attributes
    assert d["environment"]["name"] == "staging" and d["status"] == "success"
    assert set(d["user"]) >= USER_KEYS and API_TS.match(d["finished_at"])
    assert d["deployable"]["name"] == "deploy-staging"
    assert set(d["deployable"]["pipeline"]) >= {"id", "sha", "ref", "status", "web_url"}
    assert [x.id for x in deps.list(sort="desc", get_all=True)][0] == scene.second_deploy.id
    assert deps.list(environment="production", get_all=True) == []

    def rejected(**params: Any) -> str:
        with pytest.raises(gitlab.exceptions.GitlabListError) as err:
            deps.list(get_all=True, **params)
        assert err.value.response_code == 400
        return str(err.value.error_message)

    since = "2026-11-03T00:00:00Z"
    assert "`updated_at` filter requires `updated_at` sort" in rejected(updated_after=since)
    ok = deps.list(updated_after=since, order_by="updated_at", get_all=True)
    assert [x.id for x in ok] == [scene.second_deploy.id]
    assert "finished_at" in rejected(finished_after=since, order_by="finished_at")
    assert "finished_at" in rejected(finished_after=since, status="success")
    fin = deps.list(finished_after=since, order_by="finished_at", status="success", get_all=True)
    assert [x.id for x in fin] == [scene.second_deploy.id]
    assert "Both" in rejected(updated_after=since, finished_after=since, order_by="updated_at")
    rejected(status="exploded")
    rejected(order_by="finished_at")


def test_deployment_detail_and_merge_requests(scene: Scene) -> None:
    d = scene.project.deployments.get(scene.second_deploy.id)
    assert d.sha == scene.pick and d.iid == 2
    # the MR reached staging by a UI cherry-pick: linked through its system note
    mrs = d.mergerequests.list(get_all=True)
    assert [m.iid for m in mrs] == [1]
    first = scene.project.deployments.get(scene.first_deploy.id, lazy=True)
    # no earlier deployment: every MR merged into the deployed ref (none target release)
    assert first.mergerequests.list(get_all=True) == []


# -- errors ---------------------------------------------------------------------------------
def test_not_found_messages(scene: Scene) -> None:
    cases = [
        (lambda: scene.gl.projects.get("evenergi/nope"), "404 Project Not Found"),
        (lambda: scene.gl.projects.get(999999), "404 Project Not Found"),
        (lambda: scene.project.mergerequests.get(99), "404 Merge Request Not Found"),
        (lambda: scene.project.commits.get("deadbeef"), "404 Commit Not Found"),
        (lambda: scene.project.pipelines.get(1), "404 Pipeline Not Found"),
        (lambda: scene.project.jobs.get(1), "404 Job Not Found"),
        (lambda: scene.project.environments.get(1), "404 Environment Not Found"),
        (lambda: scene.project.deployments.get(1), "404 Deployment Not Found"),
        (lambda: scene.project.branches.get("nope"), "404 Branch Not Found"),
    ]
    for call, message in cases:
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            call()
        assert (err.value.response_code, err.value.error_message) == (404, message)
    # a pipeline of another project is not found through this one
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        scene.project.pipelines.get(scene.downstream.id)


def test_forbidden_families(scene: Scene) -> None:
    project = scene.world.projects["evenergi/vemo-core"]
    project.forbidden = {"approvals", "deployments"}
    try:
        mr = scene.project.mergerequests.get(scene.fix.iid)  # still readable
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            mr.approvals.get()
        assert (err.value.response_code, err.value.error_message) == (403, "403 Forbidden")
        with pytest.raises(gitlab.exceptions.GitlabListError) as lerr:
            scene.project.deployments.list(get_all=True)
        assert lerr.value.response_code == 403
        assert scene.project.environments.list(get_all=True)
        project.forbidden = {"merge_requests"}
        with pytest.raises(gitlab.exceptions.GitlabListError):
            mr.notes.list(get_all=True)
    finally:
        project.forbidden = set()


def test_writes_are_405_and_recorded(scene: Scene) -> None:
    scene.server.reset_counts()
    pid = scene.world.projects["evenergi/vemo-core"].id
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as err:
        scene.gl.http_post(
            f"/projects/{pid}/repository/commits/{scene.pick}/cherry_pick",
            post_data={"branch": "x"},
        )
    assert err.value.response_code == 405
    resp = requests.delete(
        f"{scene.world.url}/api/v4/projects/1",
        headers={"PRIVATE-TOKEN": scene.world.token},
        timeout=5,
    )
    assert resp.status_code == 405 and resp.json() == {"message": "405 Method Not Allowed"}
    assert [(r.method, r.status) for r in scene.server.requests] == [("POST", 405), ("DELETE", 405)]
    assert scene.server.requests[0].path.endswith("/cherry_pick")


def test_head_and_rate_limit_headers(scene: Scene) -> None:
    scene.server.reset_counts()
    head = requests.head(
        f"{scene.world.url}/api/v4/version", headers={"PRIVATE-TOKEN": scene.world.token}, timeout=5
    )
    assert head.status_code == 200 and head.content == b""
    one, two = scene.raw("/version"), scene.raw("/version")
    for resp in (head, one, two):
        assert all(h in resp.headers for h in RATE_HEADERS)
    assert one.headers["RateLimit-Limit"] == "2000"
    if one.headers["RateLimit-Reset"] == two.headers["RateLimit-Reset"]:  # same minute window
        remaining = int(one.headers["RateLimit-Remaining"])
        assert int(two.headers["RateLimit-Remaining"]) == remaining - 1
    # the end of a fixed one-minute window, as an epoch second
    assert int(one.headers["RateLimit-Reset"]) % WINDOW_SECONDS == 0
    assert one.headers["RateLimit-Name"] == "throttle_authenticated_api"


def test_concurrent_reads(scene: Scene) -> None:
    pid = scene.world.projects["evenergi/vemo-core"].id
    paths = [
        f"/projects/{pid}/repository/commits/{scene.pick}",
        f"/projects/{pid}/repository/compare?from=main&to=release",
        f"/projects/{pid}/merge_requests/1/notes",
        f"/projects/{pid}/pipelines/{scene.release_pipeline.id}/jobs",
    ] * 10

    def get(path: str) -> int:
        return requests.get(
            f"{scene.world.url}/api/v4{path}",
            headers={"PRIVATE-TOKEN": scene.world.token},
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, paths)) == {200}


# -- faults ---------------------------------------------------------------------------------
@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every `time.sleep` asked for, by python-gitlab or the simulator, recorded instead of
    slept: what a wait was is asserted, never how long the machine took."""
    asked: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda seconds: asked.append(float(seconds)))
    return asked


def test_429_then_success_with_retry_after(sleeps: list[float]) -> None:
    w, server = _tiny(Faults(rate_limit_every=2))
    try:
        gl = gitlab.Gitlab(w.url, private_token=w.token)
        gl.auth()
        project = gl.projects.get("acme/tiny")
        assert project.name == "tiny"
        assert sleeps == [1.0]  # python-gitlab waited for Retry-After: 1
        assert [r.status for r in server.requests] == [200, 429, 200]
        server.reset_counts()
        requests.get(f"{w.url}/api/v4/version", headers={"PRIVATE-TOKEN": w.token}, timeout=5)
        limited = requests.get(
            f"{w.url}/api/v4/version", headers={"PRIVATE-TOKEN": w.token}, timeout=5
        )
        assert limited.status_code == 429 and limited.text.strip() == "Retry later"
        assert limited.headers["Retry-After"] == "1" and "RateLimit-ResetTime" in limited.headers
        gl.auth()  # 3rd request
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            gl.projects.get("acme/tiny", max_retries=0)  # 4th: 429, and no retries allowed
        assert err.value.response_code == 429
    finally:
        server.stop()


def test_502_retried_as_transient(sleeps: list[float]) -> None:
    w, server = _tiny(Faults(error_every=2))
    try:
        gl = gitlab.Gitlab(w.url, private_token=w.token, retry_transient_errors=True)
        gl.auth()
        assert gl.projects.get("acme/tiny").path == "tiny"
        # 502s come from the gateway and carry no RateLimit headers, so python-gitlab backs
        # off 0.1 s instead of sleeping until RateLimit-Reset
        assert sleeps == [0.1]
        assert [r.status for r in server.requests] == [200, 502, 200]
        server.reset_counts()
        bare = gitlab.Gitlab(w.url, private_token=w.token)
        bare.auth()
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            bare.projects.get("acme/tiny")
        assert err.value.response_code == 502
        server.reset_counts()
        headers = {"PRIVATE-TOKEN": w.token}
        requests.get(f"{w.url}/api/v4/version", headers=headers, timeout=5)
        gateway = requests.get(f"{w.url}/api/v4/version", headers=headers, timeout=5)
        assert gateway.status_code == 502 and "RateLimit-Reset" not in gateway.headers
    finally:
        server.stop()


def test_fail_paths_and_latency(sleeps: list[float]) -> None:
    w, server = _tiny(Faults(fail_paths={r"acme/tiny$": 500}, latency=0.15))
    try:
        gl = gitlab.Gitlab(w.url, private_token=w.token)
        gl.auth()
        assert sleeps == [0.15]  # the simulator held its answer for the injected latency
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            gl.projects.get("acme/tiny")
        assert (err.value.response_code, err.value.error_message) == (
            500,
            "500 Internal Server Error",
        )
        server.faults.fail_paths = {r"/projects/\d+$": 403}  # changed while serving
        pid = w.projects["acme/tiny"].id
        with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
            gl.projects.get(pid)
        assert err.value.response_code == 403
    finally:
        server.stop()


def test_odd_answer_knobs() -> None:
    """Each odd-answer knob breaks exactly what it names, only on the paths it matches."""
    w, server = _tiny()
    w.projects["acme/tiny"].branch("release", "main")
    h = {"PRIVATE-TOKEN": w.token}
    url = f"{w.url}/api/v4/projects/acme%2Ftiny"
    branches = f"{url}/repository/branches"

    def get(target: str = url, **kw: Any) -> requests.Response:
        return requests.get(target, headers=h, timeout=5, **kw)

    try:
        honest = get()
        faults = server.faults
        faults.corrupt[r"acme/tiny$"] = "malformed"
        cut = get()
        assert cut.status_code == 200 and cut.headers["Content-Type"] == "application/json"
        assert cut.content == honest.content[: len(honest.content) // 2]
        faults.corrupt[r"acme/tiny$"] = "html"
        page = get()
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert page.text.startswith("<!DOCTYPE html>")
        faults.corrupt[r"acme/tiny$"] = "truncated"
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            get()
        faults.corrupt[r"acme/tiny$"] = "wrong_shape"
        assert get().json() == [honest.json()]
        assert get(branches).status_code == 200  # other paths untouched
        faults.corrupt.clear()
        faults.null_fields[r"acme/tiny$"] = "web_url"
        faults.drop_fields[r"acme/tiny$"] = "path"
        odd = get().json()
        assert odd["web_url"] is None and "path" not in odd and odd["id"] == honest.json()["id"]
        faults.null_fields.clear()
        faults.drop_fields.clear()
        assert get().json() == honest.json()

        faults.corrupt[r"/branches$"] = "strings"
        assert get(branches).json() == ["main", "release"]
        faults.corrupt.clear()
        faults.page_size[r"/branches$"] = 1
        first = get(branches, params={"per_page": 100})
        assert len(first.json()) == 1 and first.headers["X-Per-Page"] == "1"
        assert (first.headers["X-Total"], first.headers["X-Next-Page"]) == ("2", "2")
        assert 'rel="next"' in first.headers["Link"]
        faults.drop_link.append(r"/branches$")
        unlinked = get(branches)
        assert "Link" not in unlinked.headers and unlinked.headers["X-Next-Page"] == "2"
        faults.drop_link.clear()
        faults.drop_next.append(r"/branches$")
        dead_end = get(branches)
        assert "X-Next-Page" not in dead_end.headers
        assert 'rel="next"' not in dead_end.headers["Link"]
        assert dead_end.headers["X-Total-Pages"] == "2"
        faults.drop_next.clear()
        faults.lie_total[r"/branches$"] = 238
        assert get(branches).headers["X-Total"] == "240"
        faults.lie_total.clear()

        faults.redirect_to[r"acme/tiny$"] = "http://127.0.0.1:9"
        moved = get(allow_redirects=False, params={"statistics": "true"})
        assert moved.status_code == 302
        assert moved.headers["Location"] == (
            "http://127.0.0.1:9/api/v4/projects/acme%2Ftiny?statistics=true"
        )
        faults.redirect_to.clear()
        faults.rate_limit_every = 1
        faults.retry_after_as_date = True
        limited = get()
        assert limited.status_code == 429
        assert parsedate_to_datetime(limited.headers["Retry-After"]).tzinfo is not None
        assert not server.errors
    finally:
        server.stop()


def test_trailer_parsing() -> None:
    assert parse_trailers("Title\n\nBody text\n") == ({}, {})
    assert parse_trailers("Title\n\nCo-authored-by: A <a@x>\nCo-authored-by: B <b@x>\n") == (
        {"Co-authored-by": "B <b@x>"},
        {"Co-authored-by": ["A <a@x>", "B <b@x>"]},
    )
    assert parse_trailers("Only: a title\n") == ({}, {})
