"""PDF reports: the service report's own HTML, laid out on paper by WeasyPrint.

The PDF is rendered from the same template, page context and stylesheet as the HTML a
browser gets (`render_service(page, for_print=True)`), so the two cannot disagree; the print
rendering only leaves out the compliant promotions' rule-by-rule details, which a browser
shows behind each one's row and paper prints as the row alone. The stylesheet's `@page` and
`@media print` rules add page numbers, keep table rows whole and headings with what follows.

WeasyPrint fetches whatever a document references (images, stylesheets, fonts) through its
URL fetcher. Ours refuses everything but `data:` URLs: the report must load nothing, and a
hostile MR title that somehow became markup must not make the renderer call out to the
network (or read local files through `file:`). Refusals are recorded so callers and tests
can see that something tried.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

LOG = logging.getLogger(__name__)


class RemoteURLRefused(ValueError):
    """A report tried to load a URL; reports load nothing but inline `data:` URLs."""


class LocalOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher, allowed `data:` only; every other URL is refused and noted.

    A subclass (not a plain function) because WeasyPrint 70 reads its settings, e.g.
    `_fail_on_errors`, from the fetcher object. Refusing does not stop the rendering:
    WeasyPrint logs it and leaves the resource out, which is the right outcome for a stray
    image in an audit report.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.strip().lower().startswith("data:"):
            self.refused.append(url)
            LOG.warning("report PDF: refused to fetch %s", url)
            raise RemoteURLRefused(f"refused to fetch {url!r}: reports load no URLs")
        return super().fetch(url, headers)


def render_pdf(
    html: str, target: Path | None = None, *, fetcher: LocalOnlyFetcher | None = None
) -> bytes | None:
    """The PDF of `html`: written to `target` (returns None), or returned as bytes.

    No `base_url`: a relative reference has nothing to resolve against, so it cannot reach
    the file system either.
    """
    fetcher = fetcher or LocalOnlyFetcher()
    document = HTML(string=html, url_fetcher=fetcher, media_type="print")
    # A fresh FontConfiguration: the stylesheet has no @font-face, so only fonts installed
    # on this machine are used.
    return document.write_pdf(target, font_config=FontConfiguration())
