"""`auditor doctor` through python-gitlab over HTTP against the simulator: one line per check,
exit 0 with warnings allowed, 4 when GitLab cannot be used or a needed read is refused, 2 for
a bad config; read-only, and the token never printed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import load_settings
from auditor.doctor import CheckStatus, Doctor, exit_code
from auditor.gitlab.probe import Probe
from auditor.simulator.worlds import config_toml
from tests.conftest import Served, serve

LINE_STATUSES = ("ok", "warn", "fail")


@pytest.fixture
def two_services(tmp_path: Path) -> Iterator[Served]:
    # vemo-core has an MR (so its notes, approvals and label events are tried); both
    # services and the orchestration project are configured
    yield from serve("by_the_book", tmp_path)


def _lines(result: Any) -> dict[str, tuple[str, str]]:
    """`what -> (status, detail)` for every check line; asserts the line shape."""
    checks: dict[str, tuple[str, str]] = {}
    out = [line for line in result.stdout.splitlines() if line.strip()]
    assert out[-1].startswith("doctor: "), result.stdout
    for line in out[:-1]:
        status, _, rest = line.partition(" ")
        assert status in LINE_STATUSES, line
        what, _, detail = rest.strip().partition(": ")
        assert detail, line
        checks[what] = (status, detail)
    return checks


def _doctor(served: Served, *args: str, token: str | None = None) -> Any:
    # as of the world's clock, so that the token's expiry is never "soon" by accident
    return served.run(*args, "doctor", "--now", served.world.now.isoformat(), token=token)


def _no_secret(served: Served, result: Any, token: str | None = None) -> None:
    secret = token or served.world.token
    assert secret not in result.stdout and secret not in result.stderr
    assert "Traceback" not in result.output


def test_everything_readable_is_ok_and_only_cheap_gets(two_services: Served) -> None:
    result = _doctor(two_services)
    assert result.exit_code == 0, result.output
    checks = _lines(result)
    assert checks["connectivity"][0] == "ok" and "GitLab 18" in checks["connectivity"][1]
    expires = (two_services.world.now + timedelta(days=335)).date().isoformat()
    assert checks["token"] == ("ok", f"'auditor' with scopes read_api, expires {expires}")
    for family in (
        "merge requests",
        "MR approvals",
        "MR notes",
        "MR label events",
        "repository",
        "pipelines",
        "jobs",
        "deployments",
    ):
        assert checks[f"evenergi/vemo-core {family}"][0] == "ok", family
    assert checks["vemo-core staging environment"][0] == "ok"
    assert checks["vemo-core release branch"][0] == "ok"
    assert checks["evenergi/develop (orchestration)"][0] == "ok"
    assert checks["evenergi/develop pipelines"][0] == "ok"
    assert checks["evenergi/develop jobs"][0] == "ok"
    # charge-api has no MR yet: what could not be tried is a warning, not an ok
    assert checks["evenergi/charge-api MR approvals, notes, label events"][0] == "warn"
    assert "0 failed" in result.stdout
    _no_secret(two_services, result)
    requests = two_services.server.requests
    assert requests and {r.method for r in requests} == {"GET"}
    lists = [r for r in requests if r.unquoted_path.endswith(("/merge_requests", "/jobs"))]
    assert lists and all(r.query.get("per_page") == ["1"] for r in lists)


@pytest.mark.parametrize(
    ("scopes", "shown"),
    [(["api"], "api"), (["read_api", "write_repository"], "write_repository")],
)
def test_a_token_with_more_than_read_api_is_a_warning(
    two_services: Served, scopes: list[str], shown: str
) -> None:
    two_services.world.token_scopes = scopes
    result = _doctor(two_services)
    assert result.exit_code == 0, result.output
    status, detail = _lines(result)["token"]
    assert status == "warn" and f"more than read_api ({shown})" in detail
    assert "only read_api" in detail
    _no_secret(two_services, result)


def test_a_token_that_cannot_read_the_api_fails(two_services: Served) -> None:
    two_services.world.token_scopes = ["read_repository"]
    result = _doctor(two_services)
    assert result.exit_code == 4, result.output
    status, detail = _lines(result)["token"]
    assert status == "fail" and "read_api" in detail
    # nothing further is claimed once the token cannot read
    assert not any("evenergi/" in line for line in result.stdout.splitlines()[:-1])


@pytest.mark.parametrize(
    ("family", "line"),
    [
        ("merge_requests", "evenergi/vemo-core merge requests"),
        ("approvals", "evenergi/vemo-core MR approvals"),
        ("notes", "evenergi/vemo-core MR notes"),
        ("label_events", "evenergi/vemo-core MR label events"),
        ("repository", "evenergi/vemo-core repository"),
        ("pipelines", "evenergi/vemo-core pipelines"),
        ("jobs", "evenergi/vemo-core jobs"),
        ("environments", "vemo-core staging environment"),
        ("deployments", "evenergi/vemo-core deployments"),
    ],
)
def test_a_forbidden_read_fails_and_names_what_to_do(
    two_services: Served, family: str, line: str
) -> None:
    two_services.world.projects["evenergi/vemo-core"].forbidden.add(family)
    result = _doctor(two_services)
    assert result.exit_code == 4, result.output
    checks = _lines(result)
    status, detail = checks[line]
    assert status == "fail" and "403" in detail and "Reporter access" in detail
    assert "evenergi/vemo-core" in detail
    # the other project is still checked and fine
    assert checks["evenergi/charge-api deployments"][0] == "ok"
    failed = [what for what, (status, _) in checks.items() if status == "fail"]
    # a forbidden repository also hides the release branch; nothing else fails
    assert failed == [line, "vemo-core release branch"] if family == "repository" else [line]


def test_the_orchestration_projects_pipelines_and_jobs_are_required(
    two_services: Served,
) -> None:
    two_services.world.projects["evenergi/develop"].forbidden.add("jobs")
    result = _doctor(two_services)
    assert result.exit_code == 4, result.output
    checks = _lines(result)
    assert checks["evenergi/develop jobs"][0] == "fail"
    assert checks["evenergi/develop pipelines"][0] == "ok"


def test_a_misnamed_staging_environment_is_a_warning(tmp_path: Path, two_services: Served) -> None:
    cfg = tmp_path / "misnamed.toml"
    cfg.write_text(
        config_toml(
            two_services.url,
            {"vemo-core": {"project": "evenergi/vemo-core", "staging_environment": "stagging"}},
        )
    )
    result = _doctor(two_services, "--config", str(cfg))
    assert result.exit_code == 0, result.output
    status, detail = _lines(result)["vemo-core staging environment"]
    assert status == "warn" and "'stagging'" in detail and "staging_environment" in detail


def test_a_project_that_does_not_exist_fails(tmp_path: Path, two_services: Served) -> None:
    cfg = tmp_path / "gone.toml"
    cfg.write_text(config_toml(two_services.url, {"gone": {"project": "evenergi/gone"}}))
    result = _doctor(two_services, "--config", str(cfg))
    assert result.exit_code == 4, result.output
    status, detail = _lines(result)["evenergi/gone (service gone)"]
    assert status == "fail" and "404" in detail and "Reporter" in detail


def test_a_wrong_token_fails_at_once_and_is_never_echoed(two_services: Served) -> None:
    wrong = "glpat-wrong-doctor-secret-42"
    result = _doctor(two_services, token=wrong)
    assert result.exit_code == 4, result.output
    checks = _lines(result)
    assert list(checks) == ["token"]
    assert checks["token"][0] == "fail" and "401" in checks["token"][1]
    _no_secret(two_services, result, wrong)


def test_an_unreachable_gitlab_fails_connectivity(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(config_toml(f"http://127.0.0.1:{port}", {"c": {"project": "a/c"}}))
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "doctor"], env={"GITLAB_TOKEN": "glpat-unreach-secret"}
    )
    assert result.exit_code == 4, result.output
    checks = _lines(result)
    assert list(checks) == ["connectivity"]
    assert checks["connectivity"][0] == "fail" and "cannot be reached" in checks["connectivity"][1]
    assert "glpat-unreach-secret" not in result.output


def test_a_bad_config_is_exit_2_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(
        '[gitlab]\nurl = "https://g.example"\norchestration_project = "a/b"\n'
        '[polcy]\ngoverned = false\n[services.x]\nproject = "a/x"\n'
    )
    result = CliRunner().invoke(app, ["--config", str(cfg), "doctor"], env={"GITLAB_TOKEN": "t"})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "did you mean policy?" in result.stderr


# -- the decisions GitLab's simulator has no knob for, over hand-made answers --------------
class _Answers:
    """A prober answering by path prefix; everything else is an empty readable list."""

    def __init__(self, answers: dict[str, Probe]) -> None:
        self.answers = answers

    def __call__(self, path: str, query: dict[str, Any]) -> Probe:
        for prefix, answer in self.answers.items():
            if path.startswith(prefix):
                return answer
        if path.startswith("/projects/") and path.count("/") == 2:
            return Probe(200, {"id": 1, "default_branch": "main"})
        if "/repository/branches/" in path:
            return Probe(200, {"name": "release"})
        if "/environments" in path:
            return Probe(200, [{"name": "staging"}])
        return Probe(200, [])


def _settings(tmp_path: Path) -> Any:
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(config_toml("https://gitlab.example.com", {"c": {"project": "a/c"}}))
    return load_settings(cfg, {"GITLAB_TOKEN": "t"})


TODAY = date(2026, 11, 20)
VERSION = Probe(200, {"version": "18.6.0"})


@pytest.mark.parametrize(
    ("token", "status", "words"),
    [
        (Probe(404, None, "HTTP 404"), CheckStatus.warn, "15.5"),
        (Probe(403, None, "HTTP 403"), CheckStatus.fail, "read_api"),
        (Probe(200, {"scopes": ["read_api"], "revoked": True}), CheckStatus.fail, "revoked"),
        (Probe(200, {"scopes": ["read_api"], "active": False}), CheckStatus.fail, "inactive"),
        (Probe(200, {"scopes": "read_api"}), CheckStatus.warn, "names no scopes"),
        (
            Probe(200, {"scopes": ["read_api"], "expires_at": "2026-11-25"}),
            CheckStatus.warn,
            "expires on 2026-11-25",
        ),
        (
            Probe(200, {"scopes": ["read_api"], "expires_at": None}),
            CheckStatus.ok,
            "never expires",
        ),
        (Probe(200, None, "the answer is not JSON"), CheckStatus.warn, "not JSON"),
    ],
)
def test_token_answers(tmp_path: Path, token: Probe, status: CheckStatus, words: str) -> None:
    checks = Doctor(
        _settings(tmp_path),
        _Answers({"/version": VERSION, "/personal_access_tokens/self": token}),
        TODAY,
    ).run()
    found = next(c for c in checks if c.what == "token")
    assert found.status is status and words in found.detail, found
    assert exit_code(checks) == (4 if status is CheckStatus.fail else 0)


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (Probe(404, None, "HTTP 404"), "not with GitLab's API"),
        (Probe(200, None, "the answer is not JSON"), "does not answer like GitLab"),
        (Probe(502, None, "HTTP 502"), "does not answer like GitLab"),
    ],
)
def test_something_that_is_not_gitlab_fails_connectivity(
    tmp_path: Path, version: Probe, words: str
) -> None:
    checks = Doctor(_settings(tmp_path), _Answers({"/version": version}), TODAY).run()
    assert [c.what for c in checks] == ["connectivity"]
    assert checks[0].status is CheckStatus.fail and words in checks[0].detail


def test_a_list_that_is_not_a_list_fails(tmp_path: Path) -> None:
    checks = Doctor(
        _settings(tmp_path),
        _Answers(
            {
                "/version": VERSION,
                "/personal_access_tokens/self": Probe(200, {"scopes": ["read_api"]}),
                "/projects/1/deployments": Probe(200, {"message": "ok"}),
            }
        ),
        datetime(2026, 11, 20, tzinfo=UTC).date(),
    ).run()
    found = next(c for c in checks if c.what == "a/c deployments")
    assert found.status is CheckStatus.fail and "not a list" in found.detail
    assert exit_code(checks) == 4
