"""Report writers, one module per output format, each a pure `render(report) -> str`.

`FORMATS` names the formats the CLI offers; `writer(name)` imports only the module asked for,
so `--format json` does not pay for rich.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from auditor.findings import Report

FORMATS: dict[str, str] = {
    "json": "auditor.report.json_report",
    "junit": "auditor.report.junit",
    "markdown": "auditor.report.markdown",
    "table": "auditor.report.table",
}


def writer(name: str) -> Callable[[Report], str]:
    """The `render` function of format `name`; ValueError names the formats that exist."""
    try:
        module_name = FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown report format {name!r}; choose one of {', '.join(FORMATS)}"
        ) from None
    render: Callable[[Report], str] = importlib.import_module(module_name).render
    return render
