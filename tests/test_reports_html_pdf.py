"""Per-service HTML and PDF reports rendered from real sweeps of simulated worlds.

What is checked, and how: the HTML is parsed (html.parser) rather than grepped, so "no
remote load" means no element attribute that would load one; the PDF is read back as text
(pypdf), so "names each promotion, verdict and failing rule" is what a reader gets. Hostile
GitLab text (an MR title and note with `<img src=http://127.0.0.1:PORT/...>` and a script)
is rendered with a recording HTTP server listening on that port: it must stay unhit while
the payload shows as text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sqlite3
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader

from auditor.findings import Milestones, MRSummary, PromotionResult, Status, Verdict
from auditor.gitlab.client import RawResponse
from auditor.report import charts
from auditor.report.html import (
    MAX_WEEKS,
    build_index_page,
    build_service_pages,
    file_stems,
    gitlab_link,
    render_index,
    render_service,
    weekly_counts,
)
from auditor.report.pdf import LocalOnlyFetcher, render_pdf
from auditor.report.site import write_reports
from auditor.simulator.flows import T0, hotfix, release_flow, standard_org
from auditor.simulator.server import SimulatorServer
from auditor.simulator.world import World
from auditor.simulator.worlds import config_toml, services_of
from auditor.store import EvidenceStore
from tests.conftest import Served, serve

WEEK = ("--from", "2026-11-16", "--to", "2026-11-22")
GENERATED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
VERDICT_LABELS = {
    "compliant": "COMPLIANT",
    "non_compliant": "NON-COMPLIANT",
    "incomplete": "INCOMPLETE",
    "in_progress": "IN PROGRESS",
    "not_promoted": "NOT PROMOTED",
}
# Elements that load something or run something; a report has none of them.
LOADING_TAGS = {
    "script",
    "img",
    "image",
    "link",
    "iframe",
    "frame",
    "object",
    "embed",
    "audio",
    "video",
    "source",
    "track",
    "base",
    "form",
    "input",
    "foreignobject",
}
URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "data", "poster", "srcset"}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Every start tag with its attributes, and the text a reader sees."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._text: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)


def assert_self_contained(html: str, gitlab_url: str, local_files: set[str]) -> Page:
    """Nothing in `html` loads a URL: no loading elements, no `url(...)` but in-document
    SVG references, and every http(s) URL is an `<a href>` to the run's GitLab."""
    page = Page(html)
    assert not {t for t, _ in page.tags} & LOADING_TAGS, {t for t, _ in page.tags} & LOADING_TAGS
    base = gitlab_url.rstrip("/") + "/"
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name not in URL_ATTRS:
                continue
            if re.match(r"\s*https?:", value, re.I):
                assert tag == "a" and (value + "/").startswith(base), (tag, name, value)
            elif tag == "a":
                assert value.startswith("#") or value in local_files, (tag, name, value)
            else:
                # <use xlink:href="#..."> inside the charts: a reference within the page
                assert value.startswith("#"), (tag, name, value)
    assert not re.search(r"url\(\s*(?!#)", html), "a CSS url() that is not a fragment"
    assert "@import" not in html and "@font-face" not in html
    return page


def pdf_text(path: Path) -> tuple[str, int]:
    reader = PdfReader(path)
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


def sweep(served: Served, db: Path) -> dict[str, Any]:
    result = served.run(
        "sweep", *WEEK, "--db", str(db), "--format", "json", "--now", served.world.now.isoformat()
    )
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def ref(promotion: dict[str, Any]) -> str:
    return f"{promotion['mr']['project']}!{promotion['mr']['iid']}"


def failing(promotion: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in promotion["findings"] if f["status"] == "fail"]


def needs_attention(promotion: dict[str, Any]) -> bool:
    """Printed in full: not compliant, or any finding failed or unknown."""
    return promotion["verdict"] != "compliant" or any(
        f["status"] in ("fail", "unknown") for f in promotion["findings"]
    )


@dataclass
class Site:
    doc: dict[str, Any]
    db: Path
    out: Path
    paths: list[Path]
    gitlab_url: str


def build_site(served: Served, tmp: Path) -> Site:
    db = tmp / "a.db"
    doc = sweep(served, db)
    with EvidenceStore(db) as store:
        (run,) = store.runs()
        paths = write_reports(store, int(run.id), tmp / "out", generated_at=GENERATED)
    return Site(doc, db, tmp / "out", paths, served.url)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The `week` world: five services, compliant and non-compliant promotions, drift,
    a cut-off."""
    tmp = tmp_path_factory.mktemp("week")
    for served in serve("week", tmp):
        yield build_site(served, tmp)


# --------------------------------------------------------------------------------------
# the site of a real sweep
# --------------------------------------------------------------------------------------


def test_write_reports_writes_index_and_html_pdf_per_service(week: Site) -> None:
    services = ["billing", "charge-api", "fleet-api", "fleet-worker", "vemo-core"]
    expected = ["index.html"] + [f"{s}.{ext}" for s in services for ext in ("html", "pdf")]
    assert sorted(p.name for p in week.paths) == sorted(expected)
    assert week.paths[0].name == "index.html"
    assert all(p.parent == week.out and p.stat().st_size > 0 for p in week.paths)
    assert not [p for p in week.out.iterdir() if p.name.startswith(".")], "temp files left"


def test_service_html_is_self_contained_and_names_everything(week: Site) -> None:
    local = {p.name for p in week.paths}
    by_service: dict[str, list[dict[str, Any]]] = {}
    for promotion in week.doc["promotions"]:
        by_service.setdefault(promotion["service"], []).append(promotion)
    drift_titles = {d["service"]: d["title"] for d in week.doc["drift"]}
    for service, promotions in by_service.items():
        html = (week.out / f"{service}.html").read_text(encoding="utf-8")
        page = assert_self_contained(html, week.gitlab_url, local)
        text = page.text
        # header: service, window, GitLab URL, tool and rulebook versions, generation time
        assert f"Hotfix promotions to staging: {service}" in text
        assert "2026-11-16 00:00 UTC to 2026-11-22 23:59:59 UTC" in text
        assert week.gitlab_url in text
        assert "auditor 0.1.0" in text and "staging-hotfix-release v1" in text
        assert "Generated 2026-11-26 15:00 UTC" in text
        # charts inline: the weekly trend, the lead time, one timeline per promotion needing
        # attention (a compliant one's details have the steps line, not a chart)
        attention = [p for p in promotions if needs_attention(p)]
        assert page.count("svg") == 2 + len(attention), service
        assert html.count("<svg") == page.count("svg")
        ids = {attrs["id"] for _, attrs in page.tags if "id" in attrs}
        for promotion in promotions:
            assert ref(promotion) in text
            assert promotion["mr"]["title"] in text
            if not needs_attention(promotion):
                # its row links to its details, a <details> element further down the page
                (anchor,) = {
                    attrs["href"][1:]
                    for tag, attrs in page.tags
                    if tag == "a"
                    and attrs.get("href", "").startswith("#p")
                    and attrs["href"][1:].endswith(f"-{promotion['mr']['iid']}")
                    and promotion["mr"]["project"].split("/")[-1] in attrs["href"]
                }
                assert anchor in ids
                assert ("details", anchor) in {(t, a.get("id")) for t, a in page.tags}
            meta = f"{VERDICT_LABELS[promotion['verdict']]} service {service}"
            assert meta in text, (service, ref(promotion))
            if failing(promotion):
                assert f"failing: {', '.join(failing(promotion))}" in text
            for finding in promotion["findings"]:
                assert finding["summary"] in text
                for evidence in finding["evidence"]:
                    assert f'href="{evidence["url"]}"' in html
        if service in drift_titles:
            assert drift_titles[service] in text
        assert "job 90035" in text and "maria.release" in text  # the week's cut-off


def test_index_links_every_service_report(week: Site) -> None:
    html = (week.out / "index.html").read_text(encoding="utf-8")
    page = assert_self_contained(html, week.gitlab_url, {p.name for p in week.paths})
    links = {attrs["href"] for tag, attrs in page.tags if tag == "a"}
    for path in week.paths[1:]:
        assert path.name in links
    assert page.count("svg") == 1
    total = len(week.doc["promotions"])
    compliant = sum(1 for p in week.doc["promotions"] if p["verdict"] == "compliant")
    assert f"{total} promotions" in page.text
    assert f"{100 * compliant / total:.1f}% compliant ({compliant})" in page.text


def test_pdf_text_names_each_promotion_verdict_and_failing_rule(week: Site) -> None:
    seen = 0
    for service in {p["service"] for p in week.doc["promotions"]}:
        text, pages = pdf_text(week.out / f"{service}.pdf")
        assert f"page 1 of {pages}" in text and f"page {pages} of {pages}" in text
        assert f"Hotfix promotions to staging: {service}" in text
        for promotion in week.doc["promotions"]:
            if promotion["service"] != service:
                continue
            seen += 1
            assert f"{ref(promotion)} {promotion['mr']['title']}" in text
            # a compliant promotion's own summaries (not words a printed one shares)
            printed = {
                f["summary"]
                for p in week.doc["promotions"]
                if p["service"] == service and needs_attention(p)
                for f in p["findings"]
            }
            summaries = [
                f["summary"]
                for f in promotion["findings"]
                if f["status"] == "pass" and f["summary"] not in printed
            ]
            if needs_attention(promotion):
                assert f"{VERDICT_LABELS[promotion['verdict']]} service {service}" in text
                for finding in promotion["findings"]:
                    assert " ".join(finding["summary"].split()) in text
            else:
                # one row: MR, title, dates, verdict; the findings are in the HTML only
                assert text.count(ref(promotion)) == 1, ref(promotion)
                assert summaries and not [s for s in summaries if " ".join(s.split()) in text]
                for finding in promotion["findings"]:
                    if finding["status"] == "warn":  # a warning is shown on the row
                        assert f"warn {finding['rule']}: {finding['summary']}" in text
            for rule in failing(promotion):
                assert rule in text
            if failing(promotion):
                assert f"failing: {', '.join(failing(promotion))}" in text
    assert seen == len(week.doc["promotions"])


def test_rendering_is_deterministic_and_reads_only_the_store(week: Site) -> None:
    """Rendered again from the store alone (the simulator is gone by now), byte for byte
    the files written: same data, same `generated_at`, same HTML, charts included."""
    with EvidenceStore(week.db) as store:
        pages = build_service_pages(store, 1, generated_at=GENERATED)
        index = render_index(build_index_page(store, 1, generated_at=GENERATED))
    for page in pages:
        written = (week.out / f"{page.file_stem}.html").read_text(encoding="utf-8")
        assert render_service(page) == written, page.service
    assert index == (week.out / "index.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# hostile GitLab text
# --------------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    def _hit(self) -> None:
        self.server.hits.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _hit

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 that records every request it gets (`.hits`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    with recording_server() as server:
        yield server


def payload(port: int) -> str:
    return f'<img src="http://127.0.0.1:{port}/x"> <script>alert(1)</script>'


def hostile_world(port: int) -> World:
    """One promotion whose MR title, validation note, note author and a drift commit's title
    carry markup that would load from 127.0.0.1:`port` and run a script if not escaped."""
    evil = payload(port)
    org = standard_org()
    project = org.projects["vemo-core"]
    mr = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    project.commit(
        "release",
        f"Tweak {evil}",
        {"src/retry.py": "LIMIT = 9\n"},
        org.dev,
        T0 + timedelta(minutes=20),
    )
    project.cherry_pick(mr, org.rm, T0 + timedelta(minutes=30))
    flow = release_flow(org, "vemo-core", T0 + timedelta(minutes=40))
    # the validation note (SH11 quotes its author) and the label, as `validate` would
    mallory = org.world.user(f'mallory"><img src="http://127.0.0.1:{port}/user">', "Mallory")
    mr.note(
        f"Validated in staging for vemo-core {evil}",
        mallory,
        flow.finished_at + timedelta(minutes=11),
    )
    mr.label("Validated in Staging", org.rm, flow.finished_at + timedelta(minutes=12))
    # Only the API's view changes: the git history was written with a plain title.
    mr.title = f"Fix {evil} timeout"
    return org.world


def serve_world(world: World, tmp: Path) -> Iterator[Served]:
    server = SimulatorServer(world)
    url = server.start()
    config = tmp / "auditor.toml"
    module = types.ModuleType("hostile")
    config.write_text(config_toml(url, services_of(module)), encoding="utf-8")
    try:
        yield Served(module, world, server, url, config)
    finally:
        server.stop()


def test_hostile_gitlab_text_is_shown_as_text_and_loads_nothing(
    recorder: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = recorder.server_address[1]
    evil = payload(port)
    for served in serve_world(hostile_world(port), tmp_path):
        site = build_site(served, tmp_path)
    (promotion,) = site.doc["promotions"]
    assert evil in promotion["mr"]["title"]
    assert site.doc["drift"] and evil in site.doc["drift"][0]["title"]

    html = (site.out / "vemo-core.html").read_text(encoding="utf-8")
    page = assert_self_contained(html, site.gitlab_url, {p.name for p in site.paths})
    assert f"Fix {evil} timeout" in page.text  # the title, as text
    assert f"Tweak {evil}" in page.text  # the drift commit
    assert 'mallory"><img' in page.text  # the note author, in SH11's summary
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    # The PDF says the same, as text, and its renderer fetched nothing.
    text, _ = pdf_text(site.out / "vemo-core.pdf")
    assert f"Fix {evil} timeout" in text
    assert "<script>alert(1)</script>" in text
    fetcher = LocalOnlyFetcher()
    render_pdf(html, fetcher=fetcher)
    assert fetcher.refused == []
    assert recorder.hits == []  # type: ignore[attr-defined]


def test_pdf_fetcher_refuses_every_url_but_data(
    recorder: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """Even markup that asks for remote content (as if escaping had failed) loads nothing."""
    port = recorder.server_address[1]
    base = f"http://127.0.0.1:{port}"
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the report")
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    html = f"""<!DOCTYPE html><html><head>
<link rel="stylesheet" href="{base}/sheet.css">
<style>
@import url("{base}/import.css");
@font-face {{ font-family: Remote; src: url("{base}/font.woff"); }}
body {{ font-family: Remote; background: url("ftp://127.0.0.1:{port}/bg.png"); }}
</style></head><body>
<p>report</p>
<img src="{base}/img.png"><img src="https://127.0.0.1:{port}/tls.png">
<img src="file://{secret}"><img src="{pixel}">
<svg width="10" height="10"><image href="{base}/svg-image.png" width="10" height="10"/></svg>
</body></html>"""
    fetcher = LocalOnlyFetcher()
    pdf = render_pdf(html, fetcher=fetcher)
    assert pdf is not None and pdf.startswith(b"%PDF")
    assert recorder.hits == []  # type: ignore[attr-defined]
    refused = set(fetcher.refused)
    for url in (
        f"{base}/sheet.css",
        f"{base}/import.css",
        f"{base}/font.woff",
        f"{base}/img.png",
        f"https://127.0.0.1:{port}/tls.png",
        f"ftp://127.0.0.1:{port}/bg.png",
        f"file://{secret}",
    ):
        assert url in refused, (url, refused)
    assert not [u for u in refused if u.startswith("data:")]


# --------------------------------------------------------------------------------------
# several runs, the evidence appendix, a big service
# --------------------------------------------------------------------------------------


def _shift(result: PromotionResult, delta: timedelta, **mr: Any) -> PromotionResult:
    """The same promotion `delta` later (every evidence time moved), optionally renamed."""

    def moved(at: datetime | None) -> datetime | None:
        return None if at is None else at + delta

    return dataclasses.replace(
        result,
        mr=dataclasses.replace(result.mr, merged_at=moved(result.mr.merged_at), **mr),
        findings=tuple(
            dataclasses.replace(
                f,
                evidence=tuple(dataclasses.replace(e, at=moved(e.at)) for e in f.evidence),
            )
            for f in result.findings
        ),
        milestones=_shift_milestones(result.milestones, moved),
    )


def _shift_milestones(
    m: Milestones | None, moved: Callable[[datetime | None], datetime | None]
) -> Milestones | None:
    """The milestones with every time moved (the pages read times from them)."""
    if m is None:
        return None
    steps = {}
    for field in dataclasses.fields(m):
        value = getattr(m, field.name)
        if dataclasses.is_dataclass(value) and hasattr(value, "at"):
            value = dataclasses.replace(value, at=moved(value.at))  # type: ignore[type-var]
        steps[field.name] = value
    steps["merged_at"] = moved(m.merged_at)
    return Milestones(**steps)


def _run(store: EvidenceStore, week_start: datetime, services: list[str], url: str) -> int:
    run_id = store.begin_run(
        window_from=week_start,
        window_to=week_start + timedelta(days=7),
        services=services,
        config_sha256="0" * 64,
        rulebook_sha256="0" * 64,
        tool_version="0.1.0",
        gitlab_url=url,
    )
    return run_id


def _finish(store: EvidenceStore, run_id: int) -> None:
    store.finish_run(run_id, status="complete", requests=0, coverage={}, summary={})


def test_trend_spans_earlier_runs_and_appendix_lists_recorded_hashes(
    week: Site, tmp_path: Path
) -> None:
    with EvidenceStore(week.db) as source:
        results = [p for p in source.report(1).promotions if p.service == "charge-api"]
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    body = b'{"id": 90080, "status": "failed"}'
    sha = hashlib.sha256(body).hexdigest()
    gone = "f" * 64
    with EvidenceStore(tmp_path / "trend.db") as store:
        earlier = _run(store, monday - timedelta(days=7), ["charge-api"], week.gitlab_url)
        for result in results:
            # other MRs than this week's: a promotion audited again counts once, as itself
            store.record_promotion(
                earlier, _shift(result, timedelta(days=-7), iid=result.mr.iid + 100)
            )
        _finish(store, earlier)
        current = _run(store, monday, ["charge-api"], week.gitlab_url)
        store.put_responses(
            [RawResponse("GET", f"{week.gitlab_url}/api/v4/jobs/90080", 200, GENERATED, sha, body)]
        )
        for n, result in enumerate(results):
            store.record_promotion(current, result, evidence=[sha, gone] if n == 0 else [])
        _finish(store, current)
        later = _run(store, monday + timedelta(days=7), ["charge-api"], week.gitlab_url)
        for result in results:
            store.record_promotion(
                later, _shift(result, timedelta(days=7), iid=result.mr.iid + 200)
            )
        _finish(store, later)

        (page,) = build_service_pages(store, current, generated_at=GENERATED)
        (latest,) = build_service_pages(store, later, generated_at=GENERATED)
        html = render_service(page)
    # the run's own week and the one before it; the later run is not in an older report
    assert page.trend_weeks == 2 and latest.trend_weeks == 3
    assert "wk 2026-11-09" in html and "wk 2026-11-16" in html and "wk 2026-11-23" not in html
    assert page.hashes_recorded == 2
    first = page.promotions[[p.iid for p in page.promotions].index(results[0].mr.iid)]
    assert [h.sha256 for h in first.hashes] == [sha]
    assert first.hashes[0].url.endswith("/api/v4/jobs/90080") and first.hashes[0].size == len(body)
    assert first.missing_hashes == (gone,)
    text = Page(html).text
    assert sha in text and gone in text and "no longer in the store" in text
    # the installed rulebook's hash differs from the fake one: the page must not claim it
    assert "a rulebook other than the installed one" in text


def test_a_big_service_renders_readably(week: Site, tmp_path: Path) -> None:
    """A service with many promotions: every one named in the PDF, pages numbered. 40
    promotions by default; AUDITOR_BIG_REPORT_TEST=1 renders 200. (tests/test_report_scale.py
    holds the layout at 153 promotions: attention in full, compliant ones a row each.)"""
    count = 200 if os.environ.get("AUDITOR_BIG_REPORT_TEST") == "1" else 40
    with EvidenceStore(week.db) as source:
        results = list(source.report(1).promotions)
    with EvidenceStore(tmp_path / "big.db") as store:
        run_id = _run(store, datetime(2026, 11, 16, tzinfo=UTC), ["big"], week.gitlab_url)
        for n in range(count):
            result = results[n % len(results)]
            moved = _shift(
                result, timedelta(minutes=n), iid=1000 + n, title=f"{result.mr.title} #{n}"
            )
            store.record_promotion(run_id, dataclasses.replace(moved, service="big"))
        _finish(store, run_id)
        paths = write_reports(store, run_id, tmp_path / "out", generated_at=GENERATED)
    text, pages = pdf_text(tmp_path / "out" / "big.pdf")
    assert [p.name for p in paths] == ["index.html", "big.html", "big.pdf"]
    assert f"page {pages} of {pages}" in text and pages < 1.5 * count
    for n in range(count):
        assert f"!{1000 + n} " in text


# --------------------------------------------------------------------------------------
# pure pieces
# --------------------------------------------------------------------------------------


def test_only_urls_on_the_runs_gitlab_become_links() -> None:
    gitlab = "https://gitlab.example.com"
    assert gitlab_link(f"{gitlab}/g/p/-/jobs/1", gitlab) == f"{gitlab}/g/p/-/jobs/1"
    assert gitlab_link(gitlab, gitlab) == gitlab
    for url in (
        "javascript:alert(1)",
        "https://gitlab.example.com.evil.test/x",
        "https://evil.test/https://gitlab.example.com/",
        "data:text/html,<script>alert(1)</script>",
        f'{gitlab}/x" onmouseover="alert(1)',
        f"{gitlab}/x\nnext",
        None,
        "",
    ):
        assert gitlab_link(url, gitlab) is None, url
    assert gitlab_link("javascript:x", "javascript:x") is None


def test_file_names_are_safe_and_unique() -> None:
    stems = file_stems(["vemo-core", "../etc/passwd", "index", "a b/c", "A", "a", "...", "Index"])
    assert stems["vemo-core"] == "vemo-core"
    assert stems["../etc/passwd"] == "etc_passwd"
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s) for s in stems.values())
    lowered = [s.lower() for s in stems.values()]
    assert len(set(lowered)) == len(lowered) and "index" not in lowered


def test_charts_escape_text_are_deterministic_and_keep_ids_apart() -> None:
    hostile = '<script>alert(1)</script> & $x$ "q" --> ]]>'
    at = datetime(2026, 11, 18, 10, tzinfo=UTC)
    points = [
        charts.TimelinePoint(hostile, at, "pass"),
        charts.TimelinePoint("deployed", at + timedelta(minutes=20), "fail"),
        charts.TimelinePoint("label added", None, "unknown"),
    ]
    one = charts.timeline_svg(points, "a")
    assert one is not None and one == charts.timeline_svg(points, "a")
    assert "<script" not in one and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; $x$" in one
    assert one.startswith("<svg") and "<?xml" not in one and "DOCTYPE" not in one
    assert "<metadata" not in one and "<style" not in one and "http://matplotlib" not in one
    other = charts.timeline_svg(points, "b")
    assert other is not None
    ids_a = set(re.findall(r'id="([^"]+)"', one))
    ids_b = set(re.findall(r'id="([^"]+)"', other))
    assert ids_a and not ids_a & ids_b
    for ref_id in re.findall(r"url\(#([^)]+)\)", one):
        assert ref_id in ids_a
    assert charts.timeline_svg([charts.TimelinePoint("x", None, "unknown")], "c") is None
    assert charts.lead_time_svg([], "d") is None and charts.trend_svg([], "e") is None
    lead = charts.lead_time_svg([0.9, 1.1, 26.0], "f")
    assert lead is not None and "median 1.1 h" in lead


def test_chart_status_colours_cover_every_status() -> None:
    assert set(charts.STATUS_COLOURS) == {s.value for s in Status}


def test_weekly_counts_fill_gaps_and_stop_at_the_retention_horizon() -> None:
    def promotion(iid: int, merged: datetime, verdict: Verdict) -> PromotionResult:
        mr = MRSummary("g/p", iid, "t", "https://gitlab.example.com/g/p/-/merge_requests/1", merged)
        return PromotionResult(mr, "svc", verdict, ())

    wednesday = datetime(2026, 11, 18, 10, tzinfo=UTC)
    weeks = weekly_counts(
        [
            promotion(1, wednesday, Verdict.COMPLIANT),
            promotion(2, wednesday + timedelta(days=1), Verdict.NON_COMPLIANT),
            promotion(3, wednesday - timedelta(days=14), Verdict.INCOMPLETE),
        ]
    )
    assert [(w.week.isoformat(), w.compliant, w.non_compliant, w.other) for w in weeks] == [
        ("2026-11-02", 0, 0, 1),
        ("2026-11-09", 0, 0, 0),
        ("2026-11-16", 1, 1, 0),
    ]
    ancient = weekly_counts(
        [
            promotion(1, datetime(1999, 1, 1, tzinfo=UTC), Verdict.COMPLIANT),
            promotion(2, wednesday, Verdict.COMPLIANT),
        ]
    )
    assert len(ancient) == MAX_WEEKS and ancient[-1].week.isoformat() == "2026-11-16"


def test_the_compliant_card_is_coloured_by_what_it_means(week: Site) -> None:
    """Issue 10: a "0.0% compliant" card was green. Green only when all are compliant."""
    by_service: dict[str, set[str]] = {}
    for promotion in week.doc["promotions"]:
        by_service.setdefault(promotion["service"], set()).add(promotion["verdict"])
    seen = set()
    for service, verdicts in by_service.items():
        html = (week.out / f"{service}.html").read_text(encoding="utf-8")
        card = re.search(r'<div class="card (\w+)"><span class="n">[^<]*</span> compliant', html)
        assert card, service
        expected = (
            "ok" if verdicts == {"compliant"} else "bad" if "non_compliant" in verdicts else "warn"
        )
        assert card.group(1) == expected, (service, verdicts)
        seen.add(expected)
    assert {"ok", "bad"} <= seen, seen  # the week holds both kinds of service


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a store file (SQLite's backup, so a WAL is included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def pdf_link_targets(path: Path) -> list[str]:
    """Every URI a PDF's link annotations point at."""
    out = []
    for pdf_page in PdfReader(path).pages:
        for annotation in pdf_page.get("/Annots") or []:
            action = annotation.get_object().get("/A")
            if action is not None and "/URI" in action:
                out.append(str(action["/URI"]))
    return out


def test_reports_of_a_simulated_gitlab_say_so_and_link_nowhere(week: Site, tmp_path: Path) -> None:
    """Issue 10: the demo's reports linked to the simulator's port, dead once the demo
    ended. The same run, its GitLab marked simulated in the store (as `auditor demo` marks
    it), says so on every page and PDF and links nothing on that GitLab; unmarked (and in a
    store from before the mark existed), it keeps its links."""
    port = f":{urlsplit(week.gitlab_url).port}"
    htmls = [p for p in week.paths if p.suffix == ".html"]
    pdfs = [p for p in week.paths if p.suffix == ".pdf"]
    # unmarked: links to the run's GitLab, no word of a simulation
    assert all(f'href="{week.gitlab_url}' in p.read_text(encoding="utf-8") for p in htmls)
    assert any(t.startswith(week.gitlab_url) for p in pdfs for t in pdf_link_targets(p))
    assert not any("simulated" in Page(p.read_text(encoding="utf-8")).text for p in htmls)

    db = tmp_path / "demo.db"
    copy_store(week.db, db)
    with EvidenceStore(db) as store:
        assert store.simulated_gitlab_urls() == frozenset()  # nothing marked yet
        store.mark_simulated("http://gitlab.elsewhere.test")  # another GitLab: no effect here
        other = write_reports(store, 1, tmp_path / "other", generated_at=GENERATED)
        assert f'href="{week.gitlab_url}' in other[0].read_text(encoding="utf-8")
        store.mark_simulated(week.gitlab_url + "/")
        assert store.simulated_gitlab_urls() == {"http://gitlab.elsewhere.test", week.gitlab_url}
        paths = write_reports(store, 1, tmp_path / "out", generated_at=GENERATED)
    assert [p.name for p in paths] == [p.name for p in week.paths]
    for path in paths:
        if path.suffix == ".html":
            html = path.read_text(encoding="utf-8")
            page = assert_self_contained(html, week.gitlab_url, {p.name for p in paths})
            for tag, attrs in page.tags:
                for name, value in attrs.items():
                    assert port not in value, (path.name, tag, name, value)
            assert f"The GitLab at {week.gitlab_url} was simulated" in page.text, path.name
            assert f"{week.gitlab_url} (simulated)" in page.text
        else:
            text, _ = pdf_text(path)
            assert f"The GitLab at {week.gitlab_url} was simulated" in text, path.name
            assert not any(port in t for t in pdf_link_targets(path)), path.name
    # the evidence is still named, as text: an MR and the GitLab's address
    service_page = Page((tmp_path / "out" / "vemo-core.html").read_text(encoding="utf-8"))
    assert "open evenergi/vemo-core!" in service_page.text and week.gitlab_url in service_page.text
