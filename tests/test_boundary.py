"""GitLab's answers at the boundary: shapes checked before they are believed, lists read to
their real end, only well-formed answers cached, the token kept on the configured GitLab,
and GitLab's oddities (HTTP-date Retry-After, deleted labels) read without a crash.

Shape checks are pure and tested on JSON values; everything that involves HTTP goes through
python-gitlab over real HTTP against the simulator; the cache is a real SQLite store.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.config import load_settings
from auditor.evidence import LabelEvent, Unavailable
from auditor.gitlab import shapes
from auditor.gitlab.client import (
    CrossOriginRefused,
    ReadOnlySession,
    connect,
    retry_after_seconds,
    tame_wait_headers,
)
from auditor.gitlab.shapes import Malformed
from auditor.gitlab.source import GitLabSource
from auditor.store import EvidenceStore
from tests.conftest import Served, serve
from tests.faultkit import Recorder, heal

WEB = "https://gitlab.example.com/evenergi/vemo-core"
SHA_A = "5af387b031e43624d9cff9e9afd02d4508feefcf"
SHA_B = "6a07a56fa65926c24bd95f69f378a0017f58f70d"
AT = "2026-11-18T10:00:00.000Z"
USER = {"id": 1, "username": "maria.release", "name": "Maria"}

# -- well-formed answers, as GitLab sends them (trimmed to what the auditor reads) ----------
JOB = {
    "id": 90018,
    "name": "01 release vemo-core",
    "status": "success",
    "stage": "release",
    "allow_failure": False,
    "created_at": AT,
    "started_at": AT,
    "finished_at": AT,
    "pipeline": {"id": 5006},
    "web_url": "https://gitlab.example.com/evenergi/develop/-/jobs/90018",
    "user": USER,
}
BRIDGE = {**JOB, "id": 90019, "downstream_pipeline": {"id": 5007, "status": "success"}}
DEPLOYMENT = {
    "id": 704,
    "iid": 3,
    "status": "success",
    "sha": SHA_A,
    "ref": "release",
    "created_at": AT,
    "updated_at": AT,
    "environment": {"id": 7, "name": "staging"},
    "deployable": {
        "id": 90022,
        "name": "deploy staging",
        "finished_at": AT,
        "web_url": f"{WEB}/-/jobs/90022",
        "pipeline": {"id": 5007, "updated_at": AT},
    },
    "user": USER,
}
COMMIT = {
    "id": SHA_A,
    "short_id": SHA_A[:8],
    "title": "Fix charger session timeout",
    "message": "Fix charger session timeout\n\n(cherry-picked from commit " + SHA_B + ")\n",
    "parent_ids": [SHA_B],
    "authored_date": AT,
    "committed_date": AT,
    "web_url": f"{WEB}/-/commit/{SHA_A}",
}
NOTE = {"id": 40001, "body": "Validated in staging", "author": USER, "created_at": AT}
NOTE["system"] = False
LABEL_EVENT = {
    "id": 800,
    "user": USER,
    "created_at": AT,
    "label": {"id": 74, "name": "Validated in Staging"},
    "action": "add",
}
MR_REF = {
    "iid": 2,
    "title": "Guard meter reading overflow",
    "state": "merged",
    "source_branch": "hotfix/guard",
    "target_branch": "main",
    "merged_at": AT,
    "merge_commit_sha": SHA_B,
    "squash_commit_sha": None,
    "web_url": f"{WEB}/-/merge_requests/2",
}
MR = {
    **MR_REF,
    "id": 101,
    "iid": 1,
    "project_id": 11,
    "created_at": AT,
    "updated_at": AT,
    "sha": SHA_A,
    "labels": ["Validated in Staging"],
    "author": USER,
}
APPROVALS = {
    "approvals_required": 1,
    "approvals_left": 0,
    "approved_by": [{"user": USER, "approved_at": AT}],
}
PIPELINE = {
    "id": 5006,
    "status": "success",
    "source": "web",
    "ref": "main",
    "sha": SHA_A,
    "created_at": AT,
    "updated_at": AT,
    "web_url": "https://gitlab.example.com/evenergi/develop/-/pipelines/5006",
}
DIFF = {"old_path": "a.py", "new_path": "a.py", "diff": "@@ -1 +1 @@\n-a\n+b\n"}

# every parser, with an answer it accepts
PARSERS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "project": (shapes.project, {"id": 11, "web_url": WEB, "default_branch": "main"}),
    "merge_request": (lambda raw: shapes.merge_request(raw, "evenergi/vemo-core", "main"), MR),
    "approvals": (shapes.approvals, APPROVALS),
    "notes": (lambda raw: shapes.notes(raw, WEB), [NOTE]),
    "label_events": (shapes.label_events, [LABEL_EVENT]),
    "commits": (lambda raw: shapes.commits(raw, WEB), [COMMIT]),
    "commit": (lambda raw: shapes.single_commit(raw, WEB), COMMIT),
    "compare": (shapes.compare_commits, {"commit": COMMIT, "commits": [COMMIT], "diffs": []}),
    "merge_base": (shapes.merge_base, {"id": SHA_B}),
    "diff": (shapes.diff, [DIFF]),
    "mr_refs": (lambda raw: shapes.mr_refs(raw, "evenergi/vemo-core"), [MR_REF]),
    "mr_iids": (shapes.mr_iids, [MR_REF]),
    "pipelines": (lambda raw: shapes.pipelines(raw, "evenergi/develop"), [PIPELINE]),
    "jobs": (lambda raw: shapes.jobs(raw, 5006), [JOB]),
    "bridges": (lambda raw: shapes.jobs(raw, 5006, "trigger job"), [BRIDGE]),
    "deployments": (shapes.deployments, [DEPLOYMENT]),
}


def test_every_parser_reads_gitlabs_answer() -> None:
    for name, (parse, good) in PARSERS.items():
        assert parse(copy.deepcopy(good)) is not None, name


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            out.pop(key)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("parser", "raw", "defect"),
    [
        ("jobs", [_with(JOB, status=None)], "job 90018 has no status (null)"),
        ("jobs", [_with(JOB, status=...)], "job 90018 has no status"),
        ("bridges", [_with(BRIDGE, status="")], "trigger job 90019 has an empty status"),
        ("jobs", [_with(JOB, allow_failure="yes")], "job 90018 has allow_failure 'yes'"),
        ("jobs", [_with(JOB, id=True)], "job #1 has id True, expected an integer"),
        ("jobs", ["90018"], "job #1 is a string, expected an object"),
        ("jobs", {"message": "ok"}, "answer is an object, expected a list"),
        ("deployments", [_with(DEPLOYMENT, status=None)], "deployment 704 has no status (null)"),
        ("deployments", [_with(DEPLOYMENT, sha="release")], "has sha 'release', expected a commit"),
        ("deployments", [_with(DEPLOYMENT, environment="staging")], "environment is a string"),
        ("approvals", {"message": "ok"}, "approvals answer has no approved_by"),
        ("approvals", _with(APPROVALS, approvals_left=...), "has no approvals_left"),
        ("approvals", _with(APPROVALS, approved_by=[{"user": None}]), "approval #1 has no user"),
        ("compare", {"commit": COMMIT, "diffs": []}, "compare answer has no commits"),
        ("compare", {"commits": None}, "compare answer has no commits (null)"),
        ("merge_base", {"message": "ok"}, "merge base answer has no id"),
        ("commits", [_with(COMMIT, id="xyz")], "commit #1 has id 'xyz', expected a commit SHA"),
        ("commits", [_with(COMMIT, message=...)], f"commit {SHA_A[:8]} has no message"),
        ("commits", [_with(COMMIT, parent_ids="x")], "has parent_ids 'x', expected commit SHAs"),
        ("notes", [_with(NOTE, created_at="yesterday")], "note 40001 has created_at 'yesterday'"),
        ("notes", [_with(NOTE, created_at="2026-11-18T10:00:00")], "an ISO 8601 time with a zone"),
        ("notes", [_with(NOTE, system=...)], "note 40001 has no system"),
        ("label_events", [_with(LABEL_EVENT, action="added")], "has action 'added', expected add"),
        ("label_events", [_with(LABEL_EVENT, label={"id": 1})], "label has no name"),
        ("merge_request", _with(MR, labels=[1]), "has a number among its labels"),
        ("merge_request", _with(MR, created_at=...), "merge request !1 has no created_at"),
        ("pipelines", [_with(PIPELINE, status=None)], "pipeline 5006 has no status (null)"),
        ("diff", [_with(DIFF, diff=None)], "diff of a.py has no diff (null)"),
        ("project", {"id": 11}, "project has no web_url"),
        ("mr_refs", [_with(MR_REF, merge_commit_sha=5)], "has merge_commit_sha 5"),
    ],
)
def test_a_malformed_answer_names_its_defect(parser: str, raw: Any, defect: str) -> None:
    with pytest.raises(Malformed) as err:
        PARSERS[parser][0](raw)
    assert defect in str(err.value)


def test_a_deleted_label_is_gitlabs_answer_not_a_defect() -> None:
    """GitLab answers `label: null` for a label deleted since the event: kept, as None."""
    events = shapes.label_events([_with(LABEL_EVENT, label=None)])
    assert events == (
        LabelEvent(
            id=800, label=None, action="add", created_at=events[0].created_at, user=USER["username"]
        ),
    )


def test_allow_failure_is_read_and_defaults_to_false() -> None:
    assert shapes.jobs([_with(JOB, allow_failure=True)], 5006)[0].allow_failure is True
    assert shapes.jobs([_with(JOB, allow_failure=...)], 5006)[0].allow_failure is False
    bridge = shapes.jobs([BRIDGE], 5006, "trigger job")[0]
    assert bridge.downstream_pipeline_id == 5007 and bridge.pipeline_id == 5006


def test_optional_fields_stay_optional() -> None:
    """What GitLab may null is read as absent: an unmerged MR, a deployment without a job,
    a deleted user, a commit without parents listed."""
    assert shapes.merge_request(_with(MR, merged_at=None, merge_commit_sha=None), "p", "main")
    bare = shapes.deployments([_with(DEPLOYMENT, deployable=None, user=None)])[0]
    assert (bare.deployable_id, bare.pipeline_id, bare.web_url, bare.user) == (None, None, "", None)
    assert shapes.commits([_with(COMMIT, parent_ids=...)], WEB)[0].parent_ids == ()


# -- any JSON at all: a parser answers or says Malformed, never anything else ---------------
JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([SHA_A, AT, "2026-11-18T10:00:00", "add", "remove", "success", ""])
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = sorted(
    {
        k
        for _, good in PARSERS.values()
        for row in (good if isinstance(good, list) else [good])
        for k in row
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data())
def test_no_answer_crashes_a_parser(name: str, data: st.DataObject) -> None:
    parse, good = PARSERS[name]
    if data.draw(st.booleans()):
        raw = data.draw(JSON_ANY | st.dictionaries(st.sampled_from(KEYS), JSON_ANY, max_size=6))
    else:
        raw = copy.deepcopy(good)
        row = raw[0] if isinstance(raw, list) else raw
        key = data.draw(st.sampled_from(sorted(row)))
        if data.draw(st.booleans()):
            row.pop(key)
        else:
            row[key] = data.draw(JSON_ANY)
    with contextlib.suppress(Malformed):
        parse(raw)


# -- over HTTP -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    gen = serve("by_the_book", tmp_path_factory.mktemp("by_the_book"))
    served = next(gen)
    yield served
    gen.close()


@pytest.fixture
def healthy(world: Served) -> Iterator[Served]:
    """The world, its faults healed after the test."""
    yield world
    heal(world.server.faults)
    world.server.reset_counts()


def _source(served: Served, store: EvidenceStore | None = None) -> GitLabSource:
    settings_ = load_settings(served.config, {"GITLAB_TOKEN": served.world.token})
    session = ReadOnlySession()
    return GitLabSource(connect(settings_, session), cache=store, session=session)


PROJECT = "evenergi/vemo-core"
ORCH = "evenergi/develop"


def test_pages_are_followed_by_x_next_page_without_link(healthy: Served) -> None:
    clean = _source(healthy).notes(_source(healthy).merge_request(PROJECT, 1))
    assert isinstance(clean, tuple) and len(clean) >= 2
    faults = healthy.server.faults
    faults.page_size[r"/notes$"] = 1
    faults.drop_link.append(r"/notes$")
    healthy.server.reset_counts()
    src = _source(healthy)
    assert src.notes(src.merge_request(PROJECT, 1)) == clean
    pages = [r.query.get("page") for r in healthy.server.requests if r.path.endswith("/notes")]
    assert pages == [None] + [[str(n)] for n in range(2, len(clean) + 1)]


def test_a_list_shorter_than_its_x_total_is_unavailable(healthy: Served) -> None:
    healthy.server.faults.lie_total[r"/notes$"] = 238
    src = _source(healthy)
    notes = src.notes(src.merge_request(PROJECT, 1))
    assert isinstance(notes, Unavailable)
    assert notes.what == f"notes of {PROJECT}!1"
    assert notes.reason.startswith("GitLab said 24")  # 238 more than the notes there are
    assert notes.reason.endswith("were returned")


def test_more_pages_announced_but_not_linked_is_unavailable(healthy: Served) -> None:
    faults = healthy.server.faults
    faults.page_size[r"/notes$"] = 1
    faults.drop_next.append(r"/notes$")
    src = _source(healthy)
    notes = src.notes(src.merge_request(PROJECT, 1))
    assert isinstance(notes, Unavailable)
    assert "GitLab said 2 pages, but page 1 links no next page" in notes.reason


def test_no_totals_is_not_a_defect(healthy: Served) -> None:
    """The commits list never has X-Total; read page by page by X-Next-Page alone."""
    src = _source(healthy)
    since = datetime(2026, 11, 1, tzinfo=UTC)
    clean = src.branch_commits(PROJECT, "release", since)
    assert isinstance(clean, tuple) and len(clean) >= 2
    faults = healthy.server.faults
    faults.page_size[r"/repository/commits$"] = 1
    faults.drop_link.append(r"/repository/commits$")
    healthy.server.reset_counts()
    assert _source(healthy).branch_commits(PROJECT, "release", since) == clean
    assert all("X-Total" not in r.query for r in healthy.server.requests)


def test_a_next_page_link_to_another_host_is_not_followed(healthy: Served) -> None:
    src = _source(healthy)
    with pytest.raises(Malformed, match="points to http://evil.example:80, not to GitLab"):
        src._on_gitlab("http://evil.example/steal?page=2")
    # GitLab's own external URL in a Link is rewritten to the configured one (keep_base_url)
    moved = src._on_gitlab("https://gitlab.internal:8443/api/v4/projects/1/notes?page=2")
    assert moved == f"{healthy.url}/api/v4/projects/1/notes?page=2"


def test_a_redirect_to_another_host_is_refused_and_the_token_stays(healthy: Served) -> None:
    other = Recorder()
    try:
        healthy.server.faults.redirect_to[r"/approvals$"] = other.url
        src = _source(healthy)
        approvals = src.approvals(src.merge_request(PROJECT, 1))
        assert isinstance(approvals, Unavailable)
        assert approvals.reason.startswith(f"GitLab redirected to {other.url}, not ")
        assert "the token was not sent there" in approvals.reason
        assert healthy.world.token not in str(approvals)
        assert [r.status for r in healthy.server.requests if r.path.endswith("/approvals")] == [302]
        # and straight through the session: the request never leaves
        session = ReadOnlySession(base_url=healthy.url)
        with pytest.raises(CrossOriginRefused):
            session.get(f"{other.url}/api/v4/user", headers={"PRIVATE-TOKEN": "secret"})
        assert other.seen == []
    finally:
        other.close()


def test_redirect_hops_lose_every_token_header() -> None:
    """Second lock behind the refusal: requests' rebuild_auth strips only Authorization."""
    session = ReadOnlySession()
    hop = requests.Request(
        "GET",
        "http://127.0.0.1:9/elsewhere",
        headers={"PRIVATE-TOKEN": "t", "JOB-TOKEN": "j", "Authorization": "Bearer t"},
    ).prepare()
    came_from = requests.Response()
    came_from.request = requests.Request("GET", "http://127.0.0.1:8/api/v4/user").prepare()
    session.rebuild_auth(hop, came_from)
    assert not {"PRIVATE-TOKEN", "JOB-TOKEN", "Authorization"} & set(hop.headers)
    same_host = requests.Request("GET", "http://127.0.0.1:8/x", headers={"PRIVATE-TOKEN": "t"})
    kept = same_host.prepare()
    session.rebuild_auth(kept, came_from)
    assert kept.headers["PRIVATE-TOKEN"] == "t"


# -- Retry-After and RateLimit-Reset --------------------------------------------------------
NOW = datetime(2026, 11, 18, 10, 0, 0, tzinfo=UTC).timestamp()


def test_retry_after_as_seconds_or_http_date() -> None:
    date = format_datetime(datetime(2026, 11, 18, 10, 0, 5, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(date, NOW) == 5
    assert retry_after_seconds("Wed, 18 Nov 2026 09:59:00 GMT", NOW) == 0  # already past
    assert retry_after_seconds("7", NOW) == 7
    assert retry_after_seconds("soon", NOW) is None


def test_wait_headers_are_made_safe_for_python_gitlab() -> None:
    headers = {"Retry-After": "Wed, 18 Nov 2026 11:00:00 GMT", "RateLimit-Reset": "tomorrow"}
    tame_wait_headers(headers, NOW, cap=60)
    assert headers == {"Retry-After": "60"}  # an hour away: capped; garbage: dropped
    headers = {"Retry-After": "soon", "RateLimit-Reset": str(int(NOW) + 7200)}
    tame_wait_headers(headers, NOW, cap=60)
    assert headers == {"RateLimit-Reset": str(int(NOW) + 60)}
    headers = {"Retry-After": "2", "RateLimit-Reset": str(int(NOW) + 30)}
    tame_wait_headers(headers, NOW, cap=60)
    assert headers == {"Retry-After": "2", "RateLimit-Reset": str(int(NOW) + 30)}


def test_429_with_an_http_date_retry_after_is_waited_out(healthy: Served) -> None:
    clean_code, clean = healthy.check_json("evenergi/vemo-core!1")
    healthy.server.faults.rate_limit_every = 6
    healthy.server.faults.retry_after_as_date = True
    healthy.server.reset_counts()
    code, faulty = healthy.check_json("evenergi/vemo-core!1")
    assert 429 in [r.status for r in healthy.server.requests]
    assert (code, faulty["promotions"]) == (clean_code, clean["promotions"])


# -- only well-formed answers are cached ----------------------------------------------------
def _cached(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, value FROM cache").fetchall())


# (what is asked, the path it reads, how that answer is broken)
CACHE_CASES = [
    ("compare", r"/repository/compare$", {"drop_fields": "commits"}),
    ("compare", r"/repository/compare$", {"corrupt": "html"}),
    ("jobs", r"/pipelines/\d+/jobs$", {"null_fields": "status"}),
    ("jobs", r"/pipelines/\d+/jobs$", {"lie_total": 3}),
    ("notes", r"/notes$", {"corrupt": "truncated"}),
    ("notes", r"/notes$", {"fail_paths": 500}),
    ("commit", r"/repository/commits/[0-9a-f]{40}$", {"corrupt": "malformed"}),
    ("merge_base", r"/repository/merge_base$", {"null_fields": "id"}),
    ("diff", r"/diff$", {"corrupt": "strings"}),
    ("commit_mrs", r"/commits/[0-9a-f]{40}/merge_requests$", {"corrupt": "wrong_shape"}),
]


def _ask(src: GitLabSource, what: str) -> tuple[Any, str]:
    """One durable question about by_the_book, and its cache key."""
    mr = src.merge_request(PROJECT, 1)
    pick = "5af387b031e43624d9cff9e9afd02d4508feefcf"
    base = "6a07a56fa65926c24bd95f69f378a0017f58f70d"
    asks: dict[str, tuple[Callable[[], Any], tuple[Any, ...]]] = {
        "compare": (lambda: src.compare(PROJECT, base, pick), ("compare", PROJECT, base, pick)),
        "jobs": (
            lambda: src.pipeline_jobs(ORCH, 5006, datetime(2026, 11, 18, 11, tzinfo=UTC)),
            ("jobs", ORCH, 5006),
        ),
        "notes": (lambda: src.notes(mr), ("notes", PROJECT, 1)),
        "commit": (lambda: src.commit(PROJECT, pick), ("commit", PROJECT, pick)),
        "merge_base": (
            lambda: src.is_ancestor(PROJECT, base, pick),
            ("ancestor", PROJECT, base, pick),
        ),
        "diff": (lambda: src.commit_diff(PROJECT, pick), ("diff", PROJECT, pick)),
        "commit_mrs": (
            lambda: src.commit_merge_requests(PROJECT, mr.merge_commit_sha or ""),
            ("commit_mrs", PROJECT, mr.merge_commit_sha),
        ),
    }
    ask, key = asks[what]
    return ask(), json.dumps(key, default=str)


@pytest.mark.parametrize(("what", "path", "fault"), CACHE_CASES, ids=lambda v: str(v)[:20])
def test_a_malformed_answer_is_never_cached(
    healthy: Served, tmp_path: Path, what: str, path: str, fault: dict[str, Any]
) -> None:
    db = tmp_path / "auditor.db"
    faults = healthy.server.faults
    [(knob, value)] = fault.items()
    if knob == "fail_paths":
        faults.fail_paths[path] = value
    else:
        getattr(faults, knob)[path] = value
    with EvidenceStore(db) as store:
        answer, key = _ask(_source(healthy, store), what)
        assert isinstance(answer, Unavailable), answer
        assert key not in _cached(db)
    heal(faults)
    with EvidenceStore(db) as store:
        good, _ = _ask(_source(healthy, store), what)
        assert not isinstance(good, Unavailable), good
        assert key in _cached(db)
    if what == "notes":
        return  # an MR's notes are reused only once a sync knows the MR unchanged
    # from now on later runs read the good answer, even with that endpoint gone wrong
    faults.fail_paths[path] = 403
    with EvidenceStore(db) as store:
        again, _ = _ask(_source(healthy, store), what)
        assert again == good


def test_a_bad_entry_left_in_the_cache_is_asked_again(healthy: Served, tmp_path: Path) -> None:
    """An entry an older auditor stored unchecked (a compare answer read as "no commits"
    is a list, so only a mis-shaped one can be told) is fetched again, not believed."""
    db = tmp_path / "auditor.db"
    pick = "5af387b031e43624d9cff9e9afd02d4508feefcf"
    base = "6a07a56fa65926c24bd95f69f378a0017f58f70d"
    key = json.dumps(("compare", PROJECT, base, pick))
    with EvidenceStore(db) as store:
        store.cache_put(key, [{"id": "not a sha"}], None)
        src = _source(healthy, store)
        commits = src.compare(PROJECT, base, pick)
        assert isinstance(commits, tuple) and [c.id for c in commits] == [pick]
        assert src.cache_hits == 0
    assert json.loads(_cached(db)[key])[0]["id"] == pick


def test_a_deleted_label_does_not_make_label_events_unreadable(healthy: Served) -> None:
    """`label: null` through `auditor check`: read, not a gap, and never a pass of SH12 (the
    validated label cannot be seen on the MR's events any more)."""
    healthy.server.faults.null_fields[r"/resource_label_events$"] = "label"
    code, doc = healthy.check_json("evenergi/vemo-core!1")
    assert code in (1, 3)
    findings = {f["rule"]: f for f in doc["promotions"][0]["findings"]}
    assert not any("label events" in f["summary"] for f in findings.values())
    assert findings["SH12"]["status"] in ("fail", "unknown"), findings["SH12"]
