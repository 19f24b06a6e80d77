"""JUnit XML, so a GitLab CI job's test report shows every rule of every promotion.

One `<testsuite>` per promotion and one `<testcase>` per finding. The mapping is chosen so
nothing doubtful looks green: `fail` is a failure, `unknown` an error (the evidence could
not be read, which is not a pass), `not_applicable` is skipped, and `warn` passes with the
warning in `<system-out>`.

What a sweep could not establish outside any promotion (a service's deployments that could
not be listed, a compare that failed: `auditor.gaps.Gap`) is one more suite, `coverage`,
with an error per gap: a sweep that could not look never shows `tests="0" errors="0"`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from auditor.findings import Finding, PromotionResult, Report, Status
from auditor.gaps import Gap, gaps_from_rows
from auditor.timestamps import format_timestamp

# XML 1.0 cannot carry most control characters at all, escaped or not; ElementTree would
# write them through and produce a document no parser accepts.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def _case_name(finding: Finding) -> str:
    return f"{finding.rule} {finding.name}"


def _suite_name(result: PromotionResult) -> str:
    return f"{result.mr.mr_id} {result.service}"


def _details(finding: Finding) -> str:
    """Summary then one line per evidence item, URLs whole so they can be clicked."""
    lines = [finding.summary]
    for link in finding.evidence:
        when = f" at {format_timestamp(link.at)}" if link.at else ""
        where = link.url or "(no URL)"
        lines.append(f"{link.kind} {link.id}{when}: {where}")
    return "\n".join(lines)


def _testcase(parent: ET.Element, result: PromotionResult, finding: Finding) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        {"classname": _xml_text(result.service), "name": _xml_text(_case_name(finding))},
    )
    message = _xml_text(finding.summary)
    details = _xml_text(_details(finding))
    if finding.status is Status.FAIL:
        failure = ET.SubElement(case, "failure", {"message": message, "type": "fail"})
        failure.text = details
    elif finding.status is Status.UNKNOWN:
        error = ET.SubElement(
            case, "error", {"message": f"could not be established: {message}", "type": "unknown"}
        )
        error.text = details
    elif finding.status is Status.NOT_APPLICABLE:
        ET.SubElement(case, "skipped", {"message": message})
    elif finding.status is Status.WARN:
        out = ET.SubElement(case, "system-out")
        out.text = f"warn: {details}"
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"pass: {details}"


def _counts(findings: tuple[Finding, ...] | list[Finding], gaps: int = 0) -> dict[str, str]:
    by_status = Counter(f.status for f in findings)
    return {
        "tests": str(len(findings) + gaps),
        "failures": str(by_status[Status.FAIL]),
        "errors": str(by_status[Status.UNKNOWN] + gaps),
        "skipped": str(by_status[Status.NOT_APPLICABLE]),
    }


def _gap_case(parent: ET.Element, gap: Gap, classname: str) -> None:
    """One gap as an errored test case: named by what could not be read."""
    case = ET.SubElement(
        parent, "testcase", {"classname": _xml_text(classname), "name": _xml_text(gap.what)}
    )
    error = ET.SubElement(
        case,
        "error",
        {"message": _xml_text(f"could not be established: {gap.reason}"), "type": "gap"},
    )
    error.text = _xml_text(str(gap))


def _gap_suite(parent: ET.Element, gaps: tuple[Gap, ...], timestamp: str) -> None:
    suite = ET.SubElement(
        parent,
        "testsuite",
        {"name": "coverage", **_counts([], len(gaps)), "timestamp": timestamp},
    )
    for gap in gaps:
        _gap_case(suite, gap, gap.service or "every service")


def _testsuite(parent: ET.Element, result: PromotionResult, timestamp: str) -> None:
    attrs = {"name": _xml_text(_suite_name(result)), **_counts(result.findings)}
    suite = ET.SubElement(parent, "testsuite", {**attrs, "timestamp": timestamp})
    properties = ET.SubElement(suite, "properties")
    props: list[tuple[str, str]] = [
        ("verdict", str(result.verdict)),
        ("project", result.mr.project),
        ("iid", str(result.mr.iid)),
        ("service", result.service),
        ("title", result.mr.title),
        ("web_url", result.mr.web_url),
    ]
    if result.mr.merged_at is not None:
        props.append(("merged_at", format_timestamp(result.mr.merged_at)))
    for name, value in props:
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for finding in result.findings:
        _testcase(suite, result, finding)


def render(report: Report, gaps: Iterable[Mapping[str, Any] | Gap] = ()) -> str:
    """The report as a JUnit XML document (UTF-8 declared), ending in a newline; `gaps`
    (a sweep's) as errors in a `coverage` suite."""
    listed = gaps_from_rows(gaps)
    all_findings = [f for p in report.promotions for f in p.findings]
    root = ET.Element("testsuites", {"name": "auditor", **_counts(all_findings, len(listed))})
    timestamp = format_timestamp(report.generated_at)
    for result in report.promotions:
        _testsuite(root, result, timestamp)
    if listed:
        _gap_suite(root, listed, timestamp)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
