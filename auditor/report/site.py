"""Writes a run's report site: `index.html`, and per service `SERVICE.html` + `SERVICE.pdf`.

File names come from `html.file_stems` (only `[A-Za-z0-9._-]`, never `index`, unique even on
case-insensitive file systems), so a service name cannot climb out of `out_dir` or overwrite
another service's report. Each file is written to a temporary name in `out_dir` and renamed,
so a run interrupted half-way never leaves a truncated report that looks complete.

Cost stays linear in promotions and memory in one service: the run is read once, each
service's page is built, written (its HTML streamed to disk) and laid out as a PDF before
the next one is built. The PDF is laid out from the print rendering of the same page (see
`auditor.report.pdf`), which prints a compliant promotion as one row.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from auditor.report.html import (
    ReportStore,
    build_index_page,
    iter_service_html,
    iter_service_pages,
    load_run,
    render_index,
    render_service,
)
from auditor.report.pdf import LocalOnlyFetcher, render_pdf


def _write_atomic(path: Path, data: bytes | Iterable[str]) -> None:
    """Write `data` (bytes, or text pieces written as UTF-8 one by one) to `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                for piece in data:
                    handle.write(piece.encode("utf-8"))
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
    loaded = load_run(store, run_id, generated)
    written: list[Path] = []
    target = out_dir / "index.html"
    _write_atomic(target, render_index(build_index_page(store, run_id, loaded=loaded)).encode())
    written.append(target)
    for page in iter_service_pages(store, run_id, loaded=loaded):
        html_path = out_dir / f"{page.file_stem}.html"
        _write_atomic(html_path, iter_service_html(page))
        written.append(html_path)
        pdf_path = out_dir / f"{page.file_stem}.pdf"
        pdf = render_pdf(render_service(page, for_print=True), fetcher=LocalOnlyFetcher())
        assert pdf is not None  # no target given: WeasyPrint returns the bytes
        _write_atomic(pdf_path, pdf)
        written.append(pdf_path)
    return written
