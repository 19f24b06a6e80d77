"""CSV exports and JUnit-per-service over hand-built reports, read back with real parsers
(pandas, ElementTree) rather than trusting the text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pandas as pd
import pytest

from auditor.findings import (
    EvidenceLink,
    Finding,
    MRSummary,
    PromotionResult,
    Report,
    Status,
    Verdict,
)
from auditor.report import junit_services
from auditor.report.csv_export import (
    FINDING_COLUMNS,
    PROMOTION_COLUMNS,
    finding_rows,
    findings_csv,
    neutralise,
    promotion_rows,
    promotions_csv,
    render,
)
from auditor.rulebook import load_rulebook

GITLAB = "https://gitlab.example.com"
GENERATED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
MERGED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
RULES = load_rulebook().rules

# Titles a spreadsheet would run as formulas, and ones that break naive CSV.
FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
AWKWARD = 'Fix "quotes", commas\nand a newline'


def _findings(overrides: dict[str, tuple[Status, str]]) -> tuple[Finding, ...]:
    out = []
    for n, rule in enumerate(RULES):
        status, summary = overrides.get(rule.id, (Status.PASS, f"{rule.name} holds"))
        evidence = (
            EvidenceLink("job", 100 + n, f"{GITLAB}/g/p/-/jobs/{100 + n}", MERGED),
            EvidenceLink("note", 7, None),  # no URL: left out of the evidence column
        )
        out.append(Finding(rule.id, rule.name, status, summary, evidence))
    return tuple(out)


def _promotion(
    project: str,
    iid: int,
    service: str,
    verdict: Verdict,
    title: str,
    overrides: dict[str, tuple[Status, str]] | None = None,
    merged_at: datetime | None = MERGED,
) -> PromotionResult:
    mr = MRSummary(project, iid, title, f"{GITLAB}/{project}/-/merge_requests/{iid}", merged_at)
    return PromotionResult(mr, service, verdict, _findings(overrides or {}))


def _report() -> Report:
    promotions = [
        _promotion("evenergi/vemo-core", 1, "vemo-core", Verdict.COMPLIANT, "Fix timeout"),
        _promotion(
            "evenergi/vemo-core",
            2,
            "vemo-core",
            Verdict.NON_COMPLIANT,
            AWKWARD,
            {
                "SH10": (Status.FAIL, "=cmd|' /C calc'!A0 smoke failed"),
                "SH12": (Status.FAIL, "label before checks"),
                "SH11": (Status.UNKNOWN, "notes unreadable"),
                "SH13": (Status.NOT_APPLICABLE, "n/a"),
                "SH04": (Status.WARN, "-scope wide"),
            },
        ),
        _promotion(
            "evenergi/charge-api",
            3,
            "charge-api",
            Verdict.INCOMPLETE,
            "Plain",
            {"SH08": (Status.UNKNOWN, "403")},
            merged_at=None,
        ),
    ]
    promotions += [
        _promotion("evenergi/charge-api", 10 + n, "charge-api", Verdict.COMPLIANT, title)
        for n, title in enumerate(FORMULAS)
    ]
    return Report(GITLAB, GENERATED, "0.1.0", tuple(promotions))


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)


def _expected(rows: list[dict], columns: tuple[str, ...]) -> list[dict[str, str]]:
    return [{c: "" if row[c] is None else str(neutralise(row[c])) for c in columns} for row in rows]


def test_promotions_csv_round_trips_through_pandas() -> None:
    report = _report()
    frame = _read(promotions_csv(report))
    assert tuple(frame.columns) == PROMOTION_COLUMNS
    assert frame.to_dict("records") == _expected(promotion_rows(report), PROMOTION_COLUMNS)
    row = frame.iloc[1]
    assert row["title"] == AWKWARD  # quotes, commas and the newline survive
    assert row["failed_rules"] == "SH10 SH12"
    assert row["unknown_rules"] == "SH11"
    assert row["merged_at"] == "2026-11-18T10:00:00Z"
    assert frame.iloc[2]["merged_at"] == ""
    assert render(report) == promotions_csv(report)


def test_findings_csv_round_trips_through_pandas() -> None:
    report = _report()
    frame = _read(findings_csv(report))
    assert tuple(frame.columns) == FINDING_COLUMNS
    assert len(frame) == len(report.promotions) * len(RULES)
    assert frame.to_dict("records") == _expected(finding_rows(report), FINDING_COLUMNS)
    first = frame.iloc[0]
    assert first["evidence"] == f"{GITLAB}/g/p/-/jobs/100"  # the URL-less note is left out
    statuses = Counter(frame["status"])
    assert statuses["fail"] == 2 and statuses["unknown"] == 2 and statuses["warn"] == 1


@pytest.mark.parametrize("title", FORMULAS)
def test_formula_injection_is_neutralised(title: str) -> None:
    frame = _read(promotions_csv(_report()))
    cells = frame.loc[frame["title"].str.endswith(title[1:]), "title"].tolist()
    assert f"'{title}" in cells
    assert title not in frame["title"].tolist()


def test_formula_in_a_summary_is_neutralised_and_plain_values_are_not() -> None:
    frame = _read(findings_csv(_report()))
    summaries = frame["summary"].tolist()
    assert "'=cmd|' /C calc'!A0 smoke failed" in summaries
    assert "'-scope wide" in summaries
    assert not any(s.startswith(("=", "+", "-", "@", "\t", "\r")) for s in summaries)
    assert set(frame["status"]) <= {s.value for s in Status}  # our values pass unchanged
    assert neutralise(42) == 42 and neutralise("SH01") == "SH01" and neutralise("") == ""


def test_empty_report_has_headers_only() -> None:
    empty = Report(GITLAB, GENERATED, "0.1.0", ())
    assert _read(promotions_csv(empty)).columns.tolist() == list(PROMOTION_COLUMNS)
    assert _read(findings_csv(empty)).empty


def test_junit_has_a_suite_per_service_with_matching_counts() -> None:
    report = _report()
    root = ET.fromstring(junit_services.render(report))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["charge-api", "vemo-core"]
    all_statuses = Counter(f.status for p in report.promotions for f in p.findings)
    assert root.get("tests") == str(sum(all_statuses.values()))
    assert root.get("failures") == str(all_statuses[Status.FAIL])
    assert root.get("errors") == str(all_statuses[Status.UNKNOWN])
    assert root.get("skipped") == str(all_statuses[Status.NOT_APPLICABLE])
    for suite in suites:
        service = suite.get("name")
        mine = [p for p in report.promotions if p.service == service]
        statuses = Counter(f.status for p in mine for f in p.findings)
        cases = suite.findall("testcase")
        assert len(cases) == len(mine) * len(RULES) == int(suite.get("tests", "-1"))
        assert suite.get("failures") == str(statuses[Status.FAIL])
        assert suite.get("errors") == str(statuses[Status.UNKNOWN])
        assert suite.get("skipped") == str(statuses[Status.NOT_APPLICABLE])
        assert len(suite.findall("testcase/failure")) == statuses[Status.FAIL]
        assert len(suite.findall("testcase/error")) == statuses[Status.UNKNOWN]
        assert len(suite.findall("testcase/skipped")) == statuses[Status.NOT_APPLICABLE]
        names = [c.get("name") for c in cases]
        assert len(set(names)) == len(names)  # one case per (promotion, rule)
        assert all(c.get("classname") == service for c in cases)
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["promotions"] == str(len(mine))
    vemo = suites[1]
    failed = [c.get("name") for c in vemo.findall("testcase") if c.find("failure") is not None]
    assert failed == [
        "evenergi/vemo-core!2 SH10 smoke-checks-passed",
        "evenergi/vemo-core!2 SH12 label-after-validation",
    ]


def test_junit_empty_report_parses() -> None:
    root = ET.fromstring(junit_services.render(Report(GITLAB, GENERATED, "0.1.0", ())))
    assert root.get("tests") == "0" and root.findall("testsuite") == []


# -- a sweep's gaps: every export shows them, as errors ---------------------------------------
GAPS = [
    {
        "service": "vemo-core",
        "what": "deployments to staging of evenergi/vemo-core",
        "reason": "403",
    },
    {"service": None, "what": "jobs of pipeline 5006", "reason": "HTTP 500"},
    {"service": "charge-api", "what": '=HYPERLINK("http://evil") commit', "reason": "timed out"},
]


def test_junit_of_a_sweep_that_could_not_look_is_never_empty_and_green() -> None:
    from auditor.report import junit

    empty = Report(GITLAB, GENERATED, "0.1.0", ())
    root = ET.fromstring(junit.render(empty, GAPS))
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("3", "3", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "coverage" and suite.get("errors") == "3"
    errors = suite.findall("testcase/error")
    assert [e.get("type") for e in errors] == ["gap"] * 3
    assert "could not be established: 403" in (errors[0].get("message") or "")
    # with promotions the gaps add to the counts, never replace them
    report = _report()
    plain = ET.fromstring(junit.render(report))
    gapped = ET.fromstring(junit.render(report, GAPS))
    assert int(gapped.get("errors", "0")) == int(plain.get("errors", "0")) + 3
    assert int(gapped.get("tests", "0")) == int(plain.get("tests", "0")) + 3


def test_junit_per_service_puts_each_gap_in_its_service_or_every_service() -> None:
    empty = Report(GITLAB, GENERATED, "0.1.0", ())
    root = ET.fromstring(junit_services.render(empty, GAPS))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"vemo-core", "charge-api", "every service"}
    assert all(s.get("errors") == "1" for s in suites.values())
    assert root.get("errors") == "3"
    with_promotions = ET.fromstring(junit_services.render(_report(), GAPS))
    core = next(s for s in with_promotions.findall("testsuite") if s.get("name") == "vemo-core")
    assert len(core.findall("testcase/error[@type='gap']")) == 1


def test_csv_exports_carry_gaps_as_incomplete_rows() -> None:
    promotions = _read(promotions_csv(_report(), GAPS))
    gaps = promotions[promotions["iid"] == ""]
    assert list(gaps["verdict"]) == ["incomplete"] * 3
    assert list(gaps["service"]) == ["vemo-core", "", "charge-api"]
    assert gaps.iloc[2]["title"].startswith("could not be established: =HYPERLINK")
    assert list(gaps["unknown_rules"]) == ["gap: 403", "gap: HTTP 500", "gap: timed out"]
    findings = _read(findings_csv(_report(), GAPS))
    rows = findings[findings["name"] == "gap"]
    assert list(rows["status"]) == ["unknown"] * 3
    assert len(findings) == len(_report().promotions) * len(RULES) + 3


def test_json_markdown_and_table_name_the_gaps() -> None:
    import jsonschema

    from auditor.gaps import gaps_from_rows
    from auditor.release_line import SweepExtras
    from auditor.report import markdown, table
    from auditor.report.json_report import load_schema, to_dict

    doc = to_dict(_report(), SweepExtras(gaps=gaps_from_rows(GAPS)))
    jsonschema.validate(doc, load_schema())
    assert doc["gaps"] == GAPS
    assert doc["coverage"] == {
        "status": "incomplete",
        "promotions": len(_report().promotions),
        "incomplete_promotions": 1,
        "gaps": 3,
    }
    complete = to_dict(_report(), SweepExtras())
    assert complete["coverage"]["status"] == "complete" and complete["gaps"] == []
    assert "gaps" not in to_dict(_report())  # `auditor check`: unchanged
    page = markdown.render(_report(), GAPS)
    assert "### Could not be established" in page and "every service: jobs of pipeline 5006" in page
    text = table.render(_report(), gaps=GAPS)
    assert "Could not be established (3)" in text and "vemo-core: deployments to staging" in text
