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

TEST_WORLDS = Path(__file__).parent / "worlds"
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


def test_a_check_costs_what_its_promotion_needs_not_what_happened_since(
    tmp_path: Path,
) -> None:
    """Issue 11: a week of other pipelines, hotfixes and a cut-off after a promotion does not
    make its audit read them: only the orchestration pipelines up to its validation, and no
    merge base where the deployments' compares already show what each one holds."""
    for served in serve(str(TEST_WORLDS / "busy_week_after.py"), tmp_path):
        served.server.reset_counts()
        code, doc = served.check_json("evenergi/vemo-core!1")
        assert (code, doc["promotions"][0]["verdict"]) == (0, "compliant")
        paths = [r.path for r in served.server.requests]
        assert len(paths) <= 30, paths
        # 40 idle pipelines and 4 releases came after it; one pipeline released it
        assert sum(p.endswith("/jobs") for p in paths) <= 3, paths
        # the cut-off's deployment is the only one the compares cannot place
        assert sum(p.endswith("/merge_base") for p in paths) <= 1, paths


def test_a_by_the_book_check_costs_at_most_15_requests(tmp_path: Path) -> None:
    """Issue 7's budget: the lifecycle reads what the attempts need, not everything since."""
    for served in serve("by_the_book", tmp_path):
        served.server.reset_counts()
        code, _ = served.check_json("evenergi/vemo-core!1")
        assert code == 0
        assert len(served.server.requests) <= 15, [r.path for r in served.server.requests]
