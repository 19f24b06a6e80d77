"""The evidence store on real SQLite files: modes, migrations, cache, responses, runs,
promotions, reports, the sweep lock across processes, and a writer killed with SIGKILL.

The cross-process tests run a tiny Python script in a child process, because flock and
crash safety are properties between processes that one process cannot show.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from auditor.findings import (
    AttemptSummary,
    EvidenceLink,
    Finding,
    MRSummary,
    PromotionResult,
    Report,
    Status,
    Verdict,
)
from auditor.gaps import Gap
from auditor.gitlab.client import RawResponse
from auditor.identity import MRId
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.report import json_report
from auditor.run_record import AuditRun, RunRecord
from auditor.store import (
    MIGRATIONS,
    EvidenceStore,
    StoreError,
    StoreLocked,
    redact_url,
)
from auditor.store import database as store_module  # where MIGRATIONS is read

REPO = Path(__file__).resolve().parent.parent
GITLAB = "https://gitlab.example.com"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
T1 = datetime(2026, 11, 27, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "auditor.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[EvidenceStore]:
    with EvidenceStore(db_path) as opened:
        yield opened


def _run_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "window_from": T0,
        "window_to": T1,
        "services": ["vemo-core", "vemo-api"],
        "config_sha256": "c" * 64,
        "rulebook_sha256": "r" * 64,
        "tool_version": "0.1.0",
        "gitlab_url": GITLAB,
    }
    args.update(overrides)
    return args


def _response(url: str, body: bytes, at: datetime = T0, status: int = 200) -> RawResponse:
    return RawResponse(
        method="GET",
        url=url,
        status=status,
        fetched_at=at,
        sha256=hashlib.sha256(body).hexdigest(),
        body=body,
    )


def _finding(rule: str, status: Status, *links: EvidenceLink) -> Finding:
    return Finding(
        rule=rule,
        name=f"name-{rule}",
        status=status,
        summary=f"{rule} {status}",
        evidence=tuple(links),
    )


def _result(
    iid: int,
    service: str,
    verdict: Verdict,
    statuses: dict[str, Status] | None = None,
    project: str = "evenergi/vemo-core",
) -> PromotionResult:
    statuses = statuses or {}
    findings = tuple(
        _finding(
            f"SH{n:02d}",
            statuses.get(f"SH{n:02d}", Status.PASS),
            EvidenceLink("job", 1000 + n, f"{GITLAB}/jobs/{1000 + n}", T0 + timedelta(hours=n)),
        )
        for n in range(1, 15)
    )
    mr = MRSummary(project, iid, f"Fix {iid}", f"{GITLAB}/{project}/-/merge_requests/{iid}", T0)
    return PromotionResult(mr=mr, service=service, verdict=verdict, findings=findings)


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    """A Python child running `script` with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- file mode ---------------------------------------------------------------------------


def test_new_database_and_its_companions_are_0600(db_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would otherwise give 0644
    try:
        with EvidenceStore(db_path) as s:
            s.cache_put("k", 1, None)
            with s.exclusive():
                pass
            companions = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
            modes = {p.name: p.stat().st_mode & 0o777 for p in companions}
    finally:
        os.umask(old)
    assert modes[db_path.name] == 0o600
    assert f"{db_path.name}.lock" in modes
    # SQLite gives -wal/-shm the database file's mode; the lock file is ours.
    assert set(modes.values()) == {0o600}, modes


def test_existing_file_mode_is_never_changed(db_path: Path) -> None:
    db_path.touch()
    db_path.chmod(0o640)
    EvidenceStore(db_path).close()
    assert db_path.stat().st_mode & 0o777 == 0o640


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        EvidenceStore(tmp_path / "nowhere" / "auditor.db")


# -- migrations --------------------------------------------------------------------------


def test_empty_file_is_migrated_and_reopening_is_a_no_op(db_path: Path) -> None:
    db_path.touch()
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        s.cursor_set("x", "1")
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.cursor_get("x") == "1"
    conn = sqlite3.connect(db_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    conn.close()
    assert {
        "meta",
        "runs",
        "promotions",
        "findings",
        "promotion_evidence",
        "responses",
        "cache",
        "cursors",
        "drift",
        "cut_offs",
    } <= tables
    assert version == str(len(MIGRATIONS))


def test_a_later_migration_applies_once_on_top_of_v1(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    EvidenceStore(db_path).close()
    calls: list[int] = []

    def v2(db: Any) -> None:
        calls.append(1)
        db.execute("CREATE TABLE signoffs (id INTEGER PRIMARY KEY)")  # fails if run twice

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, v2])
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
    assert calls == [1]


def test_a_failing_migration_leaves_the_previous_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    EvidenceStore(db_path).close()

    def broken(db: Any) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="boom"):
        EvidenceStore(db_path)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert "half_done" not in s._db.table_names()


def test_newer_schema_is_refused(db_path: Path) -> None:
    EvidenceStore(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(
        StoreError, match=rf"newer auditor \(schema 99; this one knows up to {len(MIGRATIONS)}\)"
    ):
        EvidenceStore(db_path)


def test_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("just some notes, not a database\n" * 10)
    with pytest.raises(StoreError, match="not an auditor database") as info:
        EvidenceStore(text)
    assert "\n" not in str(info.value)

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not an auditor store"):
        EvidenceStore(other)
    assert other.read_bytes() == before  # not even switched to WAL


# -- cache and cursors -------------------------------------------------------------------


def _cached(s: EvidenceStore, key: str) -> tuple[object, str | None] | None:
    """(value, version) of a cache entry, or None."""
    entry = s.cache_entry(key)
    return None if entry is None else entry[:2]


def test_cache_put_get_invalidate(store: EvidenceStore) -> None:
    assert _cached(store, "project:1") is None
    store.cache_put("project:1", {"id": 1, "tags": ["a"], "ok": True, "none": None}, "v1", "ab")
    assert (store.cache_entry("project:1") or ())[2] == "ab"  # the response it came from
    assert _cached(store, "project:1") == (
        {"id": 1, "tags": ["a"], "ok": True, "none": None},
        "v1",
    )
    store.cache_put("project:1", ["replaced"], None)
    assert _cached(store, "project:1") == (["replaced"], None)
    store.cache_put_many((f"mr:{i}", {"iid": i}, f"etag-{i}", None) for i in range(5))
    assert _cached(store, "mr:3") == ({"iid": 3}, "etag-3")
    assert store.cache_invalidate(["mr:1", "mr:2", "mr:missing", "mr:1"]) == 2
    assert _cached(store, "mr:1") is None
    assert _cached(store, "mr:4") is not None


def test_cache_refuses_values_that_would_not_round_trip(store: EvidenceStore) -> None:
    with pytest.raises(TypeError, match="not plain JSON"):
        store.cache_put("k", {"at": T0}, None)
    assert _cached(store, "k") is None


def test_cursors(store: EvidenceStore) -> None:
    assert store.cursor_get("events") is None
    store.cursor_set("events", "2026-11-20T00:00:00Z")
    store.cursor_set("events", "2026-11-21T00:00:00Z")
    assert store.cursor_get("events") == "2026-11-21T00:00:00Z"


# -- responses ---------------------------------------------------------------------------


def test_responses_dedupe_on_url_and_hash(store: EvidenceStore) -> None:
    url = f"{GITLAB}/api/v4/projects/1/merge_requests/42"
    first = _response(url, b'{"iid": 42}', T0)
    again = _response(url, b'{"iid": 42}', T0 + timedelta(hours=1))
    changed = _response(url, b'{"iid": 42, "state": "merged"}', T0 + timedelta(hours=2))
    assert store.put_responses([first, again]) == 1
    assert store.put_responses([again, changed]) == 1
    assert store.put_responses([]) == 0
    assert store.response_count() == 2
    kept = store.response(first.sha256)
    assert kept is not None
    assert kept["fetched_at"].startswith("2026-11-20T00:00:00")  # the first fetch
    assert kept["body"] == b'{"iid": 42}'
    assert kept["method"] == "GET" and kept["status"] == 200


def test_response_hash_must_match_body(store: EvidenceStore) -> None:
    bad = RawResponse("GET", f"{GITLAB}/api/v4/x", 200, T0, "0" * 64, b"body")
    with pytest.raises(ValueError, match="does not match"):
        store.put_responses([bad])
    assert store.response_count() == 0


def test_tokens_in_urls_are_redacted_and_never_reach_the_file(
    store: EvidenceStore, db_path: Path
) -> None:
    secret = "glpat-SeCrEt0123456789"
    urls = [
        f"{GITLAB}/api/v4/projects?private_token={secret}&page=2",
        f"{GITLAB}/api/v4/jobs/1/trace?access_token={secret}",
        f"{GITLAB}/api/v4/job?JOB_TOKEN={secret}&x=a%2Fb",
        f"https://oauth2:{secret}@gitlab.example.com/api/v4/version",
    ]
    assert store.put_responses([_response(u, f"body {n}".encode()) for n, u in enumerate(urls)])
    stored = [r["url"] for r in store._db.query("SELECT url FROM responses ORDER BY id")]
    assert stored == [
        f"{GITLAB}/api/v4/projects?private_token=REDACTED&page=2",
        f"{GITLAB}/api/v4/jobs/1/trace?access_token=REDACTED",
        f"{GITLAB}/api/v4/job?JOB_TOKEN=REDACTED&x=a%2Fb",
        "https://REDACTED@gitlab.example.com/api/v4/version",
    ]
    store.close()
    on_disk = b"".join(
        p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)
    )
    assert secret.encode() not in on_disk


def test_redact_leaves_clean_urls_byte_identical() -> None:
    url = f"{GITLAB}/api/v4/projects/evenergi%2Fvemo-core/repository/commits?ref_name=release&"
    assert redact_url(url) == url
    assert (
        redact_url(f"{GITLAB}/a?tokens=1&private-token=x")
        == f"{GITLAB}/a?tokens=1&private-token=REDACTED"
    )


# -- runs ----------------------------------------------------------------------------------

_BEGIN_AND_DIE = """
    import json, os, signal, sys
    from datetime import datetime
    from auditor.store import EvidenceStore
    path, args = sys.argv[1], json.loads(sys.argv[2])
    for key in ("window_from", "window_to"):
        args[key] = datetime.fromisoformat(args[key])
    store = EvidenceStore(path)
    print(store.begin_run(**args), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # a sweep killed mid-run
"""


def _begin_in_dead_process(db_path: Path, **overrides: Any) -> int:
    args = _run_args(**overrides)
    args["window_from"] = args["window_from"].isoformat()
    args["window_to"] = args["window_to"].isoformat()
    child = _child(_BEGIN_AND_DIE, str(db_path), json.dumps(args))
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    return int(out.strip())


def test_rerun_after_a_kill_resumes_the_same_run(store: EvidenceStore, db_path: Path) -> None:
    dead = _begin_in_dead_process(db_path)
    # Same window given in another zone and services in another order: still the same run.
    resumed = store.begin_run(
        **_run_args(window_from=T0.astimezone(CEST), services=["vemo-api", "vemo-core"])
    )
    assert resumed == dead
    (run,) = store.runs()
    assert run.status == "running" and run.resumes == 1 and run.pid == os.getpid()


def test_a_different_rerun_interrupts_the_dead_run(store: EvidenceStore, db_path: Path) -> None:
    dead = _begin_in_dead_process(db_path)
    fresh = store.begin_run(**_run_args(config_sha256="d" * 64))
    assert fresh != dead
    statuses = {r.id: r.status for r in store.runs()}
    assert statuses == {dead: "interrupted", fresh: "running"}
    # A live run (this process) is neither resumed nor interrupted by another begin_run.
    other = store.begin_run(**_run_args(config_sha256="d" * 64))
    assert other not in (dead, fresh)
    assert {r.id: r.status for r in store.runs()}[fresh] == "running"


def test_inside_the_sweep_lock_an_unfinished_run_is_resumed(store: EvidenceStore) -> None:
    first = store.begin_run(**_run_args())
    with store.exclusive():
        assert store.begin_run(**_run_args()) == first


def test_finish_run_and_runs_listing(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args())
    store.finish_run(
        run,
        status="complete",
        requests=17,
        coverage={"vemo-core": {"since": T0}, "skipped": {"b", "a"}},
        summary={"compliant": 2},
    )
    (row,) = store.runs(limit=1)
    assert row.status == "complete" and row.requests == 17 and row.finished_at
    assert row.services == ("vemo-api", "vemo-core")
    assert row.coverage is not None and row.coverage.stored == {
        "vemo-core": {"since": "2026-11-20T00:00:00Z"},
        "skipped": ["a", "b"],
    }
    assert row.summary == {"compliant": 2}
    assert row.as_row()["window_from"] == "2026-11-20T00:00:00Z" and row.window_from == T0
    with pytest.raises(ValueError, match="complete, failed, incomplete, interrupted"):
        store.finish_run(run, status="done", requests=0, coverage={}, summary={})
    with pytest.raises(StoreError, match="no run 999"):
        store.finish_run(999, status="failed", requests=0, coverage={}, summary={})


# -- promotions --------------------------------------------------------------------------


def test_record_promotion_upsert_replaces_findings(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args())
    first = _result(42, "vemo-core", Verdict.INCOMPLETE, {"SH08": Status.UNKNOWN})
    pid = store.record_promotion(run, first, evidence=["AA" * 32, "bb" * 32])
    second = _result(42, "vemo-core", Verdict.COMPLIANT)
    assert store.record_promotion(run, second, evidence=["cc" * 32]) == pid
    (row,) = store.promotions(run_id=run)
    assert row["verdict"] == "compliant"
    assert [f["rule"] for f in row["findings"]] == [f"SH{n:02d}" for n in range(1, 15)]
    assert {f["status"] for f in row["findings"]} == {"pass"}
    assert row["evidence_sha256"] == ["cc" * 32]
    counts = store._db.execute(
        "SELECT (SELECT count(*) FROM findings), (SELECT count(*) FROM promotion_evidence)"
    ).fetchone()
    assert counts == (14, 1)
    with pytest.raises(StoreError, match="no run 999"):
        store.record_promotion(999, second)


def test_promotions_filters(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args())
    store.record_promotion(run, _result(1, "vemo-core", Verdict.COMPLIANT))
    store.record_promotion(
        run, _result(2, "vemo-core", Verdict.NON_COMPLIANT, {"SH12": Status.FAIL})
    )
    store.record_promotion(
        run, _result(3, "vemo-api", Verdict.INCOMPLETE, {"SH12": Status.UNKNOWN}, "evenergi/api")
    )
    store.finish_run(run, status="complete", requests=1, coverage={}, summary={})

    def iids(**filters: Any) -> list[int]:
        return [r["iid"] for r in store.promotions(**filters)]

    assert iids() == [1, 2, 3]
    assert iids(service="vemo-core") == [1, 2]
    assert iids(verdict="non_compliant") == [2]
    assert iids(rule="SH12", rule_status="fail") == [2]
    assert iids(rule="SH12", rule_status="unknown") == [3]
    assert iids(rule="SH11", rule_status="fail") == []
    assert iids(rule="SH12", rule_status=("fail", "unknown")) == [2, 3]
    assert iids(rule="SH12") == [1, 2, 3]  # every promotion carries every rule
    assert iids(rule_status="unknown", service="vemo-core") == []
    with pytest.raises(ValueError, match="unknown verdict"):
        store.promotions(verdict="green")


def test_promotions_default_to_the_latest_complete_run_per_service(store: EvidenceStore) -> None:
    both = store.begin_run(**_run_args())
    store.record_promotion(both, _result(1, "vemo-core", Verdict.COMPLIANT))
    store.record_promotion(both, _result(2, "vemo-api", Verdict.COMPLIANT, project="evenergi/api"))
    store.finish_run(both, status="complete", requests=1, coverage={}, summary={})
    core_only = store.begin_run(**_run_args(services=["vemo-core"]))
    store.record_promotion(core_only, _result(3, "vemo-core", Verdict.NON_COMPLIANT))
    store.finish_run(core_only, status="complete", requests=1, coverage={}, summary={})
    failed = store.begin_run(**_run_args(config_sha256="e" * 64))
    store.record_promotion(failed, _result(4, "vemo-core", Verdict.COMPLIANT))
    store.finish_run(failed, status="failed", requests=1, coverage={}, summary={})

    got = {(r["run_id"], r["service"], r["iid"]) for r in store.promotions()}
    assert got == {(both, "vemo-api", 2), (core_only, "vemo-core", 3)}
    assert [r["iid"] for r in store.promotions(run_id=failed)] == [4]


def test_report_round_trips_a_hand_built_report(store: EvidenceStore) -> None:
    links = (
        EvidenceLink(
            "job", 1234, f"{GITLAB}/jobs/1234", datetime(2026, 11, 21, 9, 30, 1, 250000, tzinfo=UTC)
        ),
        EvidenceLink("commit", "deadbeef", None, None),
        EvidenceLink("note", 7, f"{GITLAB}/notes/7", datetime(2026, 11, 21, 12, tzinfo=CEST)),
    )
    findings = (
        Finding("SH01", "mr-merged", Status.PASS, "merged ✓ before the pick", links[:1]),
        Finding("SH12", "label-after-validation", Status.FAIL, "label added too early", links),
        Finding("SH13", "failed-validation-contained", Status.NOT_APPLICABLE, "n/a"),
    )
    report = Report(
        gitlab_url=GITLAB,
        generated_at=T1,
        tool_version="0.1.0",
        promotions=(
            PromotionResult(
                MRSummary("evenergi/vemo-core", 42, "Fix | <b>", f"{GITLAB}/mr/42", None),
                "vemo-core",
                Verdict.NON_COMPLIANT,
                findings,
                attempts=(
                    AttemptSummary(
                        1,
                        "reverted",
                        ("5af387b0",),
                        T0,
                        90018,
                        "success",
                        3,
                        "success",
                        T0,
                        "failed",
                        None,
                        "eb144cc6",
                        T1,
                    ),
                    AttemptSummary(2, "picked", ("ad0919bf",), T1),
                ),
            ),
            PromotionResult(
                MRSummary("evenergi/api", 7, "Other", f"{GITLAB}/mr/7", T0.astimezone(CEST)),
                "vemo-api",
                Verdict.NOT_PROMOTED,
                findings[2:],
            ),
        ),
    )
    run = store.begin_run(**_run_args())
    for promotion in report.promotions:
        store.record_promotion(run, promotion)
    drift = Drift(
        "evenergi/vemo-core",
        "vemo-core",
        "abc",
        "direct push",
        datetime(2026, 11, 22, 10, 0, 0, 5000, tzinfo=CEST),
    )
    cut_offs = [
        CutOff("evenergi/develop", 9, 91, T0, "alice"),
        CutOff("evenergi/develop", 8, 81, None, None),
    ]
    reverts = [
        DeployedRevert("evenergi/vemo-core", "vemo-core", "def", "5af387b0", T1),
        DeployedRevert("evenergi/vemo-core", "vemo-api", "def", "5af387b0", None),
    ]
    store.record_drift(run, [drift])
    store.record_drift(run, [replace(drift, title="direct push (again)")])
    store.record_cut_offs(run, cut_offs * 2)
    store.record_reverts(run, reverts)
    store.record_reverts(run, reverts[:1])  # a resumed run records them again
    store.finish_run(run, status="complete", requests=3, coverage={}, summary={})

    rebuilt = store.report(run)
    assert rebuilt.promotions == report.promotions  # dataclass equality: every field
    assert (rebuilt.gitlab_url, rebuilt.tool_version) == (GITLAB, "0.1.0")
    # the same types come back, equal field by field (times in UTC, as the report writes them)
    assert store.drift(run) == (
        replace(drift, title="direct push (again)", deployed_at=drift.deployed_at.astimezone(UTC)),
    )
    assert store.cut_offs(run) == tuple(cut_offs)
    assert store.reverts(run) == tuple(reverts)
    extras = store.extras(run)
    assert (extras.drift, extras.cut_offs, extras.reverts) == (
        store.drift(run),
        store.cut_offs(run),
        store.reverts(run),
    )
    original = json_report.to_dict(
        report, SweepExtras(store.drift(run), tuple(cut_offs), tuple(reverts))
    )
    again = json_report.to_dict(rebuilt, extras)
    assert again == {**original, "generated_at": again["generated_at"]}  # when the run finished


def test_reverts_recorded_as_none_are_none_and_never_recorded_are_unknown(
    store: EvidenceStore,
) -> None:
    run = store.begin_run(**_run_args())
    assert store.reverts(run) is None  # not recorded yet: unknown, not none
    store.record_reverts(run, [])
    assert store.reverts(run) == ()
    assert store.extras(run).reverts == ()


def test_promotions_come_back_in_the_sweeps_order_not_the_order_written(
    store: EvidenceStore,
) -> None:
    run = store.begin_run(**_run_args())
    for iid, position in ((3, 2), (1, 0), (2, 1)):
        store.record_promotion(run, _result(iid, "vemo-core", Verdict.COMPLIANT), position=position)
    assert [p.mr.iid for p in store.report(run).promotions] == [1, 2, 3]


# -- two processes -------------------------------------------------------------------------

_HOLD_LOCK = """
    import sys
    from auditor.store import EvidenceStore
    store = EvidenceStore(sys.argv[1])
    with store.exclusive():
        print("locked", flush=True)
        sys.stdin.readline()
"""


def test_second_sweep_in_another_process_is_refused_clearly(
    store: EvidenceStore, db_path: Path
) -> None:
    holder = _child(_HOLD_LOCK, str(db_path))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked", holder.stderr
        with pytest.raises(StoreLocked) as info, store.exclusive():
            pytest.fail("entered a lock another process holds")
        message = str(info.value)
        assert message.startswith(
            f"another auditor sweep is using {db_path} (pid {holder.pid} since "
        )
        assert "\n" not in message
        # Killed, not released: the kernel drops the flock, so no stale lock remains.
        holder.kill()
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    with store.exclusive():
        store.cache_put("after", True, None)
    assert store.integrity_ok()


_WRITE_FOREVER = """
    import sys
    from auditor.store import EvidenceStore
    store = EvidenceStore(sys.argv[1])
    pad = "x" * 500
    i = 0
    while True:
        if i % 2:
            store.cache_put_many(
                (f"b{i}-{j}", {"i": i, "j": j, "pad": pad}, str(i), None) for j in range(40)
            )
        else:
            store.cache_put(f"k{i}", {"i": i, "pad": pad}, str(i))
        print(i, flush=True)  # printed only after the write committed
        i += 1
"""


def test_writer_killed_mid_write_leaves_a_consistent_store(db_path: Path) -> None:
    EvidenceStore(db_path).close()
    writer = _child(_WRITE_FOREVER, str(db_path))
    try:
        assert writer.stdout is not None
        last = -1
        while last < 400:
            line = writer.stdout.readline()
            assert line, writer.stderr.read() if writer.stderr else "writer died"
            last = int(line)
        os.kill(writer.pid, signal.SIGKILL)  # while it is busy with the next writes
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=10)
    with EvidenceStore(db_path) as s:
        assert s.integrity_ok()
        for i in range(last + 1):
            if i % 2:
                for j in range(40):
                    assert _cached(s, f"b{i}-{j}") == ({"i": i, "j": j, "pad": "x" * 500}, str(i))
            else:
                assert _cached(s, f"k{i}") == ({"i": i, "pad": "x" * 500}, str(i))
        # A batch the kill interrupted is there whole or not at all.
        keys = [r["key"] for r in s._db.query("SELECT key FROM cache WHERE key LIKE 'b%'")]
        per_batch: dict[str, int] = {}
        for key in keys:
            batch = key.split("-")[0]
            per_batch[batch] = per_batch.get(batch, 0) + 1
        assert set(per_batch.values()) == {40}
        s.cache_put("still-writable", 1, None)


def test_an_incomplete_run_keeps_its_gaps_and_counts_as_the_latest(store: EvidenceStore) -> None:
    first = store.begin_run(**_run_args(services=["vemo-core"]))
    store.record_promotion(first, _result(1, "vemo-core", Verdict.COMPLIANT))
    store.finish_run(first, status="complete", requests=1, coverage={"gaps": []}, summary={})
    later = store.begin_run(**_run_args(services=["vemo-core"], config_sha256="f" * 64))
    store.record_promotion(later, _result(2, "vemo-core", Verdict.INCOMPLETE))
    gaps = [{"service": "vemo-core", "what": "deployments to staging", "reason": "403"}]
    store.finish_run(later, status="incomplete", requests=1, coverage={"gaps": gaps}, summary={})
    assert store.run(later).status == "incomplete"
    assert [g.to_dict() for g in store.extras(later).gaps] == gaps
    assert store.extras(first).gaps == ()
    # what is current for the service is the later, incomplete run, not the older complete one
    assert [r["iid"] for r in store.promotions(service="vemo-core")] == [2]
    with pytest.raises(StoreError, match="no run 99"):
        store.run(99)


def test_text_gaps_of_older_runs_still_read_as_gaps(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args())
    old_style = {
        "discovery_gaps": ["deployments to staging: timed out"],
        "unreadable_promotions": [],
    }
    store.finish_run(run, status="complete", requests=1, coverage=old_style, summary={})
    (gap,) = store.extras(run).gaps
    assert gap.service is None and gap.what == "deployments to staging: timed out"


def test_the_run_keeps_the_gitlab_url_without_credentials(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args(gitlab_url="https://oauth2:glpat-secret@gitlab.example.com"))
    assert store.run(run).gitlab_url == "https://REDACTED@gitlab.example.com"


def test_a_version_1_store_gains_the_attempts_column(db_path: Path) -> None:
    """A store written before attempts were kept opens, migrates, and reads as no attempts."""
    with EvidenceStore(db_path) as s:
        run = s.begin_run(**_run_args())
        s.record_promotion(run, _result(1, "vemo-core", Verdict.COMPLIANT))
    _downgrade(db_path, to=2)
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("ALTER TABLE promotions DROP COLUMN attempts")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        [promotion] = s.report(run).promotions
        assert promotion.attempts == () and promotion.mr.iid == 1
        assert promotion.milestones is None  # not recorded by that run


def _downgrade(db_path: Path, *, to: int) -> None:
    """Make the file what an auditor of schema `to` (2) wrote: without v3's milestones
    column and v4's reverts tables and promotion position."""
    assert to == 2
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("ALTER TABLE promotions DROP COLUMN milestones")
        conn.execute("DROP TABLE reverts")
        conn.execute("DROP TABLE reverts_recorded")
        conn.execute("ALTER TABLE promotions DROP COLUMN position")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()


def test_a_version_2_store_reads_its_runs_with_reverts_unknown(db_path: Path) -> None:
    """A store written before reverts were kept opens and migrates; its runs' reverts are
    unknown (None, and left out of the JSON), never "no reverts"; drift and cut-offs stay;
    its promotions come back in the order they were written."""
    drift = Drift("evenergi/vemo-core", "vemo-core", "abc", "direct push", T0)
    cut_off = CutOff("evenergi/develop", 9, 91, T0, "alice")
    with EvidenceStore(db_path) as s:
        run = s.begin_run(**_run_args())
        for iid in (2, 1):
            s.record_promotion(run, _result(iid, "vemo-core", Verdict.COMPLIANT))
        s.record_drift(run, [drift])
        s.record_cut_offs(run, [cut_off])
        s.finish_run(run, status="complete", requests=1, coverage={"gaps": []}, summary={})
    _downgrade(db_path, to=2)
    with EvidenceStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.reverts(run) is None
        extras = s.extras(run)
        assert (extras.drift, extras.cut_offs, extras.reverts) == ((drift,), (cut_off,), None)
        report = s.report(run)
        assert [p.mr.iid for p in report.promotions] == [2, 1]
        doc = json_report.to_dict(report, extras)
        assert "reverts" not in doc and doc["drift"][0]["sha"] == "abc"
        # a new run in the migrated store records its reverts, even none
        later = s.begin_run(**_run_args(config_sha256="f" * 64))
        s.record_reverts(later, [])
        assert s.reverts(later) == () and s.reverts(run) is None


def test_simulated_gitlabs_are_kept_in_meta_without_a_schema_change(db_path: Path) -> None:
    """`auditor demo` marks its simulator; a store from before that reads as none marked."""
    with EvidenceStore(db_path) as s:
        assert s.simulated_gitlab_urls() == frozenset()
        s.mark_simulated("http://oauth2:glpat-secret@127.0.0.1:4242/")
        s.mark_simulated("http://127.0.0.1:4243")
        assert s.schema_version == len(MIGRATIONS)
    with EvidenceStore(db_path) as s:  # kept across openings, credentials never stored
        assert s.simulated_gitlab_urls() == {
            "http://REDACTED@127.0.0.1:4242",
            "http://127.0.0.1:4243",
        }
    assert b"glpat-secret" not in db_path.read_bytes()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE meta SET value = 'not json' WHERE key = 'simulated_gitlab'")
    conn.close()
    with EvidenceStore(db_path) as s:  # unreadable: none marked, reports keep their links
        assert s.simulated_gitlab_urls() == frozenset()


# --------------------------------------------------------------------------------------
# The typed run: RunRecord and AuditRun
# --------------------------------------------------------------------------------------


def test_a_run_reads_back_as_a_typed_record_that_round_trips(store: EvidenceStore) -> None:
    """Every column of the run comes back typed (times as datetimes, gaps as `Gap`s), and
    `as_row()` gives the stored row back unchanged: the form history and the bundle print."""
    run = store.begin_run(**_run_args(window_from=T0.astimezone(CEST)))
    store.record_promotion(run, _result(1, "vemo-core", Verdict.COMPLIANT))
    gap = {"service": "vemo-api", "what": "deployments to staging", "reason": "403"}
    coverage = {
        "status": "incomplete",
        "gaps": [gap],
        "unknown_findings_by_rule": {"SH02": 2},
        "staging_seen": {"vemo-core": 41},
    }
    store.finish_run(run, status="incomplete", requests=5, coverage=coverage, summary={"x": 1})
    (record,) = store.runs()
    assert isinstance(record, RunRecord) and store.run(run) == record
    assert (record.id, record.status, record.requests, record.promotions) == (
        run,
        "incomplete",
        5,
        1,
    )
    assert (record.window_from, record.window_to) == (T0, T1)
    assert record.window_from.tzinfo is not None and record.finished_at is not None
    assert record.started_at <= record.finished_at
    assert record.services == ("vemo-api", "vemo-core")
    assert (record.pid, record.resumes, record.resumed_at) == (os.getpid(), 0, None)
    assert record.coverage is not None
    assert record.gaps == (Gap("vemo-api", "deployments to staging", "403"),)
    assert record.coverage.staging_seen == {"vemo-core": 41}
    assert record.coverage.unknown_findings_by_rule == {"SH02": 2}
    assert record.coverage.error is None and record.summary == {"x": 1}
    # the row as stored, column for column, and back
    stored = dict(
        store._db.query(
            "SELECT runs.*, (SELECT count(*) FROM promotions p WHERE p.run_id = runs.id) "
            "AS promotions FROM runs"
        ).__next__()
    )
    row = record.as_row()
    assert list(row) == list(stored)
    for column in ("services", "coverage", "summary"):
        stored[column] = json.loads(stored[column])
    assert row == stored
    assert RunRecord.from_row(row) == record
    # an unfinished run: no coverage, summary, finish time or requests (not zero, not empty)
    open_run = store.begin_run(**_run_args(config_sha256="e" * 64))
    unfinished = store.run(open_run)
    assert (unfinished.coverage, unfinished.summary, unfinished.finished_at) == (None, None, None)
    assert unfinished.requests is None and unfinished.gaps == () and unfinished.promotions == 0
    assert RunRecord.from_row(unfinished.as_row()) == unfinished


def test_load_is_what_the_separate_readers_give(store: EvidenceStore) -> None:
    """`load` answers in one read what run, report, extras and promotions answer apart,
    and keys each promotion's response hashes by (service, MR)."""
    run = store.begin_run(**_run_args())
    store.record_promotion(run, _result(2, "vemo-core", Verdict.COMPLIANT), ["b" * 64, "A" * 64])
    store.record_promotion(run, _result(1, "vemo-api", Verdict.NON_COMPLIANT), position=0)
    store.record_promotion(
        run, _result(3, "vemo-core", Verdict.COMPLIANT, project="evenergi/other"), ["c" * 64]
    )
    store.record_drift(run, [Drift("evenergi/vemo-core", "vemo-core", "abc", "push", T0)])
    store.record_cut_offs(run, [CutOff("evenergi/develop", 9, 91, T0, "alice")])
    store.record_reverts(run, [])
    gaps = [{"service": None, "what": "pipelines", "reason": "HTTP 500"}]
    store.finish_run(run, status="incomplete", requests=3, coverage={"gaps": gaps}, summary={})
    other = store.begin_run(**_run_args(config_sha256="e" * 64))
    store.record_promotion(other, _result(2, "vemo-core", Verdict.COMPLIANT), ["d" * 64])

    loaded = store.load(run)
    assert isinstance(loaded, AuditRun)
    assert loaded.info == store.run(run)
    assert loaded.report == store.report(run)
    assert loaded.extras == store.extras(run)
    separate = {
        (row["service"], MRId(row["project"], row["iid"])): tuple(row["evidence_sha256"])
        for row in store.promotions(run_id=run)
        if row["evidence_sha256"]
    }
    assert loaded.evidence == separate
    assert loaded.evidence_of("vemo-core", MRId("evenergi/vemo-core", 2)) == ("a" * 64, "b" * 64)
    assert loaded.evidence_of("vemo-api", MRId("evenergi/vemo-core", 1)) == ()
    assert [p.mr.iid for p in loaded.report.promotions] == [1, 2, 3]
    assert loaded.extras.reverts == () and loaded.info.gaps == loaded.extras.gaps
    with pytest.raises(StoreError, match="no run 99"):
        store.load(99)


def test_an_old_store_still_loads(db_path: Path) -> None:
    """A run written by a schema-2 auditor loads whole after the migration: its record,
    report and evidence as kept, its reverts unknown (None), never none."""
    with EvidenceStore(db_path) as s:
        run = s.begin_run(**_run_args())
        s.record_promotion(run, _result(1, "vemo-core", Verdict.COMPLIANT), ["f" * 64])
        s.finish_run(run, status="complete", requests=1, coverage={"gaps": []}, summary={})
        before = s.run(run)
    _downgrade(db_path, to=2)
    with EvidenceStore(db_path) as s:
        loaded = s.load(run)
        assert loaded.info == before
        assert loaded.extras.reverts is None
        assert [p.mr.iid for p in loaded.report.promotions] == [1]
        assert loaded.report.promotions[0].milestones is None
        assert loaded.evidence == {("vemo-core", MRId("evenergi/vemo-core", 1)): ("f" * 64,)}


def test_a_damaged_run_row_is_a_store_error_not_a_half_read_record(store: EvidenceStore) -> None:
    run = store.begin_run(**_run_args())
    store._db.execute("UPDATE runs SET window_from = 'yesterday' WHERE id = ?", [run])
    with pytest.raises(StoreError, match=f"run {run} in .* cannot be read"):
        store.runs()
