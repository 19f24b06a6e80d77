"""The HTML reports in a real browser: Debian's headless Chromium opens `index.html` and a
service report rendered from a sweep of a world full of hostile GitLab text.

Checked: the page renders (the summary and the inline `<svg>` charts are in the DOM
Chromium built), the console stays silent (no script error, no Content-Security-Policy
violation: our pages log nothing at all), the hostile payload is text in the DOM and never
an element, and a local HTTP server named in that payload is never contacted. Screenshots
are kept under `test-artifacts/` (gitignored) for a person to look at.

Without Chromium the tests skip on a developer's machine but fail in CI (`CI=true`), so a
CI image that lost the browser cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from auditor.report.site import write_reports
from auditor.store import EvidenceStore
from tests.test_reports_html_pdf import (
    GENERATED,
    Site,
    build_site,
    copy_store,
    hostile_world,
    payload,
    recording_server,
    serve_world,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in a container, Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes the renderer
    # No DNS at all: the browser has no business resolving a name while showing a report.
    # The rule maps even a literal address to NOTFOUND, so 127.0.0.1 is excluded: the
    # recorder below must be reachable if the page tried, or "never contacted" would prove
    # nothing; only the page's own CSP and escaping keep it from trying.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
TIMEOUT = 90


def chromium() -> str:
    """The Chromium binary; skip without one, except in CI, where it must be installed."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; CI must install it (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@dataclass
class Browsed:
    site: Site
    recorder: ThreadingHTTPServer
    port: int


@pytest.fixture(scope="module")
def browsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browsed]:
    chromium()  # skip (or fail in CI) before paying for the sweep
    tmp = tmp_path_factory.mktemp("browser")
    with recording_server() as recorder:
        port = recorder.server_address[1]
        for served in serve_world(hostile_world(port), tmp):
            site = build_site(served, tmp)
        # the recorder stays up while the browser opens the pages
        yield Browsed(site, recorder, port)


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    """What the page said on the console (Chromium logs it as `:CONSOLE` lines)."""
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line
    ]


@pytest.mark.parametrize("name", ["index.html", "vemo-core.html"])
def test_page_renders_in_chromium_without_console_errors(
    browsed: Browsed, name: str, tmp_path: Path
) -> None:
    page = browsed.site.out / name
    dump = run_chromium(
        tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = dump.stdout
    assert console_lines(dump.stderr) == []
    assert "<h2>Summary</h2>" in dom
    assert dom.count("<svg") >= 1
    assert "<script" not in dom and "<img" not in dom
    if name != "index.html":
        # the hostile title is in the DOM as text (serialised escaped), twice: TOC + heading
        escaped = payload(browsed.port).replace("&", "&amp;").replace("<", "&lt;")
        escaped = escaped.replace(">", "&gt;")
        assert dom.count(escaped) >= 2
        assert dom.count("<svg") == 3  # trend, lead time, the promotion's timeline

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-{page.stem}.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert browsed.recorder.hits == []  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def simulated_site(browsed: Browsed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run's pages, its GitLab marked simulated as `auditor demo` marks it."""
    tmp = tmp_path_factory.mktemp("simulated")
    db = tmp / "demo.db"
    copy_store(browsed.site.db, db)
    with EvidenceStore(db) as store:
        store.mark_simulated(browsed.site.gitlab_url)
        write_reports(store, 1, tmp / "out", generated_at=GENERATED)
    return tmp / "out"


@pytest.mark.parametrize("name", ["index.html", "vemo-core.html"])
def test_simulated_gitlab_banner_renders_and_links_nowhere(
    browsed: Browsed, simulated_site: Path, name: str, tmp_path: Path
) -> None:
    """Issue 10: the demo's pages say their GitLab was simulated; in the DOM Chromium built
    there is the banner and no link to the simulator's (dead) address. Screenshot kept."""
    page = simulated_site / name
    dump = run_chromium(
        tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = dump.stdout
    assert console_lines(dump.stderr) == []
    assert '<p class="banner simulated">' in dom and "<strong>simulated</strong>" in dom
    assert f"{browsed.site.gitlab_url} (simulated)" in dom
    assert f'href="{browsed.site.gitlab_url}' not in dom
    assert 'href="http' not in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-simulated-{page.stem}.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
    assert browsed.recorder.hits == []  # type: ignore[attr-defined]
