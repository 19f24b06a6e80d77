"""The fault matrix of `auditor check`: every endpoint family the audit reads, broken in
every way GitLab (or what stands in front of it) breaks, through python-gitlab over real
HTTP against the simulator.

For each (family, fault): no crash (never exit 70, never a traceback); no false pass (the
verdict is `compliant` only when the world's verdict does not rest on that family, and then
the whole result is the clean one); the gap is named in a finding's summary; the exit code
is 3, or 4 where GitLab itself is unusable (the project or the MR unreadable); a redirect
elsewhere is never followed, so the second server never sees the token. A missing `Link`
header with `X-Next-Page` is not a fault at all: the pages are followed and the result is
the clean one.

The worlds: `tests/worlds/released_together.py` (compliant; reads every family but a
commit's diff and the merge base), `local_pick_same_patch` (compliant only through a
same-patch comparison, so it rests on the diffs) and `tests/worlds/new_staging_environment.py`
(the first deployment to an environment: only the merge base says it holds the pick). Each
is built and served once for the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.gitlab.client import AuditorGitlab
from auditor.simulator.faults import Faults
from tests.conftest import Served, serve
from tests.faultkit import Recorder, heal

TOGETHER = str(Path(__file__).parent / "worlds" / "released_together.py")
LOCAL_PICK = "local_pick_same_patch"
NEW_ENV = str(Path(__file__).parent / "worlds" / "new_staging_environment.py")
TARGET = "evenergi/vemo-core!1"
TIMEOUT = 1.5  # the client's timeout in the timeout column, seconds (loaded CI: not less)
SLOW = 5.0  # how long the slow family takes to answer there (costs the client nothing)


@dataclass(frozen=True)
class Family:
    name: str
    world: str
    pattern: str  # regex on the request path (unquoted)
    null_field: str  # a field the audit reads, nulled in the "null" column
    named: str = ""  # regex an unknown finding's summary matches when the gap is named
    needed: bool = True  # whether the world's verdict rests on this family
    fatal: bool = False  # the project or the MR itself: GitLab is unusable, exit 4
    single: bool = False  # an object, not a paged list
    pages: bool = False  # spans several pages at page size 1 in this world
    totals: bool = True  # GitLab sends X-Total / X-Total-Pages (never on the commits list)
    quotes_reason: bool = True  # the rule's summary carries the reason, not only the gap


SHA = r"[0-9a-f]{40}"
FAMILIES = [
    Family("project", TOGETHER, r"/projects/evenergi/vemo-core$", "web_url", fatal=True),
    Family("mr", TOGETHER, r"/merge_requests/1$", "created_at", fatal=True),
    Family(
        "approvals",
        TOGETHER,
        r"/merge_requests/1/approvals$",
        "approvals_left",
        "approvals of",
        single=True,
    ),
    Family("notes", TOGETHER, r"/merge_requests/1/notes$", "created_at", "notes of", pages=True),
    Family(
        "label_events",
        TOGETHER,
        r"/merge_requests/1/resource_label_events$",
        "action",
        "label events of",
        pages=True,
    ),
    # the pick's trailer names the MR's merge commit: the MR's own commits are not needed
    Family("mr_commits", TOGETHER, r"/merge_requests/1/commits$", "id", needed=False),
    Family(
        "branch_commits",
        TOGETHER,
        r"/repository/commits$",
        "id",
        "commits of evenergi/vemo-core:release",
        pages=True,
        totals=False,
    ),
    # the system note's commit only corroborates a pick its trailer already proves
    Family("commit", TOGETHER, rf"/repository/commits/{SHA}$", "id", needed=False, single=True),
    Family("compare", TOGETHER, r"/repository/compare$", "commits", "compare ", single=True),
    # the deployments' compares answer ancestry in the other worlds; only a deployment
    # with nothing before it to compare with needs GitLab's merge base
    Family(
        "merge_base",
        NEW_ENV,
        r"/repository/merge_base$",
        "id",
        "ancestry of|contains the hotfix",
        single=True,
        quotes_reason=False,
    ),
    Family(
        "commit_mrs",
        TOGETHER,
        rf"/repository/commits/{SHA}/merge_requests$",
        "state",
        "MRs of commit|to their MRs",
        quotes_reason=False,
    ),
    Family(
        "pipelines",
        TOGETHER,
        r"/projects/evenergi/develop/pipelines$",
        "created_at",
        "pipelines of",
        pages=True,
    ),
    Family("jobs", TOGETHER, r"/pipelines/\d+/jobs$", "status", "jobs of pipeline", pages=True),
    Family(
        "bridges",
        TOGETHER,
        r"/pipelines/\d+/bridges$",
        "status",
        "trigger jobs of pipeline",
        pages=True,
    ),
    Family(
        "deployments",
        TOGETHER,
        r"/projects/evenergi/vemo-core/deployments$",
        "status",
        "deployments to staging|last deployment to staging",
        pages=True,
    ),
    Family(
        "diff",
        LOCAL_PICK,
        rf"/repository/commits/{SHA}/diff$",
        "diff",
        "diff of|patches could not be read",
        quotes_reason=False,
    ),
    # `check` reads deployments, not environments
    Family("environments", TOGETHER, r"/environments", "name", needed=False),
]

# fault -> what the reason in a summary says
FAULTS = {
    "403": r"\b403\b",
    "404": r"\b404\b",
    "500": r"\b500\b",
    "timeout": r"timed out",
    "malformed": r"not valid JSON",
    "truncated": r"cut off",
    "html": r"HTML page",
    "wrong_shape": r"expected (a list|an object)",
    "strings": r"is a string, expected an object",
    "drop_link": r"",
    "drop_next": r"links no next page",
    "lie_total": r"GitLab said \d+ items, \d+ were returned",
    "null": r"has no \w+",
    "redirect": r"redirected to",
}
LIST_ONLY = {"strings", "drop_link", "drop_next", "lie_total"}
NEEDS_TOTALS = {"drop_next", "lie_total"}


def _cells() -> list[Any]:
    cells = []
    for family in FAMILIES:
        for fault in FAULTS:
            if family.single and fault in LIST_ONLY:
                continue
            if not family.totals and fault in NEEDS_TOTALS:
                continue  # without totals a missing next page cannot be told from the last
            if family.fatal and fault in LIST_ONLY:
                continue
            cells.append(pytest.param(family, fault, id=f"{family.name}-{fault}"))
    return cells


# -- the worlds ---------------------------------------------------------------------------
@dataclass
class World:
    served: Served
    timeout_config: Path
    clean: tuple[int, Any]


def _result(doc: dict[str, Any]) -> Any:
    return [
        (
            p["service"],
            p["verdict"],
            [(f["rule"], f["status"], f["summary"]) for f in p["findings"]],
        )
        for p in doc["promotions"]
    ]


def _statuses(result: tuple[int, Any]) -> Any:
    code, promotions = result
    return code, [(s, v, [(rule, status) for rule, status, _ in f]) for s, v, f in promotions]


def _run(served: Served, config: Path) -> Any:
    env = {"GITLAB_TOKEN": served.world.token, "AUDITOR_CONFIG": ""}
    args = ["--config", str(config), "check", TARGET, "--format", "json"]
    args += ["--now", served.world.now.isoformat()]
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, World]]:
    opened = []
    built: dict[str, World] = {}
    for name in (TOGETHER, LOCAL_PICK, NEW_ENV):
        folder = tmp_path_factory.mktemp(Path(name).stem)
        gen = serve(name, folder)
        served = next(gen)
        opened.append(gen)
        slow = folder / "auditor-timeout.toml"
        slow.write_text(
            served.config.read_text().replace("[gitlab]\n", f"[gitlab]\ntimeout = {TIMEOUT}\n"),
            encoding="utf-8",
        )
        clean = _run(served, served.config)
        # the first deployment to an environment: what rode along is unknown (SH04)
        verdict, code = ("incomplete", 3) if name == NEW_ENV else ("compliant", 0)
        assert clean.exit_code == code, clean.output
        doc = json.loads(clean.stdout)
        assert [p["verdict"] for p in doc["promotions"]] == [verdict]
        built[name] = World(served, slow, (clean.exit_code, _result(doc)))
    yield built
    for gen in opened:
        gen.close()


def _break(faults: Faults, family: Family, fault: str, elsewhere: str) -> None:
    heal(faults)
    pattern = family.pattern
    if fault in ("403", "404", "500"):
        faults.fail_paths[pattern] = int(fault)
    elif fault == "timeout":
        faults.slow_paths[pattern] = SLOW
    elif fault in ("malformed", "truncated", "html", "wrong_shape", "strings"):
        faults.corrupt[pattern] = fault
    elif fault in ("drop_link", "drop_next"):
        getattr(faults, fault).append(pattern)
        faults.page_size[pattern] = 1
    elif fault == "lie_total":
        faults.lie_total[pattern] = 140
    elif fault == "null" and family.name == "compare":
        faults.drop_fields[pattern] = "commits"  # the case that read as "no commits"
    elif fault == "null":
        faults.null_fields[pattern] = family.null_field
    elif fault == "redirect":
        faults.redirect_to[pattern] = elsewhere
    else:
        raise AssertionError(fault)


@pytest.mark.parametrize(("family", "fault"), _cells())
def test_check_under_fault(
    family: Family,
    fault: str,
    worlds: dict[str, World],
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = worlds[family.world]
    served = world.served
    # One retry shows a failure is retried; a timeout is not retried, to keep the matrix
    # fast (tests/test_resilience.py runs the client's full retry budget).
    monkeypatch.setattr(AuditorGitlab, "max_retries", 0 if fault == "timeout" else 1)
    _break(served.server.faults, family, fault, recorder.url)
    served.server.reset_counts()
    recorder.seen.clear()
    try:
        result = _run(served, world.timeout_config if fault == "timeout" else served.config)
    finally:
        heal(served.server.faults)
    hits = [r for r in served.server.requests if re.search(family.pattern, r.unquoted_path)]

    assert result.exit_code != 70, result.output
    assert "Traceback" not in result.output
    assert recorder.seen == [], "a request left for the other host"
    assert not served.server.errors, served.server.errors[0]
    assert served.world.token not in result.output

    if family.fatal:
        assert result.exit_code == 4, result.output
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("auditor: error: "), result.stderr
        # a project that times out is GitLab unreachable; anything else names what failed
        assert "evenergi/vemo-core" in lines[0] or fault == "timeout", lines[0]
        assert re.search(FAULTS[fault], lines[0]), lines[0]
        return

    doc = json.loads(result.stdout)
    got = (result.exit_code, _result(doc))
    if fault == "drop_link" or (fault == "drop_next" and not family.pages):
        # pages followed by X-Next-Page, or one page with no next one to leave out
        assert got == world.clean, json.dumps(doc, indent=1)
        later_pages = [r for r in hits if r.query.get("page", ["1"])[0] != "1"]
        assert bool(later_pages) == (family.pages and fault == "drop_link")
        return
    if not family.needed:
        # the verdict does not rest on it: the same statuses (a summary may cite other
        # evidence, e.g. the pick's trailer instead of the system note naming its commit)
        assert _statuses(got) == _statuses(world.clean), json.dumps(doc, indent=1)
        return

    if fault != "timeout":  # a timed-out request is recorded only once the slow answer is out
        assert hits, f"{family.name} was never asked for"
    promotion = doc["promotions"][0]
    assert promotion["verdict"] == "incomplete", json.dumps(promotion, indent=1)
    assert result.exit_code == 3
    unknown = [f["summary"] for f in promotion["findings"] if f["status"] == "unknown"]
    assert any(re.search(family.named, s) for s in unknown), unknown
    if family.quotes_reason:
        assert any(re.search(FAULTS[fault], s) for s in unknown), unknown
    # a gap is never turned into a failure either
    clean_status = {rule: status for rule, status, _ in world.clean[1][0][2]}
    for f in promotion["findings"]:
        assert f["status"] in (clean_status[f["rule"]], "unknown"), f
