"""One run, one document: `auditor sweep --format json` and `auditor report --format json` of
the same run are the same bytes but for when each was generated, on a world with drift, a
cut-off and reverts (so the typed rows go through discovery, the store and back)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from auditor.report import html
from auditor.store import EvidenceStore
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


def _service_page(db: Path, service: str) -> str:
    with EvidenceStore(db) as store:
        loaded = html.load_run(store, 1)
        pages = {p.service: p for p in html.iter_service_pages(store, 1, loaded=loaded)}
        return html.render_service(pages[service])


def test_the_service_page_lists_the_runs_reverts_and_an_old_runs_page_leaves_them_out(
    tmp_path: Path,
) -> None:
    """The page is built from the stored `DeployedRevert`s; a run that did not record its
    reverts (stored before they were kept) has no Reverts section rather than "none"."""
    for served in serve("failed_reverted_corrected", tmp_path):
        db = tmp_path / "a.db"
        swept = served.sweep_json(db)
        doc = json.loads(swept.stdout)
        assert doc["reverts"], swept.output
        revert = doc["reverts"][0]

        text = _service_page(db, revert["service"])
        assert "<h3>Reverts</h3>" in text
        assert f'/commit/{revert["sha"]}">{revert["sha"][:8]}</a>' in text
        assert f'/commit/{revert["reverts"]}">{revert["reverts"][:8]}</a>' in text

        with sqlite3.connect(db) as conn:  # as if stored before reverts were kept
            conn.execute("DELETE FROM reverts_recorded")
        conn.close()
        assert "<h3>Reverts</h3>" not in _service_page(
            db, revert["service"]
        ) and "<h3>Drift</h3>" in _service_page(db, revert["service"])
        reported = json.loads(served.run("report", "--db", str(db), "--format", "json").stdout)
        assert "reverts" not in reported and reported["drift"] == doc["drift"]
