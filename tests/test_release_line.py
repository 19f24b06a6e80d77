"""One run, one document: `auditor sweep --format json` and `auditor report --format json` of
the same run are the same bytes but for when each was generated, on a world with drift, a
cut-off and reverts (so the typed rows go through discovery, the store and back)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import serve

GENERATED_AT = re.compile(r'^  "generated_at": "[^"]+",$', re.MULTILINE)


def _without_generation_time(text: str) -> str:
    normalised, count = GENERATED_AT.subn('  "generated_at": "-",', text)
    assert count == 1, text[:300]
    return normalised


def test_sweep_and_report_json_of_one_run_differ_only_in_generation_time(
    tmp_path: Path,
) -> None:
    for served in serve("week", tmp_path):
        expect = served.world.expect
        db = str(tmp_path / "a.db")
        window = ("--from", expect["window"]["from"], "--to", expect["window"]["to"])
        now = served.world.now.isoformat()
        # several workers: promotions are stored as they finish, not in the report's order
        swept = served.run(
            "sweep", *window, "--db", db, "--format", "json", "--now", now, "--concurrency", "4"
        )
        reported = served.run("report", "--db", db, "--format", "json")
        assert swept.exit_code == reported.exit_code == 1, swept.output + reported.output

        doc = json.loads(swept.stdout)
        # the world holds each kind of row, so none of them is compared empty
        assert len(doc["drift"]) == len(expect["drift"]) == 1
        assert len(doc["cut_offs"]) == len(expect["cut_offs"]) == 1
        assert len(doc["reverts"]) == len(expect["reverts"]) == 2
        assert len(doc["promotions"]) == len(expect["promotions"]) > 1
        assert _without_generation_time(reported.stdout) == _without_generation_time(swept.stdout)
