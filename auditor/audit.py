"""The `check` use case: one MR, every affected service, a Report.

Composition of the parts, no rules and no IO of its own beyond the source it is given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from auditor import __version__
from auditor.collect import Collector
from auditor.config import ConfigError, Settings
from auditor.derive import Clock
from auditor.evaluate import evaluate
from auditor.findings import Report
from auditor.gitlab.source import GitLabSource

_TARGET = re.compile(r"^(?P<project>[\w.-]+(?:/[\w.-]+)+)!(?P<iid>[1-9]\d*)$")


@dataclass(frozen=True)
class Target:
    project: str
    iid: int

    def __str__(self) -> str:
        return f"{self.project}!{self.iid}"


def parse_target(text: str) -> Target:
    """`group/sub/name!42` -> Target; anything else is a usage error."""
    m = _TARGET.match(text.strip())
    if not m:
        raise ConfigError(
            f"not a merge request reference: {text!r} (expected PROJECT!IID, "
            "e.g. evenergi/vemo-core!42)"
        )
    return Target(m.group("project"), int(m.group("iid")))


def select_services(settings: Settings, target: Target, names: Sequence[str]) -> list[str]:
    """The services to audit for this MR: those named, else all built from its project."""
    for name in names:
        if name not in settings.services:
            known = ", ".join(sorted(settings.services))
            raise ConfigError(f"unknown service {name!r} (configured: {known})")
        if settings.services[name].project != target.project:
            raise ConfigError(
                f"service {name!r} is built from {settings.services[name].project}, "
                f"not {target.project}"
            )
    if names:
        return list(dict.fromkeys(names))
    chosen = [s.name for s in settings.services_for_project(target.project)]
    if not chosen:
        raise ConfigError(
            f"no configured service is built from {target.project}; add a [services.NAME] "
            "table with that project"
        )
    return chosen


def check_mr(
    src: GitLabSource,
    settings: Settings,
    target: Target,
    services: Sequence[str],
    now: datetime,
) -> Report:
    mr = src.merge_request(target.project, target.iid)
    collector = Collector(src, settings)
    clock = Clock(now)
    results = tuple(
        evaluate(collector.collect(settings.services[name], mr), clock) for name in services
    )
    return Report(
        gitlab_url=settings.url, generated_at=now, tool_version=__version__, promotions=results
    )
