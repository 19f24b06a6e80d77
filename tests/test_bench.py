"""`bench/run.py` on a tiny world: every figure the JSON promises is there, counted from real
requests to the simulator (no timing is asserted: CI machines are shared and noisy)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from bench import run as bench

FIGURE_KEYS = {
    "schema",
    "machine",
    "options",
    "world",
    "lower_bound",
    "requests",
    "sweep",
    "rerun",
    "rate_limit",
    "checks",
    "renders",
    "bundle",
    "memory",
    "targets",
    "notes",
    "correctness",
    "stages",
    "naive_runs",
    "elapsed_seconds",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    code = bench.main(
        [
            "--promotions",
            "6",
            "--noise",
            "10",
            "--latency",
            "0",
            "--render-sizes",
            "2,4",
            "--budget",
            "600",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_every_figure_is_in_the_json_with_the_machine(results: dict) -> None:
    assert set(results) == FIGURE_KEYS
    assert results["schema"] == "auditor.bench/v1"
    machine = results["machine"]
    for key in ("platform", "python", "cpu_count", "memory_bytes", "date", "auditor_commit"):
        assert machine[key], key
    assert set(results["sweep"]) == {"c1", "c4", "c16", "naive"}
    for figure in results["sweep"].values():
        assert figure["requests"] > 0 and figure["seconds"] > 0
        if figure["measured"]:
            assert figure["how"] == "measured"
        else:
            assert figure["how"].startswith("computed")
    assert not results["sweep"]["naive"]["measured"]  # its wall is always computed
    assert set(results["checks"]) == {"by_the_book", "newest", "middle", "oldest"}
    statuses = {t["status"] for t in results["targets"]}
    assert statuses <= {"MET", "MISSED", "NOT MEASURED"}
    names = " ".join(t["name"] for t in results["targets"])
    for words in ("lower bound", "by the book", "oldest MR", "latency bound", "naive", "rerun"):
        assert words in names, words
    assert "rate limit" in names and "200-promotion" in names and "linearly" in names


def test_requests_are_counted_by_family_and_the_bound_from_the_world(results: dict) -> None:
    world = results["world"]
    assert world["promotions"] >= 6 and world["mrs"] >= 1
    cold = results["requests"]["sweep_cold"]
    assert cold["total"] > world["promotions"]
    assert sum(cold["by_family"].values()) == cold["total"]
    for family in ("mr_get", "mr_notes", "pipeline_jobs", "deployment_list"):
        assert cold["by_family"].get(family, 0) > 0, family
    bound = results["lower_bound"]
    assert bound["total"] == sum(bound["by_family"].values()) > 0
    # one MR read, one approvals read per MR: the bound counts each MR once
    assert bound["by_family"]["mr_get"] == bound["by_family"]["mr_approvals"] == world["mrs"]
    assert bound["deployments"] > 0 and bound["orchestration_pipelines_played"] > 0
    check = results["requests"]["check_cold"]
    assert check["mrs_sampled"] == check["mrs"] == world["mrs"]  # all of them, tiny world
    assert not check["extrapolated"] and check["total"] > 0
    for name, c in results["checks"].items():
        assert c["requests"] > 0 and c["promotions"] >= 1, name
    assert results["checks"]["by_the_book"]["target"] == "evenergi/vemo-core!1"


def test_rerun_rate_limit_renders_and_memory_are_measured(results: dict) -> None:
    cold = results["requests"]["sweep_cold"]["total"]
    rerun = results["rerun"]
    assert 0 < rerun["requests"] < cold
    assert rerun["requests_fraction"] == pytest.approx(rerun["requests"] / cold)
    limited = results["rate_limit"]
    assert limited["limit_per_minute"] == 600 and limited["requests"] > 0
    assert limited["responses_429"] == 0 and not limited["limit_reached"]  # a tiny world
    rows = results["renders"]
    assert [r["promotions"] for r in rows] == [2, 4]
    for row in rows:
        assert row["measured"] and row["pdf_measured"]
        assert row["pdf_pages"] >= 1 and row["pdf_bytes"] > 0 and row["html_bytes"] > 0
        assert row["pdf_peak_rss_bytes"] >= row["html_peak_rss_bytes"] > 0
    assert results["memory"]["largest_sweep_peak_rss_bytes"] > 0
    # the figures are of sweeps that got every verdict the world expects
    assert results["correctness"] == {"cold-4": [], "rerun-4": []}


def test_markdown_section_is_written_between_the_markers(results: dict, tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        f"# P\n\n{bench.DOC_START}\nstale figures\n{bench.DOC_END}\nafter\n", encoding="utf-8"
    )
    bench.update_doc(results, doc)
    text = doc.read_text(encoding="utf-8")
    assert "stale figures" not in text and text.endswith(f"{bench.DOC_END}\nafter\n")
    assert "#### Targets" in text and results["machine"]["date"] in text
    assert "| --concurrency 4 |" in text


def test_a_sweep_that_gets_a_verdict_wrong_is_reported(tmp_path: Path) -> None:
    world = types.SimpleNamespace(
        expect={
            "promotions": [{"project": "a/b", "iid": 1, "service": "s", "verdict": "compliant"}]
        }
    )
    report = tmp_path / "sweep.json"
    wrong = {"mr": {"project": "a/b", "iid": 1}, "service": "s", "verdict": "non_compliant"}
    report.write_text(json.dumps({"promotions": [wrong]}), encoding="utf-8")
    assert bench.verdict_mismatches(world, report) == [  # type: ignore[arg-type]
        "a/b!1 s: expected compliant, got non_compliant"
    ]
    report.write_text(json.dumps({"promotions": []}), encoding="utf-8")
    assert bench.verdict_mismatches(world, report) == [  # type: ignore[arg-type]
        "a/b!1 s: expected compliant, got None"
    ]


def test_a_sample_cut_short_still_spans_the_window() -> None:
    order = bench.spread(list(range(9)))
    assert sorted(order) == list(range(9))
    assert order[:3] == [0, 8, 4]  # oldest, newest, middle first


def test_the_whole_bundle_is_written_and_counted(results: dict) -> None:
    bundle = results["bundle"]
    # every service's HTML and PDF, the evidence files and the manifest
    assert bundle["files"] > 2 * results["world"]["services"]
    assert bundle["pdf_pages"] >= results["world"]["services"]
    names = [t["name"] for t in results["targets"]]
    assert "report --bundle of the large world's store < 2 minutes" in names
