"""Every scenario world, audited by `auditor check` through python-gitlab over real HTTP
against the simulator: the verdicts and every rule's status are the world's EXPECTED."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from auditor.findings import EXIT_BY_VERDICT, Verdict
from auditor.report.json_report import load_schema
from auditor.simulator.worlds import available_worlds, load_module
from tests.conftest import serve

WORLDS = [w for w in available_worlds() if getattr(load_module(w), "EXPECTED", None)]


@pytest.mark.parametrize("name", WORLDS)
def test_scenario_verdicts(name: str, tmp_path: Path) -> None:
    for served in serve(name, tmp_path):
        for target, by_service in served.module.EXPECTED.items():
            served.server.reset_counts()
            code, doc = served.check_json(target)
            jsonschema.validate(doc, load_schema())
            got = {
                p["service"]: {
                    "verdict": p["verdict"],
                    "rules": {f["rule"]: f["status"] for f in p["findings"]},
                }
                for p in doc["promotions"]
            }
            assert got == by_service, _explain(doc)
            worst = max(
                (EXIT_BY_VERDICT[Verdict(e["verdict"])] for e in by_service.values()),
                key=lambda c: {0: 0, 3: 1, 1: 2}[c],
            )
            assert code == worst
            requests = served.server.requests
            assert {r.method for r in requests} <= {"GET", "HEAD"}
            # no request twice: every question to GitLab is asked once per check
            repeated = [
                k for k, n in Counter((r.path, r.query_string) for r in requests).items() if n > 1
            ]
            assert not repeated, repeated


def _explain(doc: dict) -> str:
    lines = []
    for p in doc["promotions"]:
        lines.append(f"{p['service']}: {p['verdict']}")
        lines += [f"  {f['rule']} {f['status']}: {f['summary']}" for f in p["findings"]]
    return "\n".join(lines)


def test_long_lists_are_read_to_the_last_page(tmp_path: Path) -> None:
    """120 notes and 110+ release commits: python-gitlab follows Link rel=next, and the
    audit still finds the pick, the note and the label on later pages."""
    for served in serve("long_history", tmp_path):
        code, doc = served.check_json("evenergi/vemo-core!1")
        assert code == 0
        paged = {
            (r.path.rsplit("/", 1)[-1], (r.query.get("page") or [""])[0])
            for r in served.server.requests
            if r.path.endswith(("/notes", "/repository/commits"))
        }
        assert ("notes", "2") in paged and ("commits", "2") in paged


def test_a_by_the_book_check_costs_at_most_15_requests(tmp_path: Path) -> None:
    """Issue 7's budget: the lifecycle reads what the attempts need, not everything since."""
    for served in serve("by_the_book", tmp_path):
        served.server.reset_counts()
        code, _ = served.check_json("evenergi/vemo-core!1")
        assert code == 0
        assert len(served.server.requests) <= 15, [r.path for r in served.server.requests]
