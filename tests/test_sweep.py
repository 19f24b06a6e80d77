"""`auditor sweep` and `auditor history` against simulated worlds over real HTTP: what it
finds, what it keeps, how little it asks the second time, and how it survives a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from auditor.report.json_report import load_schema
from auditor.store import EvidenceStore
from auditor.sweep import SweepResult
from tests.conftest import Served, serve

WEEK = ("--from", "2026-11-16", "--to", "2026-11-22")


def sweep(served: Served, db: Path, *extra: str) -> tuple[int, dict]:
    result = served.run(
        "sweep",
        *WEEK,
        "--db",
        str(db),
        "--format",
        "json",
        "--now",
        served.world.now.isoformat(),
        *extra,
    )
    assert result.stdout.strip(), result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, load_schema())
    return result.exit_code, doc


def verdicts(doc: dict) -> dict[tuple[str, int, str], str]:
    return {
        (p["mr"]["project"], p["mr"]["iid"], p["service"]): p["verdict"] for p in doc["promotions"]
    }


def statuses(doc: dict) -> dict[tuple[str, int, str], list[tuple[str, str, str]]]:
    return {
        (p["mr"]["project"], p["mr"]["iid"], p["service"]): [
            (f["rule"], f["status"], f["summary"]) for f in p["findings"]
        ]
        for p in doc["promotions"]
    }


@pytest.fixture(scope="module")
def long_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve("long_history", tmp_path_factory.mktemp("long"))


def test_sweep_finds_promotions_reverts_and_cut_offs(tmp_path: Path) -> None:
    for served in serve("failed_reverted_corrected", tmp_path):
        code, doc = sweep(served, tmp_path / "a.db")
        assert verdicts(doc) == {
            ("evenergi/vemo-core", 1, "vemo-core"): "compliant",
            ("evenergi/vemo-core", 2, "vemo-core"): "compliant",
        }
        assert code == 0
        assert doc["drift"] == []
        assert [(c["project"], c["by"]) for c in doc["cut_offs"]] == [
            ("evenergi/develop", "maria.release")
        ]
        # the same verdicts and statuses as auditing each MR on its own
        for target in ("evenergi/vemo-core!1", "evenergi/vemo-core!2"):
            _, single = served.check_json(target)
            key = next(iter(statuses(single)))
            assert statuses(single)[key] == statuses(doc)[key]


def test_sweep_reports_drift(tmp_path: Path) -> None:
    for served in serve("extra_commit_on_release", tmp_path):
        code, doc = sweep(served, tmp_path / "a.db")
        assert [d["title"] for d in doc["drift"]] == ["Tweak retry limits"]
        assert doc["drift"][0]["service"] == "vemo-core"
        assert verdicts(doc) == {("evenergi/vemo-core", 1, "vemo-core"): "non_compliant"}
        assert code == 1
        text = served.run(
            "sweep", *WEEK, "--db", str(tmp_path / "a.db"), "--now", served.world.now.isoformat()
        )
        assert "Drift" in text.stdout and "Tweak retry limits" in text.stdout
        assert "SH04 release-scope-clean fail" in text.stdout


def test_second_sweep_of_an_unchanged_window_asks_little(
    long_world: Served, tmp_path: Path
) -> None:
    db = tmp_path / "a.db"
    long_world.server.reset_counts()
    _, first = sweep(long_world, db)
    first_requests = len(long_world.server.requests)
    long_world.server.reset_counts()
    _, second = sweep(long_world, db)
    second_requests = len(long_world.server.requests)
    assert len(first["promotions"]) > 100
    assert statuses(second) == statuses(first)
    assert second_requests < 0.10 * first_requests, (first_requests, second_requests)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve("synthetic_small", tmp_path_factory.mktemp("small"))


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_requests_in_flight_and_changes_no_count(
    small_world: Served, tmp_path: Path, concurrency: int
) -> None:
    """`--concurrency N`: at most N requests in flight, however the sweep splits its work
    (three services, prefetched job lists and compares, promotions side by side), and the
    same requests as one worker makes."""
    world = small_world.world
    window = world.expect["window"]  # type: ignore[attr-defined]
    args = ["--from", window["from"], "--to", window["to"], "--format", "json"]
    args += ["--now", world.now.isoformat()]

    def run(db: Path, workers: int) -> tuple[dict, list, int]:
        small_world.server.reset_counts()
        result = small_world.run("sweep", *args, "--db", str(db), "--concurrency", str(workers))
        asked = sorted((r.path, sorted(r.query.items())) for r in small_world.server.requests)
        return json.loads(result.stdout), asked, small_world.server.max_in_flight

    small_world.server.faults.latency = 0.01  # so that requests overlap when they can
    try:
        doc, asked, peak = run(tmp_path / "a.db", concurrency)
    finally:
        small_world.server.faults.latency = 0.0
    assert peak <= concurrency
    if concurrency > 1:
        assert peak > 1, "nothing was asked side by side"
    alone, asked_alone, _ = run(tmp_path / "b.db", 1)
    assert asked == asked_alone
    assert statuses(alone) == statuses(doc)


def test_store_keeps_the_evidence_and_history_reads_it(long_world: Served, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    code, doc = sweep(long_world, db)
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    with EvidenceStore(db) as store:
        assert store.integrity_ok()
        assert store.response_count() > 100
        (run,) = store.runs()
        assert run.status == "complete"
        stored = store.report(run.id)
        # every promotion names the GitLab responses its findings rest on, all kept
        rows = store.promotions(run_id=run.id)
        assert all(r["evidence_sha256"] for r in rows)
        digests = {d for r in rows for d in r["evidence_sha256"]}
        assert all(store.response(d) is not None for d in list(digests)[:50])
        assert {
            (p.mr.project, p.mr.iid, p.service): p.verdict.value for p in stored.promotions
        } == verdicts(doc)
    token = long_world.world.token
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("a.db-*"))
    assert token.encode() not in raw
    # history, without GitLab: no config, no token
    listed = long_world.run("history", "--db", str(db), "--format", "json")
    assert listed.exit_code == 0
    assert len(json.loads(listed.stdout)) == len(doc["promotions"])
    compliant = long_world.run(
        "history", "--db", str(db), "--verdict", "compliant", "--format", "csv"
    )
    lines = compliant.stdout.strip().splitlines()
    assert lines[0].startswith("run_id,project,iid,service,verdict")
    assert len(lines) - 1 == sum(1 for v in verdicts(doc).values() if v == "compliant")
    sh02 = long_world.run("history", "--db", str(db), "--rule", "SH02", "--format", "json")
    rows = json.loads(sh02.stdout)
    assert rows and all(
        any(f["rule"] == "SH02" and f["status"] in ("fail", "unknown") for f in r["findings"])
        for r in rows
    )
    runs = long_world.run("history", "--db", str(db), "--runs")
    assert "complete" in runs.stdout


def test_a_killed_sweep_resumes_to_the_same_result(long_world: Served, tmp_path: Path) -> None:
    reference_db, db = tmp_path / "reference.db", tmp_path / "killed.db"
    _, reference = sweep(long_world, reference_db)
    long_world.server.faults.latency = 0.02
    cmd = [
        sys.executable,
        "-m",
        "auditor",
        "--config",
        str(long_world.config),
        "sweep",
        *WEEK,
        "--db",
        str(db),
        "--format",
        "json",
        "--concurrency",
        "2",
        "--now",
        long_world.world.now.isoformat(),
    ]
    env = {**os.environ, "GITLAB_TOKEN": long_world.world.token}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _promotions_recorded(db) < 10:
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        long_world.server.faults.latency = 0.0
        if proc.poll() is None:
            proc.kill()
    with EvidenceStore(db) as store:
        assert store.integrity_ok()
        (killed_run,) = store.runs()
        assert killed_run.status == "running"
    long_world.server.reset_counts()
    code, resumed = sweep(long_world, db)
    assert statuses(resumed) == statuses(reference)
    with EvidenceStore(db) as store:
        assert store.integrity_ok()
        runs = store.runs()
        assert [r.id for r in runs] == [killed_run.id]  # continued, not duplicated
        assert runs[0].status == "complete"
        rows = store.promotions(run_id=killed_run.id)
        keys = Counter((r["project"], r["iid"], r["service"]) for r in rows)
        assert len(keys) == len(reference["promotions"]) and max(keys.values()) == 1


def _promotions_recorded(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM promotions").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_rate_limits_and_errors_change_nothing_and_gaps_stay_unknown(tmp_path: Path) -> None:
    for served in serve("failed_reverted_corrected", tmp_path):
        _, clean = sweep(served, tmp_path / "clean.db")
        served.server.faults.rate_limit_every = 9
        served.server.faults.error_every = 7
        served.server.reset_counts()
        _, faulty = sweep(served, tmp_path / "faulty.db")
        assert {r.status for r in served.server.requests} >= {429, 502}
        assert statuses(faulty) == statuses(clean)
        served.server.faults.rate_limit_every = served.server.faults.error_every = 0
        served.world.projects["evenergi/vemo-core"].forbidden.add("approvals")
        code, gaps = sweep(served, tmp_path / "gaps.db")
        for p in gaps["promotions"]:
            sh02 = p["findings"][1]
            assert (sh02["rule"], sh02["status"]) == ("SH02", "unknown")
            assert p["verdict"] == "incomplete"
        assert code == 3
        with EvidenceStore(tmp_path / "gaps.db") as store:
            coverage = store.runs()[0].coverage
        assert coverage is not None and coverage.unknown_findings_by_rule == {"SH02": 2}


def test_two_sweeps_on_one_store_the_second_fails_clearly(tmp_path: Path) -> None:
    for served in serve("by_the_book", tmp_path):
        db = tmp_path / "a.db"
        with EvidenceStore(db) as store, store.exclusive("sweep"):
            result = served.run("sweep", *WEEK, "--db", str(db))
        assert result.exit_code == 2
        assert "another auditor sweep is using" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        with EvidenceStore(db) as store:
            assert store.integrity_ok() and store.runs() == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--since", "7d", "--from", "2026-11-16"), "either --since"),
        (("--from", "2026-11-16"), "go together"),
        (("--from", "2026-11-22", "--to", "2026-11-16"), "empty"),
        (("--from", "16/11/2026", "--to", "2026-11-22"), "not a date"),
        (("--since", "soon"), "not a duration"),
        (("--timezone", "Mars/Olympus", "--since", "7d"), "time zone"),
        (
            (
                "--service",
                "nope",
            ),
            "unknown service",
        ),
    ],
)
def test_bad_sweep_input(
    by_the_book: Served, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    result = by_the_book.run("sweep", *args, "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output


def test_history_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    result = CliRunner().invoke(app, ["history", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no evidence store" in result.stderr


def test_the_readmes_retention_recipe_works_on_a_real_store(tmp_path: Path) -> None:

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    sql = re.search(r'sqlite3 auditor\.db "(.*?)"', readme, re.DOTALL)
    assert sql, "README lost its retention recipe"
    for served in serve("by_the_book", tmp_path):
        db = tmp_path / "a.db"
        sweep(served, db)
        with sqlite3.connect(db) as conn:
            conn.executescript(sql.group(1).replace("2025-09-01", "2100-01-01"))
        with EvidenceStore(db) as store:
            assert store.integrity_ok()
            assert store.runs() == [] and store.response_count() == 0
        _, again = sweep(served, db)  # and the store still works afterwards
        assert again["promotions"]


def test_progress_on_a_terminal_and_in_ci(tmp_path: Path) -> None:
    """A rich bar per phase on a terminal; plain lines without one."""
    from io import StringIO

    from rich.console import Console

    from auditor.config import load_settings
    from auditor.dates import parse_window
    from auditor.gitlab.client import ReadOnlySession, connect
    from auditor.gitlab.source import GitLabSource
    from auditor.progress import PlainProgress, RichProgress
    from auditor.sweep import Sweep

    for served in serve("by_the_book", tmp_path):
        settings = load_settings(served.config, {"GITLAB_TOKEN": served.world.token})
        window = parse_window(None, "2026-11-16", "2026-11-22", None, served.world.now)
        screen = StringIO()
        with RichProgress(Console(file=screen, force_terminal=True, width=100)) as bar:
            session = ReadOnlySession()
            Sweep(GitLabSource(connect(settings, session)), session, settings, progress=bar).run(
                window, list(settings.services), served.world.now
            )
        assert all(phase in screen.getvalue() for phase in ("discover", "collect", "evaluate"))
        lines = StringIO()
        session = ReadOnlySession()
        Sweep(
            GitLabSource(connect(settings, session)),
            session,
            settings,
            progress=PlainProgress(lines),
        ).run(window, list(settings.services), served.world.now)
        assert "auditor: evaluate 1/1 evenergi/vemo-core!1 compliant" in lines.getvalue()


def test_progress_bar_shows_time_left_on_one_80_column_line() -> None:
    """Issue 10: a long sweep's progress had no ETA. On a terminal each phase shows done/total,
    time taken and time left (from the rate so far), and stays one line at 80 columns
    however long the note (an MR's path) is."""
    from io import StringIO

    from rich.console import Console

    from auditor.progress import RichProgress

    clock = [1000.0]
    bar = RichProgress(Console(file=StringIO(), width=80), clock=lambda: clock[0])
    bar.phase("discover", 2)
    bar.phase("collect", 40)
    bar.advance("discover", "vemo-core")
    for n in range(10):  # 10 of 40 in 30 s: 30 more steps at 3 s each
        clock[0] += 3
        bar.advance("collect", f"evenergi/a-very-long-group/and-a-longer-project-name!{n}")
    screen = StringIO()
    Console(file=screen, width=80, color_system=None).print(bar.bar.get_renderable())
    lines = screen.getvalue().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    discover, collect = lines
    assert "1/2" in discover and "vemo-core" in discover
    assert "10/40" in collect and "0:00:30" in collect  # elapsed
    assert "0:01:30 left" in collect  # remaining
    assert "evenergi/a-very-long" in collect and collect.rstrip().endswith("…")


def _week_swept(tmp_path: Path) -> SweepResult:
    """The `week` world swept in process, without a store: what the summary is drawn from."""
    from auditor.config import load_settings
    from auditor.dates import parse_window
    from auditor.gitlab.client import ReadOnlySession, connect
    from auditor.gitlab.source import GitLabSource
    from auditor.sweep import Sweep

    for served in serve("week", tmp_path):
        settings = load_settings(served.config, {"GITLAB_TOKEN": served.world.token})
        expect = served.world.expect["window"]
        window = parse_window(None, expect["from"], expect["to"], None, served.world.now)
        session = ReadOnlySession()
        return Sweep(GitLabSource(connect(settings, session)), session, settings).run(
            window, list(settings.services), served.world.now
        )
    raise AssertionError("the world was not served")


def test_sweep_summary_keeps_gitlab_text_from_driving_the_terminal(tmp_path: Path) -> None:
    """A commit title or a finding's summary is GitLab's text: an escape sequence in it (clear
    the screen, a hidden OSC 8 link) must reach a terminal as a harmless character, as in
    `auditor check`'s table."""
    import dataclasses
    from io import StringIO

    from rich.console import Console

    from auditor.findings import Status
    from auditor.report import sweep_summary

    result = _week_swept(tmp_path)
    hostile = "evil \x1b[2J\x1b]8;;https://attacker.example\x1b\\click\x1b]8;;\x1b\\ title"
    assert result.discovery.drift, "the week must have drift"
    result.discovery.drift[0] = dataclasses.replace(result.discovery.drift[0], title=hostile)
    promotions = list(result.report.promotions)
    at, bad = next(
        (n, p) for n, p in enumerate(promotions) if any(f.status is Status.FAIL for f in p.findings)
    )
    findings = tuple(
        dataclasses.replace(f, summary=hostile) if f.status is Status.FAIL else f
        for f in bad.findings
    )
    promotions[at] = dataclasses.replace(bad, findings=findings)
    result.report = dataclasses.replace(result.report, promotions=tuple(promotions))

    screen = StringIO()
    terminal = Console(file=screen, force_terminal=True, color_system="truecolor", width=100)
    sweep_summary.print_summary(result, terminal)
    shown = screen.getvalue()
    assert "attacker.example" in shown and "evil" in shown  # the text is still there
    assert "\x1b[2J" not in shown and "\x1b]8;;https://attacker" not in shown


def test_sweep_summary_fits_80_columns_without_cutting_a_name(tmp_path: Path) -> None:
    """Issue 10: on an 80-column terminal the table cut service names ("vemo-…") and the
    attention lines wrapped back to the margin. Now: no line beyond 80 columns but the MR's
    URL (kept whole, to be clicked), every service name whole, a wrapped finding indented
    under its text, and the wide table unchanged in content."""
    import dataclasses

    from auditor.report import sweep_summary

    result = _week_swept(tmp_path)
    # one name that fits the narrow table's service column (24 of 80), others that cannot
    suffixes = ("-settlement-and-reconciliation-worker", "-reconciler")
    long_names = {
        name: f"{name}{suffixes[n % 2]}"[: 24 if n % 2 else None]
        for n, name in enumerate(result.summaries)
    }
    result.summaries = {
        long_names[name]: dataclasses.replace(summary, service=long_names[name])
        for name, summary in result.summaries.items()
    }
    attention = [p for p in result.report.promotions if p.verdict.value != "compliant"]
    assert attention, "the week must have a promotion that needs attention"

    text = sweep_summary.render(result, width=80)
    lines = text.splitlines()
    urls = {p.mr.web_url for p in attention}
    assert all(len(line) <= 80 or line.strip() in urls for line in lines), text
    assert "…" not in text
    table = lines[: next(i for i, line in enumerate(lines) if "requests to GitLab" in line)]
    # the service column, read down: a name too long for it is wrapped at its hyphens
    column = "".join(re.sub(r"(\s+\d+)+\s*$", "", line).strip() for line in table[4:])
    for name in long_names.values():
        assert name in column, (name, text)
        if len(name) <= 24:
            assert any(line.startswith(f"{name} ") for line in table), (name, text)
    at = 0  # promotions and their findings are listed in order
    for p in attention:
        at = lines.index(f"    {p.mr.web_url}", at)
        for f in p.findings:
            if f.status.value in ("fail", "unknown"):
                at = next(i for i in range(at, len(lines)) if lines[i].startswith(f"    {f.rule} "))
                words = " ".join(lines[at].split()[1:])
                following = lines[at + 1 :]
                for line in following:  # a continuation sits under the text, not the margin
                    if not line.startswith("         ") or not line.strip():
                        break
                    words += " " + line.strip()
                assert f"{f.name} {f.status.value}: {f.summary}" in words, (words, text)
    wide = sweep_summary.render(result, width=160)
    assert "requests" in wide and all(name in wide for name in long_names.values())


@pytest.mark.parametrize("name", ["week", "synthetic_small"])
def test_sweep_worlds_find_exactly_what_they_hold(name: str, tmp_path: Path) -> None:
    """The sweep finds exactly the world's promotions (with their verdicts), drift,
    cut-offs and reverts: nothing missed, nothing invented."""
    for served in serve(name, tmp_path):
        expect = served.world.expect
        window = ("--from", expect["window"]["from"], "--to", expect["window"]["to"])
        result = served.run(
            "sweep",
            *window,
            "--db",
            str(tmp_path / "a.db"),
            "--format",
            "json",
            "--now",
            served.world.now.isoformat(),
        )
        doc = json.loads(result.stdout)
        jsonschema.validate(doc, load_schema())
        assert {
            (p["mr"]["project"], p["mr"]["iid"], p["service"], p["verdict"])
            for p in doc["promotions"]
        } == {(p["project"], p["iid"], p["service"], p["verdict"]) for p in expect["promotions"]}
        assert {(d["project"], d["service"], d["sha"]) for d in doc["drift"]} == {
            (d["project"], d["service"], d["sha"]) for d in expect["drift"]
        }
        assert {(c["pipeline_id"], c["job_id"]) for c in doc["cut_offs"]} == {
            (c["pipeline_id"], c["job_id"]) for c in expect["cut_offs"]
        }
        assert {(r["project"], r["sha"]) for r in doc["reverts"]} == {
            (r["project"], r["sha"]) for r in expect["reverts"]
        }
        worst = {p["verdict"] for p in doc["promotions"]}
        assert result.exit_code == (
            1 if "non_compliant" in worst else 3 if worst - {"compliant"} else 0
        )


def test_report_picks_the_run_that_covers_a_window(tmp_path: Path) -> None:
    for served in serve("by_the_book", tmp_path):
        db = tmp_path / "a.db"
        sweep(served, db)
        covered = served.run(
            "report",
            "--db",
            str(db),
            "--from",
            "2026-11-17",
            "--to",
            "2026-11-20",
            "--format",
            "csv",
        )
        assert covered.exit_code == 0 and "evenergi/vemo-core,1,vemo-core" in covered.stdout
        # which run, and that its window (the week) is wider than asked, is said on stderr
        assert (
            "auditor: report of run 1 (2026-11-16 00:00 to 2026-11-22 23:59 UTC, complete): "
            "the newest finished run covering the window asked for; its window is wider, "
            "and the report covers all of it"
        ) in " ".join(covered.stderr.split())
        quiet = served.run("--quiet", "report", "--db", str(db), "--format", "csv")
        assert quiet.exit_code == 0 and quiet.stderr == ""
        plain = served.run("report", "--db", str(db), "--format", "csv")
        assert "report of run 1" in plain.stderr and "wider" not in plain.stderr
        outside = served.run(
            "report", "--db", str(db), "--from", "2026-10-01", "--to", "2026-10-07"
        )
        assert outside.exit_code == 2 and "no run in" in outside.stderr
        both = served.run(
            "report", "--db", str(db), "--run", "1", "--from", "2026-11-17", "--to", "2026-11-20"
        )
        assert both.exit_code == 2


def test_the_sweep_lists_a_cut_off_with_an_ordinal_prefix(tmp_path: Path) -> None:
    """Discovery matches cut-off jobs like the collector does: `00 cut-off` is one."""
    for served in serve("eve_ordinal_cut_off", tmp_path):
        _, doc = sweep(served, tmp_path / "a.db")
        played = {c["at"][:10] for c in doc["cut_offs"]}
        assert "2026-11-18" in played, doc["cut_offs"]  # Wednesday's, beside Monday's
