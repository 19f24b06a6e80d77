"""The sign-off use case (`auditor.signoff_run.sign_off`) over a recording fake source.

The settings point at a closed port, so a read made around the source (python-gitlab or
requests used directly) could not answer; every GitLab read must appear in the fake's call
log, in the order the sign-off needs them. The module's imports are checked too: no HTTP
client, no python-gitlab, no store.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from auditor.config import Service, Settings
from auditor.evidence import Commit, Deployment, Unavailable
from auditor.findings import Verdict
from auditor.gitlab.source import GitLabUnusable
from auditor.release_line import CutOff, SweepExtras
from auditor.signoff import StagingDeployment, signoff_exit_code
from auditor.signoff_run import AuditedRun, sign_off
from tests.test_signoff import AFTER, AUDITED, BEFORE, CUT_OFF, GITLAB, SERVICE, H, promotion
from tests.test_signoff import report as make_report

PROJECT = "evenergi/vemo-core"
NOW = AUDITED + H
SETTINGS = Settings(
    url="http://127.0.0.1:9",  # nothing listens: only the fake source can answer
    token="t",
    orchestration_project="evenergi/orchestration",
    services={SERVICE: Service(SERVICE, PROJECT)},
)
RELEASE = "feedface" * 5


def deployment(sha: str = "da706369aeb9") -> Deployment:
    return Deployment(
        id=702,
        iid=2,
        environment="staging",
        status="success",
        sha=sha,
        ref="release",
        created_at=AUDITED - 3 * H,
        updated_at=AUDITED - 2 * H,
        finished_at=AUDITED - 2 * H,
        deployable_id=9,
        deployable_name="deploy",
        pipeline_id=5,
        web_url=f"{GITLAB}/e/v/-/jobs/9",
    )


@dataclass
class FakeSource:
    """Answers a sign-off's reads from fixed values and logs every call."""

    staging: Deployment | None | Unavailable = field(default_factory=deployment)
    release: Commit | Unavailable | None = None
    carried: frozenset[str] = frozenset()  # picks the release commit contains
    calls: list[tuple[object, ...]] = field(default_factory=list)

    def project(self, path: str) -> object:
        self.calls.append(("project", path))
        return {"id": 1, "path_with_namespace": path}

    def commit(self, path: str, sha: str) -> Commit | Unavailable:
        self.calls.append(("commit", path, sha))
        assert self.release is not None, "the sign-off asked for a commit it was not given"
        return self.release

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable:
        self.calls.append(("is_ancestor", path, ancestor, descendant))
        return ancestor in self.carried

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable:
        self.calls.append(("last_successful_deployment", path, environment, before))
        return self.staging


def audited(*, status: str = "complete", gitlab_url: str = "http://127.0.0.1:9") -> AuditedRun:
    early = promotion(1, Verdict.COMPLIANT, BEFORE)  # before the cut-off
    late = promotion(2, Verdict.NON_COMPLIANT, AFTER)
    cut = CutOff("evenergi/orchestration", 1, 2, CUT_OFF, "rm")
    return AuditedRun(
        id=7,
        status=status,
        finished=status in ("complete", "incomplete"),
        gitlab_url=gitlab_url,
        window_end=AUDITED,
        staging_seen=702,
        report=make_report(early, late),
        extras=SweepExtras(cut_offs=(cut,)),
    )


def test_reads_staging_through_the_source_and_scopes_from_the_last_cut_off() -> None:
    source = FakeSource()
    ctx = sign_off(
        audited(), source, SETTINGS, service=SERVICE, configured_url="http://127.0.0.1:9", now=NOW
    )
    assert source.calls == [
        ("project", PROJECT),
        ("last_successful_deployment", PROJECT, "staging", NOW),
    ]
    assert ctx.since == CUT_OFF  # the run's last cut-off, not the whole audit
    assert [p.mr.iid for p in ctx.promotions] == [2]
    assert ctx.staging == StagingDeployment.from_deployment(deployment())
    assert ctx.run_issues == () and ctx.staging_issues == ()
    assert signoff_exit_code(ctx) == 1  # the non-compliant promotion blocks


def test_from_overrides_the_cut_off() -> None:
    ctx = sign_off(
        audited(),
        FakeSource(),
        SETTINGS,
        service=SERVICE,
        configured_url="http://127.0.0.1:9",
        now=NOW,
        since=BEFORE - H,
    )
    assert [p.mr.iid for p in ctx.promotions] == [1, 2]


def test_release_keeps_what_it_carries_and_asks_gitlab_only_through_the_source() -> None:
    commit = Commit(RELEASE, RELEASE[:8], "Release", "Release", (), None, None, "")
    source = FakeSource(release=commit, carried=frozenset())  # the release carries no pick
    ctx = sign_off(
        audited(),
        source,
        SETTINGS,
        service=SERVICE,
        configured_url="http://127.0.0.1:9",
        now=NOW,
        release=RELEASE[:12],
    )
    assert source.calls[:2] == [("project", PROJECT), ("commit", PROJECT, RELEASE[:12])]
    assert ("is_ancestor", PROJECT, "abc", RELEASE) in source.calls
    assert source.calls[-1] == ("last_successful_deployment", PROJECT, "staging", NOW)
    assert ctx.since is None and ctx.promotions == ()  # neither pick is in the release
    carried = sign_off(
        audited(),
        FakeSource(release=commit, carried=frozenset({"abc"})),
        SETTINGS,
        service=SERVICE,
        configured_url="http://127.0.0.1:9",
        now=NOW,
        release=RELEASE[:12],
    )
    assert [p.mr.iid for p in carried.promotions] == [1, 2]  # no cut-off with --release


def test_a_release_gitlab_does_not_give_is_exit_4_not_a_sign_off_of_everything() -> None:
    source = FakeSource(release=Unavailable("commit", "not found (404)"))
    with pytest.raises(GitLabUnusable, match="does not give it as a commit"):
        sign_off(
            audited(),
            source,
            SETTINGS,
            service=SERVICE,
            configured_url="http://127.0.0.1:9",
            now=NOW,
            release="deadbeef",
        )
    assert [c[0] for c in source.calls] == ["project", "commit"]


def test_staging_that_cannot_be_read_blocks_and_an_unreachable_gitlab_is_exit_4() -> None:
    denied = FakeSource(staging=Unavailable("deployments", "permission denied (403)"))
    ctx = sign_off(
        audited(), denied, SETTINGS, service=SERVICE, configured_url="http://127.0.0.1:9", now=NOW
    )
    assert ctx.staging is None and ctx.staging_issues
    down = FakeSource(staging=Unavailable("deployments", "connection failed (connection refused)"))
    with pytest.raises(GitLabUnusable, match="is unreachable"):
        sign_off(
            audited(), down, SETTINGS, service=SERVICE, configured_url="http://127.0.0.1:9", now=NOW
        )


def test_an_unfinished_run_or_one_of_another_gitlab_is_a_run_issue() -> None:
    ctx = sign_off(
        audited(status="running", gitlab_url="https://other.example.com/"),
        FakeSource(),
        SETTINGS,
        service=SERVICE,
        configured_url="http://127.0.0.1:9/",
        now=NOW,
    )
    assert len(ctx.run_issues) == 2
    assert "run 7 is running" in ctx.run_issues[0]
    assert "audited https://other.example.com, not the configured GitLab" in ctx.run_issues[1]


def test_the_use_case_imports_no_http_client_and_no_store() -> None:
    import auditor.signoff_run as module

    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    forbidden = {"gitlab", "requests", "urllib3", "auditor.gitlab.client", "auditor.store"}
    assert not {name for name in imported if name.split(".")[0] in forbidden or name in forbidden}
