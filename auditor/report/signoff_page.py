"""The sign-off page as HTML (and, through `pdf.render_pdf`, as PDF to sign on paper).

The decision is `auditor.signoff`'s; this module only lays a `SignoffContext` out in the
report templates, with the report pages' safeguards (see `auditor.report.html`): the same
autoescaping, strict Jinja2 environment, the same inline stylesheet and no-load CSP, and
links only where `gitlab_link` vouches for a URL on the run's GitLab.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.findings import Status
from auditor.release_line import Drift
from auditor.report.html import (
    STATUS_LABELS,
    VERDICT_LABELS,
    _project_url,
    environment,
    fmt_time,
    gitlab_link,
    stylesheet,
)
from auditor.signoff import SignoffContext, SignoffPromotion, signoff_exit_code


@dataclass(frozen=True)
class SignoffRunView:
    """What the shared layout reads from `page.run`."""

    tool_version: str


@dataclass(frozen=True)
class RuleLine:
    rule: str
    name: str
    status: str
    status_label: str
    summary: str


@dataclass(frozen=True)
class SignoffPromotionView:
    ref: str  # project!iid
    url: str | None
    title: str
    promoted_at: str  # "" when it cannot be told
    verdict: str
    verdict_label: str
    failed_rules: tuple[str, ...]
    unknown_rules: tuple[str, ...]
    rules: tuple[RuleLine, ...]  # the failed and unknown findings


@dataclass(frozen=True)
class DriftLine:
    """A `Drift` as the page shows it: with its commit's link, its time formatted."""

    drift: Drift
    url: str | None

    @property
    def deployed_at(self) -> str:
        return fmt_time(self.drift.deployed_at)


@dataclass(frozen=True)
class StagingView:
    id: int
    url: str | None
    sha: str
    finished_at: str  # "" when not finished


@dataclass(frozen=True)
class SignoffPage:
    run: SignoffRunView
    service: str
    since: str  # "" when no cut-off is known
    until: str
    gitlab_url: str
    gitlab_link: str | None
    exit_code: int
    staging: StagingView | None
    promotions: tuple[SignoffPromotionView, ...]
    violations: tuple[SignoffPromotionView, ...]
    unresolved: tuple[SignoffPromotionView, ...]
    drift: tuple[DriftLine, ...]
    staging_issues: tuple[str, ...]
    # why the run cannot be relied on, and what it could not establish, one line each
    run_issues: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()

    @property
    def violation_count(self) -> int:
        return len(self.violations) + len(self.drift)

    @property
    def not_shown_count(self) -> int:
        return (
            len(self.unresolved) + len(self.staging_issues) + len(self.run_issues) + len(self.gaps)
        )


def _promotion(p: SignoffPromotion, gitlab_url: str) -> SignoffPromotionView:
    return SignoffPromotionView(
        ref=str(p.mr.mr_id),
        url=gitlab_link(p.mr.web_url, gitlab_url),
        title=p.mr.title or "",
        promoted_at=fmt_time(p.promoted_at),
        verdict=p.verdict.value,
        verdict_label=VERDICT_LABELS[p.verdict],
        failed_rules=p.failed_rules,
        unknown_rules=p.unknown_rules,
        rules=tuple(
            RuleLine(f.rule, f.name, f.status.value, STATUS_LABELS[f.status], f.summary)
            for f in p.result.findings
            if f.status in (Status.FAIL, Status.UNKNOWN)
        ),
    )


def build_signoff_page(ctx: SignoffContext, gitlab_url: str) -> SignoffPage:
    """The page context of `ctx`; links only to URLs under `gitlab_url`."""
    s = ctx.staging
    return SignoffPage(
        run=SignoffRunView(ctx.tool_version),
        service=ctx.service,
        since=fmt_time(ctx.since),
        until=fmt_time(ctx.until),
        gitlab_url=gitlab_url,
        gitlab_link=gitlab_link(gitlab_url, gitlab_url),
        exit_code=signoff_exit_code(ctx),
        staging=None
        if s is None
        else StagingView(s.id, gitlab_link(s.url, gitlab_url), s.sha, fmt_time(s.finished_at)),
        promotions=tuple(_promotion(p, gitlab_url) for p in ctx.promotions),
        violations=tuple(_promotion(p, gitlab_url) for p in ctx.violations),
        unresolved=tuple(_promotion(p, gitlab_url) for p in ctx.unresolved),
        drift=tuple(
            DriftLine(d, _project_url(gitlab_url, d.project, f"commit/{d.sha}")) for d in ctx.drift
        ),
        staging_issues=ctx.staging_issues,
        run_issues=ctx.run_issues,
        gaps=tuple(f"the run could not establish {g.what}: {g.reason}" for g in ctx.gaps),
    )


def render_signoff_html(ctx: SignoffContext, gitlab_url: str) -> str:
    """The sign-off page as one self-contained HTML document."""
    page = build_signoff_page(ctx, gitlab_url)
    template = environment().get_template("signoff.html.j2")
    return template.render(page=page, css=stylesheet())
