"""Writes a run's report site: `index.html`, and per service `SERVICE.html` + `SERVICE.pdf`.

File names come from `html.file_stems` (only `[A-Za-z0-9._-]`, never `index`, unique even on
case-insensitive file systems), so a service name cannot climb out of `out_dir` or overwrite
another service's report. Each file is written to a temporary name in `out_dir` and renamed,
so a run interrupted half-way never leaves a truncated report that looks complete.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from auditor.report.html import (
    ReportStore,
    build_index_page,
    build_service_pages,
    render_index,
    render_service,
)
from auditor.report.pdf import LocalOnlyFetcher, render_pdf


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(
    store: ReportStore,
    run_id: int,
    out_dir: Path,
    *,
    generated_at: datetime | None = None,
) -> list[Path]:
    """Render run `run_id` of `store` into `out_dir` (created if missing); the paths
    written, `index.html` first, then each service's HTML and PDF in the run's order.

    Reads the store only; never touches GitLab. `generated_at` (default: now) is stamped on
    every page, one value for the whole site.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = (generated_at or datetime.now(UTC)).replace(microsecond=0)
    pages = build_service_pages(store, run_id, generated_at=generated)
    index = build_index_page(store, run_id, generated_at=generated)
    written: list[Path] = []
    target = out_dir / "index.html"
    _write_atomic(target, render_index(index).encode("utf-8"))
    written.append(target)
    for page in pages:
        html = render_service(page)
        html_path = out_dir / f"{page.file_stem}.html"
        _write_atomic(html_path, html.encode("utf-8"))
        written.append(html_path)
        pdf_path = out_dir / f"{page.file_stem}.pdf"
        pdf = render_pdf(html, fetcher=LocalOnlyFetcher())
        assert pdf is not None  # no target given: WeasyPrint returns the bytes
        _write_atomic(pdf_path, pdf)
        written.append(pdf_path)
    return written
