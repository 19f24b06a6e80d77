"""`auditor browse`: the evidence store of a real sweep served by Datasette and looked at in
Debian's headless Chromium, as tests/test_reports_browser.py looks at the reports.

The store is a sweep of the `week` world (fixtures/worlds/week.py) with one fault: GitLab
refuses the approvals of evenergi/billing!3 (403). So the store holds the week's known story
(charge-api!3 labelled although its smoke checks failed, billing!3 labelled before its
deployment finished, a billing commit pushed straight to release) plus one thing the run
could not read. Each canned query must show exactly that story; the server must listen on
127.0.0.1 only, refuse every write, and leave the file byte-identical.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from typer.testing import CliRunner

from auditor.browse import QUERIES, TABLES, metadata
from auditor.cli import app
from auditor.store import EvidenceStore
from tests.conftest import one_error_line, serve
from tests.test_reports_browser import ARTIFACTS, chromium
from tests.test_reports_browser import run_chromium as run_in_chromium

ROOT = Path(__file__).resolve().parent.parent
WEEK_OF_THE_STORY = "2026-W47"  # Monday 16 to Sunday 22 November 2026
UNREADABLE = r"/projects/evenergi%2Fbilling/merge_requests/3/approvals$"


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a fresh profile each time: a second Chromium on a profile still held by the first one
    # (shutting down) can hand its work over and wait
    return run_in_chromium(Path(tempfile.mkdtemp(prefix="profile-", dir=tmp_path)), *args)


@dataclass
class Browsing:
    db: Path
    sha256: str
    url: str  # the database page the command printed
    process: subprocess.Popen[str]
    stderr: Path
    token: str
    drift: list[dict]


def needs_datasette() -> None:
    """Skip without Datasette on a developer's machine; in CI (`CI=true`) it is in the
    `test` extra, so its absence fails rather than passing by skipping."""
    if importlib.util.find_spec("datasette") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("datasette is not installed; CI installs '.[test]', which includes it")
    pytest.skip("datasette is not installed (pip install 'auditor[browse]')")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ready_line(process: subprocess.Popen[str], stderr: Path, timeout: float = 60) -> str:
    """The first line the command prints, or fail with what it said on stderr."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        process.kill()
        process.wait()
        pytest.fail(f"auditor browse printed nothing: {stderr.read_text()[-2000:]}")
    if not line:
        process.wait()
        pytest.fail(f"auditor browse exited: {stderr.read_text()[-2000:]}")
    return line.strip()


@pytest.fixture(scope="module")
def browsing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browsing]:
    chromium()  # skip (or fail in CI) before paying for the sweep
    needs_datasette()
    tmp = tmp_path_factory.mktemp("browse")
    db = tmp / "auditor.db"
    for served in serve("week", tmp):
        served.server.faults.fail_paths[UNREADABLE] = 403
        window = served.world.expect["window"]
        result = served.sweep_json(db, window=(window["from"], window["to"]))
        assert result.exit_code == 1, result.output  # the week holds violations
        token, drift = served.world.token, served.world.expect["drift"]
    # the simulator is gone: browsing needs nothing but the file
    before = sha256(db)
    # stderr to a file: a pipe nobody reads could fill and stall the server
    stderr = tmp / "browse.stderr"
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", "browse", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr.open("w", encoding="utf-8"),
        text=True,
    )
    try:
        url = ready_line(process, stderr)
        yield Browsing(db, before, url, process, stderr, token, drift)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class Rows(HTMLParser):
    """The rows of Datasette's results table (`table.rows-and-columns`), as dicts by column."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._in_table = False
        self._column: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "rows-and-columns" in classes:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append({})
        elif self._in_table and tag == "td":
            self._column = next(c[4:] for c in classes if c.startswith("col-"))
            self.rows[-1][self._column] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "td":
            self._column = None

    def handle_data(self, data: str) -> None:
        if self._column is not None:
            self.rows[-1][self._column] += data

    @classmethod
    def of(cls, dom: str) -> list[dict[str, str]]:
        parser = cls()
        parser.feed(dom)
        return [{k: v.strip() for k, v in row.items()} for row in parser.rows if row]


def page(browsing: Browsing, path: str, shot: str, tmp_path: Path) -> str:
    """The DOM Chromium built for `path` (under the database page), with a screenshot kept
    as test-artifacts/browse-`shot`.png."""
    url = f"{browsing.url}{path}"
    dump = run_chromium(tmp_path, "--dump-dom", url)
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "<body" in dump.stdout, dump.stderr[-2000:]
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / f"browse-{shot}.png"
    png.unlink(missing_ok=True)
    taken = run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1400,1000", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert browsing.token not in dump.stdout
    # nothing the page loads (scripts, images, styles) comes from another host; links may
    assert not re.search(r'(src=|<link[^>]*href=)"(https?:)?//(?!127\.0\.0\.1[:/])', dump.stdout)
    return dump.stdout


def canned(browsing: Browsing, name: str, tmp_path: Path, **params: str) -> list[dict[str, str]]:
    query = next(q for q in QUERIES if q.name == name)
    shot = "-".join([name, *(params[k].replace("/", "_") for k in sorted(params))])
    dom = page(browsing, f"/{name}" + (f"?{urlencode(params)}" if params else ""), shot, tmp_path)
    text = html.unescape(dom)
    assert query.title in text  # the canned query's own page, with its title
    assert "rows-and-columns" in dom, text[-3000:]
    return Rows.of(dom)


# -- the command prints one line, the database's page ----------------------------------------


def test_the_ready_line_is_the_database_page_on_loopback(
    browsing: Browsing, tmp_path: Path
) -> None:
    parts = urlsplit(browsing.url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/auditor")
    dom = html.unescape(page(browsing, "", "database", tmp_path))
    for query in QUERIES:
        assert query.title in dom


# -- the canned queries show the week's story ------------------------------------------------


def test_violations_by_rule_and_service_per_week(browsing: Browsing, tmp_path: Path) -> None:
    rows = canned(browsing, "violations_by_week", tmp_path)
    got = {(r["iso_week"], r["rule"], r["service"], r["violations"], r["promotions"]) for r in rows}
    assert got == {
        # charge-api!3: smoke failed, yet noted (not contained) and labelled
        (WEEK_OF_THE_STORY, "SH10", "charge-api", "1", "evenergi/charge-api!3"),
        (WEEK_OF_THE_STORY, "SH12", "charge-api", "1", "evenergi/charge-api!3"),
        (WEEK_OF_THE_STORY, "SH13", "charge-api", "1", "evenergi/charge-api!3"),
        # billing!3: labelled while its deployment was still running
        (WEEK_OF_THE_STORY, "SH12", "billing", "1", "evenergi/billing!3"),
    }


def test_drift(browsing: Browsing, tmp_path: Path) -> None:
    rows = canned(browsing, "drift", tmp_path)
    assert [(r["service"], r["project"], r["sha"], r["title"], r["iso_week"]) for r in rows] == [
        ("billing", "evenergi/billing", d["sha"], "Raise invoice batch size", WEEK_OF_THE_STORY)
        for d in browsing.drift
    ]
    assert len(rows) == 1


def test_label_failures(browsing: Browsing, tmp_path: Path) -> None:
    rows = canned(browsing, "label_failures", tmp_path)
    assert {(r["mr"], r["service"], r["sh12"], r["verdict"]) for r in rows} == {
        ("evenergi/charge-api!3", "charge-api", "fail", "non_compliant"),
        ("evenergi/billing!3", "billing", "fail", "non_compliant"),
    }
    by_mr = {r["mr"]: r["summary"] for r in rows}
    assert "although the checks failed" in by_mr["evenergi/charge-api!3"]
    assert "before deployment" in by_mr["evenergi/billing!3"]


def test_unknowns_by_endpoint(browsing: Browsing, tmp_path: Path) -> None:
    rows = canned(browsing, "unknowns_by_endpoint", tmp_path)
    assert [
        (r["run_id"], r["run_status"], r["endpoint"], r["gaps"], r["services"]) for r in rows
    ] == [("1", "incomplete", "approvals", "1", "billing")]
    assert "approvals of evenergi/billing!3: permission denied (403)" in rows[0]["could_not_read"]


def test_the_raw_gitlab_response_behind_a_finding(browsing: Browsing, tmp_path: Path) -> None:
    rows = canned(
        browsing, "finding_response", tmp_path, project="evenergi/charge-api", iid="3", rule="SH12"
    )
    assert rows, "no stored response behind charge-api!3's SH12"
    for row in rows:
        assert (row["rule"], row["finding"], row["service"]) == ("SH12", "fail", "charge-api")
        assert "/evenergi%2Fcharge-api/merge_requests/3/resource_label_events" in row["url"]
        assert row["http_status"] == "200"
        # the body shown is the evidence itself: its SHA-256 is the stored one
        assert hashlib.sha256(row["body"].encode()).hexdigest() == row["sha256"]
    bodies = " ".join(r["body"] for r in rows)
    assert '"name":"Validated in Staging"' in bodies and '"action":"add"' in bodies
    # the approvals GitLab refused are evidence of nothing: SH02 of billing!3 shows no body
    assert (
        canned(
            browsing, "finding_response", tmp_path, project="evenergi/billing", iid="3", rule="SH02"
        )
        == []
    )


def test_every_table_page_explains_itself(browsing: Browsing, tmp_path: Path) -> None:
    dom = html.unescape(page(browsing, "/runs", "table-runs", tmp_path))
    assert TABLES["runs"].description in dom
    for column in ("coverage", "window_from"):
        assert TABLES["runs"].columns[column] in dom


# -- loopback only, read-only, byte-identical ------------------------------------------------


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as the kernel writes them) of listening TCP sockets on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_it_listens_on_127_0_0_1_only(browsing: Browsing) -> None:
    port = urlsplit(browsing.url).port
    assert port is not None
    assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing on :: or 0.0.0.0
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outward address
        outward = probe.getsockname()[0]
    except OSError:
        outward = None
    finally:
        probe.close()
    if outward and not outward.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((outward, port), timeout=5).close()


@pytest.mark.parametrize(
    "sql",
    ["delete from responses", "insert into cursors values ('x', 'y', 'z')", "drop table runs"],
)
def test_sql_that_writes_is_refused(browsing: Browsing, sql: str, tmp_path: Path) -> None:
    shot = "refused-" + sql.split()[0]
    dom = html.unescape(page(browsing, "?" + urlencode({"sql": sql}), shot, tmp_path))
    assert "Statement must be a SELECT" in dom


@pytest.mark.parametrize("path", ["/runs", "/drift", "/finding_response", "/-/messages"])
def test_posts_are_refused(browsing: Browsing, path: str) -> None:
    request = urllib.request.Request(
        f"{browsing.url}{path}", data=b"sql=delete+from+runs", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405


def test_zz_the_file_is_unchanged_and_ctrl_c_stops_it(browsing: Browsing) -> None:
    """Last in the module: after every page above, the store is byte-identical, SQLite left
    no journal beside it, and an interrupt ends the server cleanly."""
    browsing.process.send_signal(signal.SIGINT)
    browsing.process.wait(timeout=60)
    stderr = browsing.stderr.read_text()
    assert browsing.process.returncode == 0, stderr[-2000:]
    assert sha256(browsing.db) == browsing.sha256
    assert sorted(
        p.name for p in browsing.db.parent.iterdir() if p.name.startswith("auditor.db")
    ) == [
        "auditor.db",
        "auditor.db.lock",  # the sweep's lock file, empty, from before
    ]
    assert browsing.process.stdout is not None
    assert browsing.process.stdout.read() == ""  # nothing after the ready line


# -- metadata covers the schema --------------------------------------------------------------


def test_every_table_and_column_of_a_fresh_store_is_described(tmp_path: Path) -> None:
    """A migration that adds a table or column fails here until browse.py describes it."""
    db = tmp_path / "fresh.db"
    EvidenceStore(db).close()
    conn = sqlite3.connect(db)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        columns = {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()
    assert tables
    assert sorted(tables) == sorted(TABLES), "describe every table in auditor/browse.py TABLES"
    served = metadata("fresh")["databases"]["fresh"]["tables"]
    for table, names in columns.items():
        assert served[table]["description"].strip()
        described = served[table]["columns"]
        assert sorted(names) == sorted(described), f"describe every column of {table}"
        assert all(text.strip() for text in described.values())


def test_canned_queries_run_on_a_fresh_store(tmp_path: Path) -> None:
    """Every canned query is valid SQL against the real schema (an empty store: no rows)."""
    db = tmp_path / "fresh.db"
    EvidenceStore(db).close()
    conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        for query in QUERIES:
            params = {"project": "evenergi/vemo-core", "iid": "1", "rule": "SH12"}
            assert conn.execute(query.sql, params).fetchall() == [], query.name
    finally:
        conn.close()


# -- bad input: one line, exit 2 -------------------------------------------------------------


def _browse(*args: str) -> object:
    return CliRunner().invoke(app, ["browse", *args], catch_exceptions=False)


def test_without_a_store(tmp_path: Path) -> None:
    needs_datasette()
    one_error_line(_browse("--db", str(tmp_path / "none.db")), 2, "no evidence store", "none.db")


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    needs_datasette()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    one_error_line(_browse("--db", str(other)), 2, "not an auditor store")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    one_error_line(_browse("--db", str(text)), 2, "not an auditor store")


def test_a_store_with_writes_not_folded_in_is_refused(tmp_path: Path) -> None:
    """An immutable open ignores the write-ahead log, so it would show stale evidence."""
    needs_datasette()
    db = tmp_path / "auditor.db"
    EvidenceStore(db).close()
    Path(f"{db}-wal").write_bytes(b"\0" * 32)
    one_error_line(_browse("--db", str(db)), 2, "auditor.db-wal")


def test_a_bad_port(tmp_path: Path) -> None:
    db = tmp_path / "auditor.db"
    EvidenceStore(db).close()
    one_error_line(_browse("--db", str(db), "--port", "70000"), 2, "--port")


def test_without_datasette_it_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("datasette", "datasette.app", "uvicorn"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` raises ImportError
    db = tmp_path / "auditor.db"
    EvidenceStore(db).close()
    one_error_line(_browse("--db", str(db)), 2, "pip install 'auditor[browse]'")


def test_check_and_history_do_not_import_datasette(tmp_path: Path) -> None:
    db = tmp_path / "auditor.db"
    EvidenceStore(db).close()
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from auditor.cli import app\n"
        f"result = CliRunner().invoke(app, ['history', '--db', {str(db)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasette', 'uvicorn')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
