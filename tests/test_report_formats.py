"""The report writers (json, junit, markdown, table) over hand-built reports.

The reports cover every status and verdict, evidence with and without URLs and times, and
MR titles written to break each format; the assertions read the content back with a parser
where one exists (jsonschema, ElementTree, markdown-it) rather than trusting the text.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from markdown_it import MarkdownIt
from rich.console import Console

from auditor.findings import (
    EvidenceLink,
    Finding,
    MRSummary,
    PromotionResult,
    Report,
    Status,
    Verdict,
)
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.report import json_report, junit, markdown, table
from auditor.rulebook import load_rulebook

HOSTILE_TITLE = "Fix | <script>alert(1)</script> [x](javascript:y) \n newline"
TERMINAL_TITLE = "Tidy \x1b[2J\x1b[31mred\x00 [bold]loud[/bold] :smile: @all ~~gone~~"
GITLAB = "https://gitlab.example.com"
GENERATED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))

RULES = load_rulebook().rules
RULE_IDS = [r.id for r in RULES]


def _url(path: str) -> str:
    return f"{GITLAB}/{path}"


def _findings(
    overrides: dict[str, tuple[Status, str, tuple[EvidenceLink, ...]]],
) -> tuple[Finding, ...]:
    """All 14 rules in catalog order; pass with one job link unless overridden."""
    out = []
    for index, rule in enumerate(RULES, start=1):
        status, summary, evidence = overrides.get(
            rule.id,
            (
                Status.PASS,
                f"{rule.name} holds",
                (EvidenceLink("job", 1000 + index, _url(f"g/p/-/jobs/{1000 + index}"), GENERATED),),
            ),
        )
        out.append(Finding(rule.id, rule.name, status, summary, evidence))
    return tuple(out)


def _mr(project: str, iid: int, title: str, merged_at: datetime | None) -> MRSummary:
    return MRSummary(project, iid, title, _url(f"{project}/-/merge_requests/{iid}"), merged_at)


NA: tuple[EvidenceLink, ...] = ()

COMPLIANT = PromotionResult(
    _mr(
        "evenergi/vemo-core",
        42,
        "Fix rounding in tariffs",
        datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    ),
    "vemo-core",
    Verdict.COMPLIANT,
    _findings(
        {
            "SH11": (
                Status.WARN,
                "validation note does not name the service",
                (
                    EvidenceLink(
                        "note", 40001, _url("evenergi/vemo-core/-/merge_requests/42#note_40001")
                    ),
                ),
            ),
            "SH13": (Status.NOT_APPLICABLE, "validation passed", NA),
            "SH14": (Status.NOT_APPLICABLE, "nothing was rolled back", NA),
        }
    ),
)

NON_COMPLIANT = PromotionResult(
    # A non-UTC merge time: the writers must convert it, not just relabel it.
    _mr("evenergi/vemo-billing", 7, HOSTILE_TITLE, datetime(2026, 11, 25, 11, 0, 0, 250000, CEST)),
    "vemo-billing",
    Verdict.NON_COMPLIANT,
    _findings(
        {
            "SH06": (
                Status.FAIL,
                "release vemo-billing was never played in pipeline 5001",
                (
                    EvidenceLink(
                        "pipeline", 5001, _url("evenergi/develop/-/pipelines/5001"), GENERATED
                    ),
                    EvidenceLink("job", 90017, _url("evenergi/develop/-/jobs/90017"), None),
                ),
            ),
            "SH07": (
                Status.FAIL,
                f"cut-off played by mallory; MR says {HOSTILE_TITLE}",
                (
                    EvidenceLink(
                        "job", 90018, _url("evenergi/develop/-/jobs/90018?a=1|b (c)"), GENERATED
                    ),
                ),
            ),
            "SH08": (
                Status.UNKNOWN,
                "deployment list could not be read (403)",
                (EvidenceLink("environment", 60, None, None),),
            ),
            "SH10": (
                Status.UNKNOWN,
                "no smoke job found",
                (EvidenceLink("commit", "0a1b2c3d", "javascript:alert(2)", GENERATED),),
            ),
            "SH12": (Status.NOT_APPLICABLE, "ungoverned service", NA),
            "SH13": (Status.NOT_APPLICABLE, "validation passed", NA),
            "SH14": (Status.NOT_APPLICABLE, "nothing was rolled back", NA),
        }
    ),
)

INCOMPLETE = PromotionResult(
    _mr("evenergi/vemo-core", 43, TERMINAL_TITLE, datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    "vemo-api",
    Verdict.INCOMPLETE,
    _findings({"SH09": (Status.UNKNOWN, "staging deployment list is gone", NA)}),
)

IN_PROGRESS = PromotionResult(
    _mr("evenergi/vemo-core", 44, "Retry webhook", datetime(2026, 11, 26, 14, 0, tzinfo=UTC)),
    "vemo-core",
    Verdict.IN_PROGRESS,
    _findings(
        {
            "SH10": (Status.UNKNOWN, "smoke checks still running", NA),
            "SH11": (Status.UNKNOWN, "no validation note yet", NA),
            "SH12": (Status.UNKNOWN, "label not added yet", NA),
        }
    ),
)

NOT_PROMOTED = PromotionResult(
    _mr("evenergi/vemo-core", 45, "Unmerged idea", None),
    "vemo-core",
    Verdict.NOT_PROMOTED,
    tuple(
        Finding(
            r.id,
            r.name,
            Status.FAIL if r.id in ("SH01", "SH03") else Status.NOT_APPLICABLE,
            "not merged" if r.id == "SH01" else "no cherry-pick onto release",
            (),
        )
        for r in RULES
    ),
)

PROMOTIONS = (COMPLIANT, NON_COMPLIANT, INCOMPLETE, IN_PROGRESS, NOT_PROMOTED)
REPORT = Report(GITLAB, GENERATED, "0.1.0", PROMOTIONS)
EMPTY = Report(GITLAB, GENERATED, "0.1.0", ())


def test_fixture_covers_every_status_and_verdict() -> None:
    statuses = {f.status for p in PROMOTIONS for f in p.findings}
    assert statuses == set(Status)
    assert {p.verdict for p in PROMOTIONS} == set(Verdict)
    assert all([f.rule for f in p.findings] == RULE_IDS for p in PROMOTIONS)


# --- JSON -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json_report.load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _doc(report: Report = REPORT, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json_report.render(report, **extra))
    return doc


def test_schema_ships_inside_the_package() -> None:
    import auditor

    package_dir = json_report.SCHEMA_PATH.parent.parent
    assert package_dir == Path(auditor.__file__).resolve().parent
    assert json_report.SCHEMA_PATH.is_file()
    assert json_report.load_schema()["properties"]["schema"]["const"] == "auditor.report/v1"


def test_json_validates_against_schema(validator: Draft202012Validator) -> None:
    errors = [e.message for e in validator.iter_errors(_doc())]
    assert errors == []
    assert list(validator.iter_errors(_doc(EMPTY))) == []


def test_json_shape_and_key_order() -> None:
    text = json_report.render(REPORT)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "schema": "auditor.report/v1",\n')  # indent=2
    doc = json.loads(text)
    assert list(doc) == ["schema", "tool", "gitlab_url", "generated_at", "promotions"]
    assert doc["tool"] == {"name": "auditor", "version": "0.1.0"}
    assert doc["gitlab_url"] == GITLAB
    assert doc["generated_at"] == "2026-11-26T15:00:00Z"
    promotion = doc["promotions"][1]
    assert list(promotion) == ["mr", "service", "verdict", "findings", "attempts", "milestones"]
    assert list(promotion["mr"]) == ["project", "iid", "title", "web_url", "merged_at"]
    finding = promotion["findings"][5]
    assert list(finding) == ["rule", "name", "status", "summary", "evidence"]
    assert list(finding["evidence"][0]) == ["kind", "id", "url", "at"]


def test_json_round_trips_values() -> None:
    doc = _doc()
    assert [p["verdict"] for p in doc["promotions"]] == [str(p.verdict) for p in PROMOTIONS]
    billing = doc["promotions"][1]
    assert billing["mr"] == {
        "project": "evenergi/vemo-billing",
        "iid": 7,
        "title": HOSTILE_TITLE,
        "web_url": f"{GITLAB}/evenergi/vemo-billing/-/merge_requests/7",
        # 11:00:00.250 at +02:00 is 09:00:00.250 UTC.
        "merged_at": "2026-11-25T09:00:00.250Z",
    }
    assert billing["service"] == "vemo-billing"
    sh06 = billing["findings"][5]
    assert sh06 == {
        "rule": "SH06",
        "name": "release-job-ran",
        "status": "fail",
        "summary": "release vemo-billing was never played in pipeline 5001",
        "evidence": [
            {
                "kind": "pipeline",
                "id": 5001,
                "url": f"{GITLAB}/evenergi/develop/-/pipelines/5001",
                "at": "2026-11-26T15:00:00Z",
            },
            {
                "kind": "job",
                "id": 90017,
                "url": f"{GITLAB}/evenergi/develop/-/jobs/90017",
                "at": None,
            },
        ],
    }
    assert billing["findings"][7]["evidence"] == [
        {"kind": "environment", "id": 60, "url": None, "at": None}
    ]
    assert billing["findings"][9]["evidence"][0]["id"] == "0a1b2c3d"
    assert doc["promotions"][4]["mr"]["merged_at"] is None
    # Every finding survives with its status, in catalog order.
    for promotion, result in zip(doc["promotions"], PROMOTIONS, strict=True):
        assert [
            (f["rule"], f["name"], f["status"], f["summary"]) for f in promotion["findings"]
        ] == [(f.rule, f.name, str(f.status), f.summary) for f in result.findings]
    assert json_report.to_dict(REPORT) == doc


def test_naive_timestamps_are_read_as_utc() -> None:
    assert json_report.format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    assert (
        json_report.format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=CEST))
        == "2026-01-02T01:04:05.000007Z"
    )


def test_sweep_arrays_validate(validator: Draft202012Validator) -> None:
    drift = Drift("evenergi/vemo-core", "vemo-core", "deadbeef", "direct push", GENERATED)
    cut_off = CutOff(
        "evenergi/develop", 5001, 90018, datetime(2026, 11, 26, 17, 0, tzinfo=CEST), "mallory"
    )
    revert = DeployedRevert("evenergi/vemo-core", "vemo-core", "cafe1234", "deadbeef", None)
    doc = _doc(extras=SweepExtras((drift,), (cut_off,), (revert,)))
    assert list(validator.iter_errors(doc)) == []
    assert list(doc)[-5:] == ["drift", "cut_offs", "reverts", "gaps", "coverage"]
    assert doc["drift"] == [
        {
            "project": "evenergi/vemo-core",
            "service": "vemo-core",
            "sha": "deadbeef",
            "title": "direct push",
            "deployed_at": "2026-11-26T15:00:00Z",
        }
    ]
    assert list(doc["cut_offs"][0]) == ["project", "pipeline_id", "job_id", "at", "by"]
    assert doc["cut_offs"][0]["at"] == "2026-11-26T15:00:00Z"
    assert doc["reverts"] == [
        {
            "project": "evenergi/vemo-core",
            "service": "vemo-core",
            "sha": "cafe1234",
            "reverts": "deadbeef",
            "deployed_at": None,
        }
    ]
    # reverts not recorded (a run stored before they were kept): left out, never "none"
    unknown = _doc(extras=SweepExtras((drift,), (cut_off,), None))
    assert "reverts" not in unknown and unknown["drift"] == doc["drift"]
    assert list(validator.iter_errors(unknown)) == []


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


F = ("promotions", 1, "findings", 5)
E = (*F, "evidence", 0)


@pytest.mark.parametrize(
    "mutate",
    [
        _delete(("schema",)),
        _set(("schema",), "auditor.report/v2"),
        _delete(("tool", "version")),
        _delete(("gitlab_url",)),
        _set(("generated_at",), "yesterday afternoon"),
        _delete(("promotions",)),
        _delete(("promotions", 0, "mr", "iid")),
        _set(("promotions", 0, "mr", "iid"), "42"),
        _delete(("promotions", 0, "mr", "merged_at")),
        _set(("promotions", 0, "mr", "merged_at"), "25/11/2026"),
        _delete(("promotions", 0, "service")),
        _set(("promotions", 0, "verdict"), "green"),
        _delete((*F, "summary")),
        _delete((*F, "evidence")),
        _set((*F, "status"), "ok"),
        _set((*F, "status"), "PASS"),
        _set((*F, "rule"), "SH6"),
        _set((*F, "rule"), "XX06"),
        _delete((*E, "url")),
        _set((*E, "id"), 1.5),
        _set((*E, "at"), "not a time"),
        _set(("drift",), [{"project": "p", "service": "s", "title": "t", "deployed_at": None}]),
        _set(("cut_offs",), [{"project": "p", "pipeline_id": 1, "job_id": 2, "at": None}]),
    ],
)
def test_schema_rejects_broken_documents(
    validator: Draft202012Validator, mutate: Callable[[dict[str, Any]], None]
) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    assert not validator.is_valid(doc)


def test_schema_allows_additional_properties(validator: Draft202012Validator) -> None:
    doc = _doc()
    doc["rulebook"] = {"name": "staging-hotfix-release", "version": "1"}
    doc["promotions"][0]["findings"][0]["severity"] = "high"
    doc["promotions"][0]["mr"]["author"] = "alice"
    assert validator.is_valid(doc)


# --- JUnit ------------------------------------------------------------------------------


def _junit(report: Report = REPORT) -> ET.Element:
    text = junit.render(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def _counts(findings: list[Finding]) -> dict[str, str]:
    c = Counter(f.status for f in findings)
    return {
        "tests": str(len(findings)),
        "failures": str(c[Status.FAIL]),
        "errors": str(c[Status.UNKNOWN]),
        "skipped": str(c[Status.NOT_APPLICABLE]),
    }


def test_junit_counts_match() -> None:
    root = _junit()
    assert root.tag == "testsuites"
    everything = [f for p in PROMOTIONS for f in p.findings]
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == _counts(
        everything
    )
    assert root.get("tests") == str(14 * len(PROMOTIONS))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "evenergi/vemo-core!42 vemo-core",
        "evenergi/vemo-billing!7 vemo-billing",
        "evenergi/vemo-core!43 vemo-api",
        "evenergi/vemo-core!44 vemo-core",
        "evenergi/vemo-core!45 vemo-core",
    ]
    for suite, result in zip(suites, PROMOTIONS, strict=True):
        assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == _counts(
            list(result.findings)
        )
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [f"{r.id} {r.name}" for r in RULES]
        assert {c.get("classname") for c in cases} == {result.service}
        # The element counts agree with the attributes a CI server may trust instead.
        assert len(suite.findall("testcase/failure")) == int(suite.get("failures", "-1"))
        assert len(suite.findall("testcase/error")) == int(suite.get("errors", "-1"))
        assert len(suite.findall("testcase/skipped")) == int(suite.get("skipped", "-1"))
        props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
        assert props["verdict"] == str(result.verdict)


def _case(root: ET.Element, suite_index: int, rule: str) -> ET.Element:
    suite = root.findall("testsuite")[suite_index]
    return next(c for c in suite.findall("testcase") if c.get("name", "").startswith(rule + " "))


def test_junit_statuses_map_to_elements() -> None:
    root = _junit()
    fail = _case(root, 1, "SH06")
    assert fail.get("name") == "SH06 release-job-ran"
    assert fail.get("classname") == "vemo-billing"
    failure = fail.find("failure")
    assert failure is not None
    assert failure.get("message") == "release vemo-billing was never played in pipeline 5001"
    assert f"{GITLAB}/evenergi/develop/-/pipelines/5001" in (failure.text or "")
    assert f"{GITLAB}/evenergi/develop/-/jobs/90017" in (failure.text or "")

    unknown = _case(root, 1, "SH08")
    assert unknown.find("failure") is None
    assert unknown.find("skipped") is None
    error = unknown.find("error")
    assert error is not None, "unknown must be an error, never a pass"
    assert "could not be read" in (error.get("message") or "")

    skipped = _case(root, 1, "SH12")
    assert [child.tag for child in skipped] == ["skipped"]

    warn = _case(root, 0, "SH11")
    assert [child.tag for child in warn] == ["system-out"]
    assert (warn.findtext("system-out") or "").startswith(
        "warn: validation note does not name the service"
    )

    passed = _case(root, 0, "SH01")
    assert passed.find("failure") is None and passed.find("error") is None
    assert passed.find("skipped") is None

    # Every unknown anywhere is an error; nothing unknown hides among the green cases.
    for suite, result in zip(root.findall("testsuite"), PROMOTIONS, strict=True):
        for case, finding in zip(suite.findall("testcase"), result.findings, strict=True):
            tags = {child.tag for child in case}
            if finding.status is Status.UNKNOWN:
                assert "error" in tags
            if finding.status in (Status.PASS, Status.WARN):
                assert not tags & {"failure", "error", "skipped"}


def test_junit_survives_hostile_text() -> None:
    root = _junit()
    props = {p.get("name"): p.get("value") for p in root.findall("testsuite")[1].iter("property")}
    assert props["title"] == HOSTILE_TITLE
    # Control characters XML cannot carry are replaced, and the document still parses.
    title = {p.get("name"): p.get("value") for p in root.findall("testsuite")[2].iter("property")}
    assert "\x1b" not in title["title"] and "\x00" not in title["title"]
    assert "[bold]loud[/bold]" in title["title"]


def test_junit_empty_report() -> None:
    root = _junit(EMPTY)
    assert root.get("tests") == "0"
    assert root.findall("testsuite") == []


# --- Markdown ---------------------------------------------------------------------------

_ESCAPED = re.compile(r"\\.")


def _md_html(text: str) -> str:
    # html=True: raw HTML would pass straight through, as it does in many renderers.
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


def test_markdown_table_rows_stay_intact() -> None:
    text = markdown.render(REPORT)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    # Header, delimiter and 14 rules per promotion; a newline in a title would add lines.
    assert len(rows) == len(PROMOTIONS) * 16
    for row in rows:
        unescaped_pipes = _ESCAPED.sub("", row).count("|")
        assert unescaped_pipes == 4, row
    html = _md_html(text)
    assert html.count("<table>") == len(PROMOTIONS)
    for body in re.findall(r"<tbody>(.*?)</tbody>", html, re.S):
        trs = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        assert len(trs) == 14
        assert all(len(re.findall(r"<td>", tr)) == 3 for tr in trs)


def test_markdown_hostile_title_is_inert() -> None:
    text = markdown.render(REPORT)
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    html = _md_html(text)
    assert "<script" not in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs, "evidence should be linked"
    assert all(h.startswith("https://gitlab.example.com/") for h in hrefs), hrefs
    assert "javascript" not in " ".join(hrefs)
    # The title's text is still there for a reader, on one line.
    assert "Title: Fix \\| &lt;script&gt;" in text
    assert "newline" in next(
        line for line in text.splitlines() if line.startswith("Title: Fix \\|")
    )
    # No @-mentions or strikethrough from a title when the note is posted.
    assert "\\@all" in text and "\\~\\~gone\\~\\~" in text
    assert "\x1b" not in text and "\x00" not in text


def test_markdown_verdicts_statuses_and_evidence() -> None:
    text = markdown.render(REPORT)
    for marker in ("COMPLIANT", "NON-COMPLIANT", "INCOMPLETE", "IN PROGRESS", "NOT PROMOTED"):
        assert f": **{marker}**" in text
    assert (
        f"### [evenergi/vemo-billing!7]({GITLAB}/evenergi/vemo-billing/-/merge_requests/7)"
        " · vemo-billing: **NON-COMPLIANT**"
    ) in text
    sh06 = next(
        line for line in text.splitlines() if line.startswith("| SH06 release-job-ran | **FAIL**")
    )
    assert f"[pipeline 5001]({GITLAB}/evenergi/develop/-/pipelines/5001)" in sh06
    assert f"[job 90017]({GITLAB}/evenergi/develop/-/jobs/90017)" in sh06
    # A URL with ) | and a space cannot end the link or the cell early.
    assert f"[job 90018]({GITLAB}/evenergi/develop/-/jobs/90018?a=1%7Cb%20%28c%29)" in text
    # A javascript: URL and a missing URL are named but not linked.
    assert (
        "| SH10 smoke-checks-passed | **UNKNOWN** | no smoke job found<br>commit 0a1b2c3d |" in text
    )
    assert (
        "| SH08 staging-deploy-succeeded | **UNKNOWN** | "
        "deployment list could not be read (403)<br>environment 60 |"
    ) in text
    assert "| SH12 label-after-validation | n/a | ungoverned service |" in text
    assert (
        "| SH11 validation-recorded | warn | validation note does not name the service<br>" in text
    )
    assert (
        "5 promotions: 1 compliant, 1 non-compliant, 1 incomplete, 1 in progress, 1 not promoted."
        in text
    )


def test_markdown_empty_report() -> None:
    text = markdown.render(EMPTY)
    assert "No promotions audited." in text
    assert "|" not in text


# --- Terminal table ---------------------------------------------------------------------


def test_table_names_rules_verdicts_and_evidence() -> None:
    text = table.render(REPORT, width=100)
    assert "\x1b" not in text  # plain text, no colour codes
    for rule_id in RULE_IDS:
        # Once per promotion in the tables, more where it has evidence.
        assert len(re.findall(rf"^\s*{rule_id}\s", text, re.M)) >= len(PROMOTIONS), rule_id
    for label in ("COMPLIANT", "NON-COMPLIANT", "INCOMPLETE", "IN PROGRESS", "NOT PROMOTED"):
        assert re.search(rf"· {label}$", text, re.M), label
    for result in PROMOTIONS:
        for finding in result.findings:
            for link in finding.evidence:
                if link.url:
                    assert link.url in text, link.url  # whole, never wrapped
    assert "release-job-ran" in text and "not_applicable" in text and "unknown" in text
    assert text.rstrip().endswith(
        "5 promotions: 1 COMPLIANT, 1 NON-COMPLIANT, 1 INCOMPLETE, 1 IN PROGRESS, 1 NOT PROMOTED"
    )


def test_table_keeps_to_width_except_urls() -> None:
    text = table.render(REPORT, width=80)
    for line in text.splitlines():
        if "https://" not in line:
            assert len(line) <= 80, line


def test_table_at_80_columns_gives_the_summary_most_of_the_line() -> None:
    """Issue 10: at 80 columns the rule's name column left the summary a quarter of the line
    and it wrapped a few words at a time. Narrow, the name sits above its summary: every
    finding's name and whole summary are still there, read down the summary column."""
    text = table.render(REPORT, width=80)
    parts, summary_at = [], None
    for line in text.splitlines():
        if line.startswith("Rule"):  # each promotion's table has its own columns
            assert line.split() == ["Rule", "Status", "Summary"], line
            summary_at = line.index("Summary")
        elif summary_at is not None and line.startswith(("SH", " ")):
            parts.append(line[summary_at:].strip())
    column = " ".join(parts)
    for result in PROMOTIONS:
        for finding in result.findings:
            clean = " ".join(finding.summary.replace("\n", " ").split())
            if "\x1b" in clean or "<script>" in clean:
                continue  # hostile text is neutralised, checked elsewhere
            assert finding.name in column and clean in column, (finding.summary, text)
    wide = table.render(REPORT, width=100)
    assert next(line for line in wide.splitlines() if line.startswith("Rule")).split() == [
        "Rule",
        "Name",
        "Status",
        "Summary",
    ]


def test_table_escapes_gitlab_text() -> None:
    text = table.render(REPORT, width=120)
    # Rich markup in titles prints literally, and the hostile title stays on one line.
    assert "[x](javascript:y)" in text
    assert "[bold]loud[/bold]" in text
    assert ":smile:" in text
    line = next(line for line in text.splitlines() if "<script>alert(1)</script>" in line)
    assert "newline" in line


def test_print_table_on_a_terminal() -> None:
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=100)
    table.print_table(REPORT, console)
    out = buffer.getvalue()
    assert "\x1b[" in out  # coloured
    # The title's own escape sequences never reach the terminal.
    assert "\x1b[2J" not in out and "\x1b[31mred" not in out and "\x00" not in out
    # OSC 8 hyperlinks on a TTY, for http(s) URLs only, even with odd characters in them.
    links = re.findall(r"\x1b\]8;[^;]*;([^\x1b]*)\x1b\\", out)
    assert f"{GITLAB}/evenergi/develop/-/jobs/90018?a=1|b (c)" in links
    assert links and all(link.startswith("https://") for link in links if link), links
    assert f"{GITLAB}/evenergi/develop/-/pipelines/5001" in out


def test_table_empty_report() -> None:
    assert table.render(EMPTY).strip() == "No promotions audited."


# --- Registry ---------------------------------------------------------------------------


def test_check_formats_dispatch_to_their_writers() -> None:
    """`auditor check --format X` renders with X's module (the registry names a module per
    format and imports it only when asked)."""
    from auditor.cli import CHECK_FORMATS
    from auditor.config import ConfigError

    writers = {"json": json_report, "junit": junit, "markdown": markdown, "table": table}
    assert set(CHECK_FORMATS.names) == set(writers)
    for name, module in writers.items():
        assert CHECK_FORMATS.text(name, REPORT) == module.render(REPORT), name
    with pytest.raises(ConfigError, match="table, json, junit, markdown"):
        CHECK_FORMATS.get("pdf")
