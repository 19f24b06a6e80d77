"""A service report a person can read at any size: 150 compliant promotions and 3 that are
not, written into a real SQLite evidence store, rendered to real HTML and a real PDF
(WeasyPrint) and read back (html.parser, pypdf).

What a reader gets: the summary, then the promotions needing attention in full (every finding
and a short list of the responses they rest on, a missing one shown as missing), then one row
per compliant promotion, whose findings are in the HTML only (a `<details>` the row links
to), never printed. The raw responses are counted, not listed page after page: the evidence
bundle holds them, and `auditor verify` still checks the bundle written beside the reports.

The promotions are fabricated (the report is the code under test, not the checks); each
compliant one has summaries that name its own MR, so "not printed" is checked per promotion.
No wall-clock or memory assertion: the cost is held structurally instead (a compliant
promotion's responses are never looked up in the store).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from auditor.bundle import verify, write_bundle
from auditor.findings import (
    ChecksRan,
    Deployed,
    EvidenceLink,
    Finding,
    Labelled,
    Milestones,
    MRSummary,
    Picked,
    PipelineCreated,
    PromotionResult,
    ReleaseJobRan,
    Status,
    ValidationNote,
    Verdict,
)
from auditor.gitlab.client import RawResponse
from auditor.report.html import MAX_LISTED_RESPONSES, build_service_pages, render_service
from auditor.report.site import write_reports
from auditor.rulebook import load_rulebook
from auditor.store import EvidenceStore
from tests.test_reports_html_pdf import Page, assert_self_contained

GITLAB = "https://gitlab.example.com"
PROJECT = "evenergi/vemo-core"
SERVICE = "vemo-core"
COMPLIANT = 150
BAD_IIDS = (1040, 1080, 1120)  # non-compliant, among the compliant ones in time order
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
GENERATED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
# The evidence kind each rule's link has.
KINDS = {
    "SH01": "merge_request",
    "SH02": "merge_request",
    "SH03": "commit",
    "SH04": "deployment",
    "SH05": "pipeline",
    "SH06": "job",
    "SH07": "pipeline",
    "SH08": "deployment",
    "SH09": "deployment",
    "SH10": "job",
    "SH11": "note",
    "SH12": "label_event",
    "SH13": "deployment",
    "SH14": "deployment",
}
SHARED = 40  # responses every promotion rests on (deployments, pipelines lists)
OWN = 3  # and its own (its MR, its notes, its approvals)


def summary(iid: int, rule: str, status: Status) -> str:
    word = {Status.PASS: "held", Status.FAIL: "broken"}[status]
    return f"{rule} {word} for merge request {iid} in its own words"


def promotion(iid: int, verdict: Verdict, failing: tuple[str, ...] = ()) -> PromotionResult:
    merged = MONDAY + timedelta(hours=iid - 1000)
    findings = []
    for n, rule in enumerate(load_rulebook().rules):
        status = Status.FAIL if rule.id in failing else Status.PASS
        kind = KINDS.get(rule.id, "merge_request")
        link = EvidenceLink(
            kind,
            iid * 100 + n,
            f"{GITLAB}/{PROJECT}/-/{kind}s/{iid * 100 + n}",
            merged + timedelta(minutes=5 * n),
        )
        findings.append(Finding(rule.id, rule.name, status, summary(iid, rule.id, status), (link,)))
    mr = MRSummary(
        PROJECT,
        iid,
        f"Fix charger fault {iid}",
        f"{GITLAB}/{PROJECT}/-/merge_requests/{iid}",
        merged,
    )
    return PromotionResult(mr, SERVICE, verdict, tuple(findings), milestones=steps(iid, merged))


def steps(iid: int, merged: datetime) -> Milestones:
    """The milestones a sweep records, at the times the findings' links carry."""

    def when(rule: str) -> datetime:
        n = [r.id for r in load_rulebook().rules].index(rule)
        return merged + timedelta(minutes=5 * n)

    url = f"{GITLAB}/{PROJECT}/-/merge_requests/{iid}"
    return Milestones(
        attempt=1,
        merged_at=merged,
        picked=Picked(f"{iid:040d}", when("SH03"), None, (f"{iid:040d}",)),
        pipeline=PipelineCreated(iid * 100 + 4, when("SH05"), None),
        release_job=ReleaseJobRan(iid * 100 + 5, "success", when("SH06"), None),
        deployed=Deployed(iid * 100 + 7, iid, "success", when("SH08"), None),
        checks=ChecksRan("passed", when("SH10")),
        validated=ValidationNote(iid * 100 + 10, when("SH11"), "validated", url),
        labelled=Labelled(when("SH12"), True, url),
    )


def body(name: str) -> bytes:
    return f'{{"name": "{name}"}}'.encode()


def sha(name: str) -> str:
    return hashlib.sha256(body(name)).hexdigest()


@dataclass
class Built:
    db: Path
    out: Path
    run_id: int
    compliant: list[PromotionResult]
    bad: list[PromotionResult]
    evidence: dict[int, list[str]]  # iid -> cited hashes
    gone: str  # cited by two non-compliant promotions, not in the store
    paths: list[Path]


class CountingStore(EvidenceStore):
    """The real store, counting the responses the report looks up."""

    looked_up: list[str]

    def response(self, sha256: str) -> dict[str, Any] | None:
        self.looked_up.append(sha256)
        return super().response(sha256)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("scale")
    db = tmp / "auditor.db"
    compliant = [promotion(1000 + n, Verdict.COMPLIANT) for n in range(COMPLIANT + 3)]
    compliant = [p for p in compliant if p.mr.iid not in BAD_IIDS]
    bad = [
        promotion(BAD_IIDS[0], Verdict.NON_COMPLIANT, ("SH10", "SH12")),
        promotion(BAD_IIDS[1], Verdict.NON_COMPLIANT, ("SH02",)),
        promotion(BAD_IIDS[2], Verdict.NON_COMPLIANT, ("SH04", "SH11")),
    ]
    gone = "f" * 64
    names = [f"shared-{n}" for n in range(SHARED)]
    evidence: dict[int, list[str]] = {}
    with EvidenceStore(db) as store:
        run_id = store.begin_run(
            window_from=MONDAY,
            window_to=MONDAY + timedelta(days=14),
            services=[SERVICE],
            config_sha256="0" * 64,
            rulebook_sha256=load_rulebook().sha256,
            tool_version="0.1.0",
            gitlab_url=GITLAB,
        )
        for result in sorted([*compliant, *bad], key=lambda r: r.mr.iid):
            iid = result.mr.iid
            own = [f"mr-{iid}-{k}" for k in range(OWN)]
            store.put_responses(
                RawResponse(
                    "GET", f"{GITLAB}/api/v4/x/{name}", 200, GENERATED, sha(name), body(name)
                )
                for name in [*names, *own]
            )
            evidence[iid] = [sha(name) for name in [*names, *own]]
            if iid in BAD_IIDS[:2]:  # pruned, and cited twice
                evidence[iid].append(gone)
            store.record_promotion(run_id, result, evidence=evidence[iid])
        store.finish_run(run_id, status="complete", requests=0, coverage={}, summary={})
        paths = write_reports(store, run_id, tmp / "out", generated_at=GENERATED)
    yield Built(db, tmp / "out", run_id, compliant, bad, evidence, gone, paths)


def pdf_text(path: Path) -> tuple[str, int]:
    reader = PdfReader(path)
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


def occurrences(text: str, ref: str) -> int:
    return len(re.findall(re.escape(ref) + r"(?!\d)", text))


def test_the_pdf_prints_attention_in_full_and_compliant_promotions_as_rows(built: Built) -> None:
    text, pages = pdf_text(built.out / f"{SERVICE}.pdf")
    # 153 promotions: the summary, three in full, 150 rows. The old layout took a page or
    # more per promotion plus the response hashes of each (hundreds of pages).
    assert pages < 40, pages
    assert f"page {pages} of {pages}" in text
    assert "153 promotions" in text and "98.0% compliant (150)" in text
    assert "3 of 153 promotions" in text
    for result in built.bad:
        ref = f"{PROJECT}!{result.mr.iid}"
        assert f"{ref} {result.mr.title}" in text
        assert f"NON-COMPLIANT service {SERVICE}" in text
        for finding in result.findings:  # every finding, pass or fail, in full
            assert finding.summary in text, finding.summary
    for result in built.compliant:
        ref = f"{PROJECT}!{result.mr.iid}"
        assert occurrences(text, ref) == 1, ref  # its row, and nothing more
        assert f"{ref} {result.mr.title}" in text
        merged = result.mr.merged_at
        assert merged is not None and merged.strftime("%Y-%m-%d %H:%M") in text
        for finding in result.findings:
            assert finding.summary not in text, finding.summary


def test_the_html_reaches_every_compliant_promotions_details(built: Built) -> None:
    html = (built.out / f"{SERVICE}.html").read_text(encoding="utf-8")
    page = assert_self_contained(html, GITLAB, {p.name for p in built.paths})
    text = page.text
    details = {attrs.get("id") for tag, attrs in page.tags if tag == "details"}
    hrefs = [attrs["href"] for tag, attrs in page.tags if tag == "a" and "href" in attrs]
    assert len(details) == COMPLIANT
    for result in built.compliant:
        # the row links to a <details> holding every finding
        (anchor,) = [h[1:] for h in hrefs if re.fullmatch(rf"#p\d+-.*-{result.mr.iid}", h)]
        assert anchor in details
        for finding in result.findings:
            assert finding.summary in text
    for result in built.bad:
        for finding in result.findings:
            assert finding.summary in text
    # a timeline chart for each promotion in full, the trend and the lead time; none per
    # compliant promotion (its steps line says the same)
    assert page.count("svg") == 2 + len(built.bad)


def test_raw_evidence_is_counted_and_only_a_few_hashes_are_listed(built: Built) -> None:
    text, _ = pdf_text(built.out / f"{SERVICE}.pdf")
    html_text = Page((built.out / f"{SERVICE}.html").read_text(encoding="utf-8")).text
    distinct = {h for hashes in built.evidence.values() for h in hashes}
    cited = sum(len(hashes) for hashes in built.evidence.values())
    for shown in (text, html_text):
        assert f"{len(distinct)} distinct GitLab responses ({cited} citations)" in shown
        assert "evidence/responses/<sha256>.json" in shown
        listed = {h for h in distinct if h in shown}
        # only the promotions in full list hashes, at most MAX_LISTED_RESPONSES each
        assert len(listed) <= MAX_LISTED_RESPONSES * len(built.bad)
        own = {sha(f"mr-{r.mr.iid}-{k}") for r in built.compliant for k in range(OWN)}
        assert not listed & own
        # the missing response is never hidden, and the first non-compliant promotion
        # lists the responses of its own MR first (the objects its failing findings name
        # are not those, so order falls back to fetch time and URL)
        assert built.gone in shown and "no longer in the store" in shown
        assert (
            "1 response cited by the promotions needing attention is no longer in the store"
            in shown
        )
        first = built.bad[0].mr.iid
        assert f"Rests on {len(built.evidence[first])} GitLab responses" in shown
        assert f"the other {len(built.evidence[first]) - MAX_LISTED_RESPONSES} are in" in shown


def test_a_compliant_promotions_responses_are_never_looked_up(built: Built) -> None:
    """Cost held structurally: the page looks up the responses of the promotions it prints in
    full, each once, and not one response per compliant promotion."""
    store = CountingStore(built.db)
    store.looked_up = []
    with store:
        (page,) = build_service_pages(store, built.run_id, generated_at=GENERATED)
    attention = {h for r in built.bad for h in built.evidence[r.mr.iid]}
    assert sorted(store.looked_up) == sorted(attention)
    assert len(page.attention) == 3 and len(page.compliant) == COMPLIANT
    assert page.hashes_missing == 1  # the same pruned response, cited twice
    assert render_service(page) == (built.out / f"{SERVICE}.html").read_text(encoding="utf-8")


def test_the_bundle_beside_the_reports_holds_every_response_and_verifies(built: Built) -> None:
    """The reports point to the bundle for the raw evidence: it has each compliant
    promotion's responses, and `auditor verify` accepts it with the reports in it."""
    with EvidenceStore(built.db) as store:
        write_bundle(store, built.run_id, built.out, now=GENERATED)
    assert verify(built.out).ok
    stored = {p.name for p in (built.out / "evidence" / "responses").iterdir()}
    for result in built.compliant[:5]:
        for h in built.evidence[result.mr.iid]:
            assert f"{h}.json" in stored
