"""The command line's promises: one clear line and the contract's exit code for bad input,
the formats, and the read-only guard."""

from __future__ import annotations

import io
import json
import os
import socket
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gitlab
import pytest
import requests
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import load_settings
from auditor.gitlab.client import ReadOnlySession, ReadOnlyViolation, connect
from auditor.simulator.worlds import config_toml
from tests.conftest import Served, one_error_line


@pytest.mark.parametrize(
    "target",
    [
        "evenergi/vemo-core#1",
        "vemo-core!1",
        "evenergi/vemo-core!",
        "evenergi/vemo-core!0",
        "evenergi/vemo-core!12x",
    ],
)
def test_malformed_target_is_a_usage_error(by_the_book: Served, target: str) -> None:
    one_error_line(by_the_book.run("check", target), 2, "PROJECT!IID")


def test_unknown_service_is_a_usage_error(by_the_book: Served) -> None:
    result = by_the_book.run("check", "evenergi/vemo-core!1", "--service", "nope")
    one_error_line(result, 2, "unknown service 'nope'")


def test_service_of_another_project_is_a_usage_error(by_the_book: Served) -> None:
    result = by_the_book.run("check", "evenergi/vemo-core!1", "--service", "charge-api")
    one_error_line(result, 2, "charge-api")


def test_project_without_a_service_is_a_usage_error(by_the_book: Served) -> None:
    one_error_line(by_the_book.run("check", "evenergi/other!1"), 2, "evenergi/other")


def test_missing_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--config", str(tmp_path / "nope.toml"), "check", "a/b!1"],
        env={"GITLAB_TOKEN": "x"},
    )
    one_error_line(result, 2, "config file not found")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[gitlab\nurl=", "not valid TOML"),
        ('[gitlab]\nurl = "https://g"\n', "orchestration_project"),
        ('[gitlab]\nurl = "g.example"\norchestration_project = "a/b"\n', "http"),
        (
            '[gitlab]\nurl = "https://g"\ntoken = "glpat-x"\norchestration_project = "a/b"\n',
            "tokens do not belong",
        ),
        ('[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n', "[services.NAME]"),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n[policy]\nfoo = 1\n'
            '[services.x]\nproject = "a/x"\n',
            "unknown key 'foo' in [policy]",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n'
            '[services.x]\nproject = "a/x"\ngrace_period = "soon"\n',
            "not a duration",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\ntimeout = inf\n'
            '[services.x]\nproject = "a/x"\n',
            "timeout must be a number of seconds",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n'
            '[polcy]\ngoverned = false\n[services.x]\nproject = "a/x"\n',
            "unknown table [polcy] (did you mean policy?)",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n'
            '[services.x]\nproject = "a/x"\nrelease_job = "release {svc"\n',
            "services.x.release_job is not a valid template",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n'
            '[services.x]\nproject = "a/x"\npaths = [1, 2]\n',
            "services.x.paths must be a list of non-empty strings",
        ),
        (
            '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n'
            '[services.x]\nproject = "a/x"\ngrace_period = "365d"\n',
            "between 1m and 90d",
        ),
    ],
)
def test_invalid_config(tmp_path: Path, text: str, words: str) -> None:
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(text)
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "check", "a/x!1"], env={"GITLAB_TOKEN": "x"}
    )
    one_error_line(result, 2, words)


def test_missing_token_is_a_configuration_error(by_the_book: Served) -> None:
    result = CliRunner().invoke(
        app,
        ["--config", str(by_the_book.config), "check", "evenergi/vemo-core!1"],
        env={"GITLAB_TOKEN": "", "GITLAB_PRIVATE_TOKEN": ""},
    )
    one_error_line(result, 2, "GITLAB_TOKEN")


def test_wrong_token_is_gitlab_unusable_and_never_echoed(by_the_book: Served) -> None:
    result = by_the_book.run("check", "evenergi/vemo-core!1", token="glpat-wrong-secret-123")
    one_error_line(result, 4, "401")
    assert "glpat-wrong-secret-123" not in result.output


def test_unreachable_gitlab(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens there
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(config_toml(f"http://127.0.0.1:{port}", {"c": {"project": "a/c"}}))
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "check", "a/c!1"], env={"GITLAB_TOKEN": "t"}
    )
    one_error_line(result, 4, "unreachable")


def test_mr_that_does_not_exist(by_the_book: Served) -> None:
    one_error_line(by_the_book.run("check", "evenergi/vemo-core!999"), 4, "!999", "404")


def test_project_that_does_not_exist(tmp_path: Path, by_the_book: Served) -> None:
    cfg = tmp_path / "gone.toml"
    cfg.write_text(config_toml(by_the_book.url, {"gone": {"project": "evenergi/gone"}}))
    result = CliRunner().invoke(
        app,
        ["--config", str(cfg), "check", "evenergi/gone!1"],
        env={"GITLAB_TOKEN": by_the_book.world.token},
    )
    one_error_line(result, 4, "evenergi/gone")


def test_formats_and_output_file(by_the_book: Served, tmp_path: Path) -> None:
    now = by_the_book.world.now.isoformat()
    target = "evenergi/vemo-core!1"
    table = by_the_book.run("check", target, "--now", now)
    assert table.exit_code == 0
    assert "COMPLIANT" in table.stdout and "SH14" in table.stdout
    assert f"{by_the_book.url}/evenergi/vemo-core/-/merge_requests/1" in table.stdout
    # the timeline: one line per attempt, in every format for people
    assert "attempt 1 (validated): picked 5af387b0" in " ".join(table.stdout.split())
    md = by_the_book.run("check", target, "--format", "markdown", "--now", now)
    assert "| SH06 release-job-ran | pass |" in md.stdout.replace("**", "")
    assert "- attempt 1 (validated): picked 5af387b0" in md.stdout
    junit = by_the_book.run("check", target, "--format", "junit", "--now", now)
    assert junit.stdout.lstrip().startswith("<?xml") and "SH06 release-job-ran" in junit.stdout
    out = tmp_path / "report.json"
    written = by_the_book.run(
        "check", target, "--format", "json", "--output", str(out), "--now", now
    )
    assert written.exit_code == 0 and written.stdout == ""
    assert json.loads(out.read_text())["promotions"][0]["verdict"] == "compliant"
    bad = by_the_book.run("check", target, "--format", "yaml")
    one_error_line(bad, 2, "--format")


def test_token_never_in_any_output(by_the_book: Served) -> None:
    now = by_the_book.world.now.isoformat()
    for fmt in ("table", "json", "junit", "markdown"):
        result = by_the_book.run("check", "evenergi/vemo-core!1", "--format", fmt, "--now", now)
        assert by_the_book.world.token not in result.output


def test_config_in_utf16_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "auditor.toml"
    cfg.write_bytes(
        '[gitlab]\nurl = "https://g"\norchestration_project = "a/b"\n[services.x]\n'
        'project = "a/x"\n'.encode("utf-16")
    )
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "check", "a/x!1"], env={"GITLAB_TOKEN": "x"}
    )
    one_error_line(result, 2, "not UTF-8 (UTF-16)")


URL_SECRET = "glpat-url-secret-5150"


@pytest.mark.parametrize("command", [["check", "evenergi/vemo-core!1"], ["doctor"]])
@pytest.mark.parametrize("where", ["file", "GITLAB_URL", "CI_SERVER_URL"])
def test_credentials_in_the_url_are_refused_and_never_echoed(
    by_the_book: Served, tmp_path: Path, where: str, command: list[str]
) -> None:
    host = by_the_book.url.split("://", 1)[1]
    url = f"http://oauth2:{URL_SECRET}@{host}"
    cfg = tmp_path / "creds.toml"
    services = {"vemo-core": {"project": "evenergi/vemo-core"}}
    text = config_toml(url if where == "file" else "x", services)
    if where != "file":
        text = "\n".join(line for line in text.splitlines() if not line.startswith("url ="))
    cfg.write_text(text)
    env = {"GITLAB_TOKEN": by_the_book.world.token, "GITLAB_URL": "", "CI_SERVER_URL": ""}
    if where != "file":
        env[where] = url
    result = CliRunner().invoke(app, ["--config", str(cfg), *command], env=env)
    one_error_line(result, 2, "contains credentials", "GITLAB_TOKEN")
    assert URL_SECRET not in result.output
    assert by_the_book.server.requests == []  # refused before anything was sent


# -- output paths, checked before GitLab is asked anything -------------------------------
def _read_only_folder() -> Path | None:
    """/sys refuses new files even to root; None where it does not."""
    try:
        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink(name)
    return None


def _check_output(served: Served, output: Path) -> object:
    return served.run("check", "evenergi/vemo-core!1", "--format", "json", "--output", str(output))


def test_check_output_into_a_missing_folder(by_the_book: Served, tmp_path: Path) -> None:
    result = _check_output(by_the_book, tmp_path / "nope" / "report.json")
    one_error_line(result, 2, "--output", "does not exist", "create it first")
    assert by_the_book.server.requests == []


def test_check_output_onto_a_directory(by_the_book: Served, tmp_path: Path) -> None:
    result = _check_output(by_the_book, tmp_path)
    one_error_line(result, 2, "is a directory", "give a file name")
    assert by_the_book.server.requests == []


def test_check_output_under_a_file(by_the_book: Served, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = _check_output(by_the_book, tmp_path / "file" / "report.json")
    one_error_line(result, 2, "is not a folder")
    assert by_the_book.server.requests == []


def test_check_output_into_a_read_only_folder(by_the_book: Served) -> None:
    folder = _read_only_folder()
    if folder is None:
        pytest.skip("/sys accepts new files here")
    result = _check_output(by_the_book, folder / "report.json")
    one_error_line(result, 2, "cannot write in /sys")
    assert by_the_book.server.requests == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder")
def test_check_output_into_a_folder_without_write_permission(
    by_the_book: Served, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = _check_output(by_the_book, folder / "report.json")
    finally:
        folder.chmod(0o755)
    one_error_line(result, 2, "cannot write in", "Permission denied")
    assert by_the_book.server.requests == []


def test_sweep_out_onto_a_file_is_refused_before_gitlab(
    by_the_book: Served, tmp_path: Path
) -> None:
    target = tmp_path / "reports"
    target.write_text("not a folder")
    db = tmp_path / "auditor.db"
    result = by_the_book.run("sweep", "--since", "7d", "--db", str(db), "--out", str(target))
    one_error_line(result, 2, "--out", "is not a folder")
    assert by_the_book.server.requests == []
    assert not db.exists()


def test_sweep_out_into_a_read_only_folder(by_the_book: Served, tmp_path: Path) -> None:
    folder = _read_only_folder()
    if folder is None:
        pytest.skip("/sys accepts new files here")
    db = tmp_path / "auditor.db"
    result = by_the_book.run(
        "sweep", "--since", "7d", "--db", str(db), "--out", str(folder / "reports" / "week")
    )
    one_error_line(result, 2, "--out", "cannot write in /sys")
    assert by_the_book.server.requests == [] and not db.exists()


def test_signoff_output_onto_a_directory_is_refused_before_gitlab(
    by_the_book: Served, tmp_path: Path
) -> None:
    result = by_the_book.run(
        "signoff", "--service", "vemo-core", "--db", str(tmp_path / "none.db"),
        "--output", str(tmp_path),
    )  # fmt: skip
    one_error_line(result, 2, "--output", "is a directory")
    assert by_the_book.server.requests == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "json", "--output", "{tmp}/missing/report.json"], "does not exist"),
        (["--out", "{tmp}/file/reports"], "is not a folder"),
    ],
)
def test_report_output_checked_first(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "file").write_text("x")
    argv = ["report", "--db", str(tmp_path / "none.db")]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in args]
    # the output is named, not the missing store: it is checked before anything is read
    one_error_line(CliRunner().invoke(app, argv), 2, words)


def test_history_csv_neutralises_formulas(tmp_path: Path) -> None:
    import pandas as pd

    from auditor.findings import MRSummary, PromotionResult, Verdict
    from auditor.store import EvidenceStore

    formulas = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx"]
    at = datetime(2026, 11, 20, tzinfo=UTC)
    db = tmp_path / "auditor.db"
    with EvidenceStore(db) as store:
        run = store.begin_run(
            window_from=at,
            window_to=at + timedelta(days=7),
            services=["vemo-core"],
            config_sha256="c" * 64,
            rulebook_sha256="r" * 64,
            tool_version="0.1.0",
            gitlab_url="https://gitlab.example.com",
        )
        for iid, title in enumerate(formulas, start=1):
            mr = MRSummary("evenergi/vemo-core", iid, title, f"https://g/mr/{iid}", at)
            store.record_promotion(run, PromotionResult(mr, "vemo-core", Verdict.COMPLIANT, ()))
        store.finish_run(run, status="complete", requests=0, coverage={}, summary={})
    result = CliRunner().invoke(app, ["history", "--db", str(db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert sorted(frame["title"]) == sorted("'" + t for t in formulas)


# -- the read-only guard ------------------------------------------------------------------
def test_guard_refuses_every_write_before_it_reaches_the_network(by_the_book: Served) -> None:
    settings = load_settings(by_the_book.config, {"GITLAB_TOKEN": by_the_book.world.token})
    session = ReadOnlySession()
    gl = connect(settings, session)
    mr = gl.projects.get("evenergi/vemo-core", lazy=True).mergerequests.get(1, lazy=True)
    by_the_book.server.reset_counts()
    attempts = [
        lambda: mr.approve(),
        lambda: mr.notes.create({"body": "hi"}),
        lambda: gl.http_post("/projects/1/repository/commits/abc/cherry_pick", {"branch": "x"}),
        lambda: gl.http_put("/projects/1", {"name": "x"}),
        lambda: gl.http_delete("/personal_access_tokens/self"),
        lambda: session.request("PATCH", by_the_book.url + "/api/v4/projects/1"),
        lambda: session.send(requests.Request("POST", by_the_book.url + "/api/v4/x").prepare()),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyViolation):
            attempt()
    assert by_the_book.server.requests == []
    # reads still work through the same client
    assert gl.projects.get("evenergi/vemo-core").path_with_namespace == "evenergi/vemo-core"
    assert [r.method for r in by_the_book.server.requests] == ["GET"]


def test_client_always_has_a_timeout_and_retries(by_the_book: Served) -> None:
    settings = load_settings(by_the_book.config, {"GITLAB_TOKEN": by_the_book.world.token})
    gl = connect(settings)
    assert isinstance(gl, gitlab.Gitlab)
    assert gl.timeout == settings.timeout > 0
    assert gl.retry_transient_errors is True


def test_help_for_every_command() -> None:
    runner = CliRunner()
    for args in (
        ["--help"],
        ["check", "--help"],
        ["sweep", "--help"],
        ["history", "--help"],
        ["report", "--help"],
        ["verify", "--help"],
        ["signoff", "--help"],
        ["doctor", "--help"],
        ["demo", "--help"],
        ["simulator", "serve", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output


def test_services_outside_the_changed_paths_are_skipped_unless_named(tmp_path: Path) -> None:
    from tests.conftest import serve

    for served in serve("monorepo_paths", tmp_path):
        now = served.world.now.isoformat()
        result = served.run("check", "evenergi/vemo!1", "--format", "json", "--now", now)
        assert [p["service"] for p in json.loads(result.stdout)["promotions"]] == ["vemo-core"]
        assert "vemo-worker: skipped" in result.stderr
        named = served.run(
            "check", "evenergi/vemo!1", "--service", "vemo-worker", "--format", "json", "--now", now
        )
        promotions = json.loads(named.stdout)["promotions"]
        assert [p["service"] for p in promotions] == ["vemo-worker"]
        assert promotions[0]["verdict"] == "non_compliant"  # its release job never ran


def test_demo_audits_three_mrs_and_shows_each_verdict(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path / "demo")], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    for text in (
        "evenergi/vemo-core!1",
        "evenergi/charge-api!1",
        "evenergi/vemo-core!2",
        "1 COMPLIANT",
        "1 NON-COMPLIANT",
        "1 IN PROGRESS",
    ):
        assert text in result.stdout, text
    assert "glpat-" not in result.stdout
    # and it ends by writing the week's reports
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    for name in ("index.html", "vemo-core.html", "vemo-core.pdf", "charge-api.pdf"):
        assert name in written
    assert "open " in result.stdout and "index.html" in result.stdout
    # its GitLab stopped with the demo: the reports say so and link to no dead port
    for name in ("index.html", "vemo-core.html", "charge-api.html"):
        html = (tmp_path / "demo" / name).read_text(encoding="utf-8")
        assert "was <strong>simulated</strong>" in html, name
        assert 'href="http' not in html, name


def test_simulator_serve_prints_url_and_token_and_serves_python_gitlab() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "simulator", "serve", "--world", "by_the_book"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url, token = proc.stdout.readline().split()
        assert url.startswith("http://127.0.0.1:")
        gl = gitlab.Gitlab(url, private_token=token)
        project = gl.projects.get("evenergi/vemo-core")
        assert project.default_branch == "main"
        assert [m.iid for m in project.mergerequests.list(get_all=True)] == [1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
