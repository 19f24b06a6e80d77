"""`auditor history` output: past runs and promotions from the store, as a table, JSON or
CSV. Runs are the store's `RunRecord`s, promotions its rows; nothing here touches GitLab.
CSV cells that a spreadsheet would run as a formula are neutralised as in every other CSV
export."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import datetime
from io import StringIO
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auditor.report.csv_export import neutralise
from auditor.run_record import RunRecord

PROMOTION_COLUMNS = (
    "run_id",
    "project",
    "iid",
    "service",
    "verdict",
    "title",
    "merged_at",
    "failed_rules",
    "unknown_rules",
    "web_url",
)
RUN_COLUMNS = (
    "id",
    "status",
    "window_from",
    "window_to",
    "started_at",
    "finished_at",
    "requests",
    "services",
    "tool_version",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def promotion_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        findings = r.get("findings") or []
        out.append(
            {
                **{k: r.get(k) for k in PROMOTION_COLUMNS if k in r},
                "failed_rules": [f["rule"] for f in findings if f["status"] == "fail"],
                "unknown_rules": [f["rule"] for f in findings if f["status"] == "unknown"],
            }
        )
    return out


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> str:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(escape(str(_plain(r.get(c, "")) or "")) for c in columns))
    buf = StringIO()
    Console(file=buf, width=160, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: neutralise(_plain(r.get(c))) for c in columns})
    return buf.getvalue()


def render_promotions(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    flat = promotion_rows(rows)
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=_plain) + "\n"
    if fmt == "csv":
        return _csv(flat, PROMOTION_COLUMNS)
    return _table(flat, [c for c in PROMOTION_COLUMNS if c != "title"], "promotions")


def render_runs(runs: Sequence[RunRecord], fmt: str) -> str:
    # Each run as the store's row: the JSON prints every column as the store keeps it.
    rows = [run.as_row() for run in runs]
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=_plain) + "\n"
    if fmt == "csv":
        return _csv(rows, RUN_COLUMNS)
    return _table(rows, RUN_COLUMNS, "runs")
