"""JUnit XML grouped by service, for GitLab CI's test report widget after a sweep.

`auditor.report.junit` makes one suite per promotion, which suits `auditor check` on one
MR; after a sweep of dozens of promotions a release manager wants one suite per service,
so the widget's suite list reads like the service matrix. Each suite holds one test case
per (promotion, rule), named `<project>!<iid> <rule> <name>` so the widget's list of
failures says which MR failed which rule.

The status mapping is junit.py's, reused by calling its helpers (`_testcase`, `_counts`,
`_xml_text`, `_case_name`; private there, imported on purpose so the two formats cannot
drift): fail is a failure, unknown an error, not_applicable skipped, warn passes with the
warning in `<system-out>`. A sweep's gaps are errors too: in their service's suite (one is
made for a service with nothing else to show), and gaps of every service in a suite of
their own, `every service`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from auditor.findings import PromotionResult, Report, Verdict
from auditor.gaps import Gap, gaps_from_rows
from auditor.report.junit import _case_name, _counts, _gap_case, _testcase, _xml_text
from auditor.timestamps import format_timestamp

EVERY_SERVICE = "every service"


def by_service(report: Report) -> dict[str, list[PromotionResult]]:
    """Promotions grouped by service, services sorted by name, promotions in report order."""
    groups: dict[str, list[PromotionResult]] = {}
    for result in report.promotions:
        groups.setdefault(result.service, []).append(result)
    return dict(sorted(groups.items()))


def _suite(
    parent: ET.Element,
    service: str,
    results: list[PromotionResult],
    ts: str,
    gaps: tuple[Gap, ...] = (),
) -> None:
    findings = [f for r in results for f in r.findings]
    suite = ET.SubElement(
        parent,
        "testsuite",
        {"name": _xml_text(service), **_counts(findings, len(gaps)), "timestamp": ts},
    )
    properties = ET.SubElement(suite, "properties")
    verdicts = Counter(r.verdict for r in results)
    props = [("service", service), ("promotions", str(len(results)))]
    props += [(f"verdict.{v}", str(verdicts[v])) for v in Verdict if verdicts[v]]
    if gaps:
        props.append(("gaps", str(len(gaps))))
    for name, value in props:
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for result in results:
        for finding in result.findings:
            _testcase(suite, result, finding)
            # junit.py names a case by rule only (its suite is the promotion); here the
            # suite is the service, so the case must also say which MR it is about.
            case = suite[-1]
            case.set("name", _xml_text(f"{result.mr.mr_id} {_case_name(finding)}"))
    for gap in gaps:
        _gap_case(suite, gap, service)


def render(report: Report, gaps: Iterable[Mapping[str, Any] | Gap] = ()) -> str:
    """The report as JUnit XML with a `<testsuite>` per service, ending in a newline."""
    listed = gaps_from_rows(gaps)
    all_findings = [f for p in report.promotions for f in p.findings]
    root = ET.Element("testsuites", {"name": "auditor", **_counts(all_findings, len(listed))})
    timestamp = format_timestamp(report.generated_at)
    groups = by_service(report)
    gapped: dict[str, tuple[Gap, ...]] = {}
    for gap in listed:
        name = gap.service or EVERY_SERVICE
        gapped[name] = (*gapped.get(name, ()), gap)
    for service in sorted(set(groups) | set(gapped)):
        _suite(root, service, groups.get(service, []), timestamp, gapped.get(service, ()))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
