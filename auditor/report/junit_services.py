"""JUnit XML grouped by service, for GitLab CI's test report widget after a sweep.

`auditor.report.junit` makes one suite per promotion, which suits `auditor check` on one
MR; after a sweep of dozens of promotions a release manager wants one suite per service,
so the widget's suite list reads like the service matrix. Each suite holds one test case
per (promotion, rule), named `<project>!<iid> <rule> <name>` so the widget's list of
failures says which MR failed which rule.

The status mapping is junit.py's, reused by calling its helpers (`_testcase`, `_counts`,
`_xml_text`, `_case_name`; private there, imported on purpose so the two formats cannot
drift): fail is a failure, unknown an error, not_applicable skipped, warn passes with the
warning in `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from auditor.findings import PromotionResult, Report, Verdict
from auditor.report.json_report import format_timestamp
from auditor.report.junit import _case_name, _counts, _testcase, _xml_text


def by_service(report: Report) -> dict[str, list[PromotionResult]]:
    """Promotions grouped by service, services sorted by name, promotions in report order."""
    groups: dict[str, list[PromotionResult]] = {}
    for result in report.promotions:
        groups.setdefault(result.service, []).append(result)
    return dict(sorted(groups.items()))


def _suite(parent: ET.Element, service: str, results: list[PromotionResult], ts: str) -> None:
    findings = [f for r in results for f in r.findings]
    suite = ET.SubElement(
        parent, "testsuite", {"name": _xml_text(service), **_counts(findings), "timestamp": ts}
    )
    properties = ET.SubElement(suite, "properties")
    verdicts = Counter(r.verdict for r in results)
    props = [("service", service), ("promotions", str(len(results)))]
    props += [(f"verdict.{v}", str(verdicts[v])) for v in Verdict if verdicts[v]]
    for name, value in props:
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for result in results:
        for finding in result.findings:
            _testcase(suite, result, finding)
            # junit.py names a case by rule only (its suite is the promotion); here the
            # suite is the service, so the case must also say which MR it is about.
            case = suite[-1]
            case.set(
                "name", _xml_text(f"{result.mr.project}!{result.mr.iid} {_case_name(finding)}")
            )


def render(report: Report) -> str:
    """The report as JUnit XML with a `<testsuite>` per service, ending in a newline."""
    all_findings = [f for p in report.promotions for f in p.findings]
    root = ET.Element("testsuites", {"name": "auditor", **_counts(all_findings)})
    timestamp = format_timestamp(report.generated_at)
    for service, results in by_service(report).items():
        _suite(root, service, results, timestamp)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
