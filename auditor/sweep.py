"""The `sweep` use case: discover a window's promotions, collect and evaluate each, and
keep everything in the evidence store as it goes.

Promotions are collected in parallel by a bounded pool sharing one source (so a question
asked by two workers still goes to GitLab once). Each finished promotion is written to the
store in its own transaction, and every GitLab answer the source caches is committed as it
arrives, so a sweep killed part-way leaves a consistent store and the rerun continues the
same run without asking GitLab again for what it already has.

It fails closed: a promotion whose evidence could not be collected at all (its MR answers
500, an answer the source could not parse) stays in the result as `incomplete`, every rule
`unknown` with the reason; what discovery could not read is a `Gap` of the run. A run with
any gap is stored as `incomplete`, never `complete`, and its exit code is at least 3 (4 when
GitLab itself could not be used), so "nothing found" only ever means "nothing there".
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from auditor import __version__
from auditor.audit import changed_paths, touches
from auditor.collect import Collector
from auditor.config import Service, Settings
from auditor.derive import Clock
from auditor.discover import Discoverer, Discovery, Window
from auditor.evaluate import evaluate
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.findings import (
    EvidenceLink,
    Finding,
    Milestones,
    MRSummary,
    PromotionResult,
    Report,
    Status,
    Verdict,
    exit_code,
)
from auditor.gaps import Gap, with_gaps
from auditor.gitlab.client import RawResponse, ReadOnlySession
from auditor.gitlab.source import GitLabSource, GitLabUnusable
from auditor.identity import MRId
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.rulebook import load_rulebook
from auditor.timestamps import parse

# Picks reach staging soon after they are made; reading a fortnight before the window
# covers a pick made the week before and deployed in it.
HORIZON = timedelta(days=14)
# GitLab's and our clocks may disagree; ask for changes from a little before the cursor.
CLOCK_SKEW = timedelta(minutes=10)
DEFAULT_CONCURRENCY = 4


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, name: str, note: str = "") -> None: ...


class SweepStore(Protocol):
    """What the sweep keeps in the evidence store (`auditor.store.EvidenceStore`): the
    sync cursors, the raw responses, and the run with its results as they arrive."""

    def cursor_get(self, name: str) -> str | None: ...

    def cursor_set(self, name: str, value: str) -> None: ...

    def put_responses(self, responses: Iterable[RawResponse]) -> int: ...

    def begin_run(
        self,
        *,
        window_from: datetime,
        window_to: datetime,
        services: list[str],
        config_sha256: str,
        rulebook_sha256: str,
        tool_version: str,
        gitlab_url: str,
    ) -> int: ...

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        requests: int,
        coverage: dict[str, object],
        summary: dict[str, object],
    ) -> None: ...

    def record_promotion(
        self,
        run_id: int,
        result: PromotionResult,
        evidence: Iterable[str] = (),
        position: int | None = None,
    ) -> int: ...

    def record_drift(self, run_id: int, rows: Iterable[Drift]) -> None: ...

    def record_cut_offs(self, run_id: int, rows: Iterable[CutOff]) -> None: ...

    def record_reverts(self, run_id: int, rows: Iterable[DeployedRevert]) -> None: ...


class NoProgress:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, note: str = "") -> None:
        pass


@dataclass
class ServiceSummary:
    service: str
    promotions: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    drift: int = 0
    requests: int = 0
    seconds: float = 0.0


@dataclass
class SweepResult:
    report: Report
    discovery: Discovery
    summaries: dict[str, ServiceSummary]
    requests: int
    cache_hits: int
    seconds: float
    run_id: int | None = None
    failures: list[str] = field(default_factory=list)  # promotions that could not be read
    unreadable: list[Gap] = field(default_factory=list)  # the same, as gaps
    # evidence of audited promotions that GitLab did not give (their findings say unknown)
    evidence_gaps: list[Gap] = field(default_factory=list)

    @property
    def gaps(self) -> list[Gap]:
        """Everything the run could not read: in discovery, whole promotions, and pieces
        of audited promotions' evidence (each once)."""
        return [*self.discovery.gaps, *self.unreadable, *self.evidence_gaps]

    @property
    def status(self) -> str:
        """How the run is stored: `complete` only when nothing was left unread."""
        return "incomplete" if self.gaps else "complete"

    def exit_code(self) -> int:
        """The contract's code: the verdicts', raised to 3 by any gap (4 when GitLab itself
        could not be used); a violation stays 1."""
        return with_gaps(exit_code(self.report.promotions), self.gaps)

    def gap_rows(self) -> list[dict[str, Any]]:
        return [g.to_dict() for g in self.gaps]

    def extras(self) -> SweepExtras:
        """What the run found besides its promotions, as the store keeps it."""
        return SweepExtras(
            drift=tuple(self.discovery.drift),
            cut_offs=tuple(self.discovery.cut_offs),
            reverts=tuple(self.discovery.reverts),
            gaps=tuple(self.gaps),
        )


def config_sha256(settings: Settings) -> str:
    """A fingerprint of what the audit depends on (never the token)."""
    text = repr(
        (
            settings.url,
            settings.orchestration_project,
            sorted((n, repr(s)) for n, s in settings.services.items()),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


class Sweep:
    def __init__(
        self,
        src: GitLabSource,
        session: ReadOnlySession,
        settings: Settings,
        store: SweepStore | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: Progress | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.src = src
        self.session = session
        self.settings = settings
        self.store = store
        self.concurrency = max(1, concurrency)
        src.limit(self.concurrency)
        self.progress = progress or NoProgress()
        self.wall_clock = wall_clock
        self._flushed = 0
        self._flush_lock = threading.Lock()

    # -- sync cursors ---------------------------------------------------------------------
    def _note_changes(self, projects: Sequence[str]) -> None:
        """Tell the source which MRs changed since the last complete sweep, per project."""
        if self.store is None:
            return
        for path in projects:
            cursor = self.store.cursor_get(f"mrs:{path}")
            if cursor:
                since = parse(cursor) - CLOCK_SKEW
                self.src.note_changed_mrs(path, since)

    def _advance_cursors(self, projects: Sequence[str], started: datetime) -> None:
        if self.store is not None:
            for path in projects:
                self.store.cursor_set(f"mrs:{path}", started.isoformat())

    def _flush_responses(self) -> None:
        if self.store is None:
            return
        with self._flush_lock:
            fresh = self.session.responses[self._flushed :]
            self._flushed += len(fresh)
        if fresh:
            self.store.put_responses(fresh)

    # -- the sweep ------------------------------------------------------------------------
    def run(self, window: Window, services: Sequence[str], now: datetime) -> SweepResult:
        """Run the sweep; a run that raises or is interrupted is closed as such in the store
        (what it already recorded stays, and the next run with the same window resumes it)."""
        started_wall = self.wall_clock()
        t0 = time.monotonic()
        chosen = [self.settings.services[n] for n in services]
        projects = sorted({s.project for s in chosen})
        run_id = None
        if self.store is not None:
            run_id = self.store.begin_run(
                window_from=window.start,
                window_to=window.end,
                services=list(services),
                config_sha256=config_sha256(self.settings),
                rulebook_sha256=load_rulebook().sha256,
                tool_version=__version__,
                gitlab_url=self.settings.url,
            )
        try:
            return self._run(window, chosen, projects, now, run_id, started_wall, t0)
        except BaseException as exc:
            if self.store is not None and run_id is not None:
                self._flush_responses()
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                self.store.finish_run(
                    run_id,
                    status=status,
                    requests=self.session.request_count,
                    coverage={"error": str(exc)[:300]},
                    summary={},
                )
            raise

    def _run(
        self,
        window: Window,
        chosen: list[Service],
        projects: list[str],
        now: datetime,
        run_id: int | None,
        started_wall: datetime,
        t0: float,
    ) -> SweepResult:
        summaries = {s.name: ServiceSummary(s.name) for s in chosen}
        self._note_changes(projects)
        for path in projects:
            self.src.project(path)  # fails fast (exit 4) on a missing project or bad token

        self.progress.phase("discover", len(chosen))
        horizon = window.start - HORIZON
        discoverer = Discoverer(self.src, self.settings, window, horizon, self.concurrency)
        discovery = discoverer.discover(chosen, self._tick)
        for d in discovery.drift:
            summaries[d.service].drift += 1
        self._flush_responses()

        targets, skipped = self._affected(discovery.targets())
        discovery.not_affected.extend(skipped)
        collector = Collector(self.src, self.settings, horizon=horizon)
        clock = Clock(now)
        results: dict[tuple[str, MRId], PromotionResult] = {}
        failures: list[str] = []
        self.progress.phase("collect", len(targets))

        unreadable: list[Gap] = []
        evidence_gaps: dict[tuple[str, str], Gap] = {}

        def gather(
            target: tuple[str, MRId],
        ) -> tuple[PromotionEvidence, float, int, set[str]]:
            service, mr_id = target
            before = self.session.requests_by_thread()
            start = time.monotonic()
            self.src.track_evidence()
            mr = self.src.merge_request(mr_id.project, mr_id.iid)
            evidence = collector.collect(self.settings.services[service], mr)
            spent = self.session.requests_by_thread() - before
            return evidence, time.monotonic() - start, spent, self.src.evidence()

        self.progress.phase("evaluate", len(targets))
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="collect") as pool:
            futures = {pool.submit(gather, t): t for t in targets}
            for future in as_completed(futures):
                service, mr_id = futures[future]
                try:
                    evidence, seconds, requests, digests = future.result()
                    # evaluation is pure and quick: done here, in order of arrival
                    result = evaluate(evidence, clock)
                except Exception as exc:  # noqa: BLE001 - one promotion's failure is its own
                    reason = str(exc) if isinstance(exc, GitLabUnusable) else _unexpected(exc)
                    reason = reason.removeprefix(f"merge request {mr_id}: ")
                    failures.append(f"{mr_id} ({service}): {reason}")
                    unreadable.append(Gap(service, f"merge request {mr_id}", reason))
                    self.progress.advance("collect", f"{mr_id}: unreadable")
                    result = not_audited(
                        self.settings.url, mr_id.project, mr_id.iid, service, reason
                    )
                    seconds, requests, digests = 0.0, 0, set()
                else:
                    self.progress.advance("collect", str(mr_id))
                    for missing in unavailable_in(evidence):
                        key = (service, missing.what)
                        evidence_gaps.setdefault(key, Gap(service, missing.what, missing.reason))
                results[futures[future]] = result
                summary = summaries[service]
                summary.promotions += 1
                summary.verdicts[result.verdict.value] += 1
                summary.seconds += seconds
                summary.requests += requests
                if self.store is not None and run_id is not None:  # begun together
                    # written as it arrives, read back in the order of `targets`
                    self.store.record_promotion(
                        run_id, result, sorted(digests), position=targets.index(futures[future])
                    )
                self._flush_responses()
                self.progress.advance("evaluate", f"{mr_id} {result.verdict.value}")

        ordered = tuple(results[t] for t in targets if t in results)
        report = Report(self.settings.url, now, __version__, ordered)
        seconds = time.monotonic() - t0
        outcome = SweepResult(
            report,
            discovery,
            summaries,
            self.session.request_count,
            self.src.cache_hits,
            seconds,
            run_id,
            failures,
            unreadable,
            list(evidence_gaps.values()),
        )
        if self.store is not None and run_id is not None:
            extras = outcome.extras()
            self.store.record_drift(run_id, extras.drift)
            self.store.record_cut_offs(run_id, extras.cut_offs)
            self.store.record_reverts(run_id, extras.reverts or ())
            self._flush_responses()
            complete = outcome.status == "complete"
            self.store.finish_run(
                run_id,
                status=outcome.status,
                requests=outcome.requests,
                coverage=coverage(outcome),
                summary={
                    name: {"promotions": s.promotions, **s.verdicts, "drift": s.drift}
                    for name, s in summaries.items()
                },
            )
            if complete:
                self._advance_cursors(projects, started_wall)
        return outcome

    def _affected(
        self, targets: list[tuple[str, MRId]]
    ) -> tuple[list[tuple[str, MRId]], list[tuple[str, MRId]]]:
        """Drop (service, MR) pairs whose MR changes none of the service's `paths`: a
        monorepo pick rides along in every service's deployment, but only the services it
        touches are promoted (the same rule as `auditor check`)."""

        def touched(target: tuple[str, MRId]) -> bool:
            service, mr_id = target
            patterns = self.settings.services[service].paths
            if not patterns:
                return True
            try:
                mr = self.src.merge_request(mr_id.project, mr_id.iid)
                changed = changed_paths(self.src, mr)
            except Exception:  # noqa: BLE001 - audited anyway; collection names the failure
                return True
            return changed is None or touches(changed, patterns)

        # the MRs' changes are read side by side; the order of the targets is kept
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="paths") as pool:
            verdicts = list(pool.map(touched, targets))
        kept = [t for t, keep in zip(targets, verdicts, strict=True) if keep]
        skipped = [t for t, keep in zip(targets, verdicts, strict=True) if not keep]
        return kept, skipped

    def _tick(self, service: str) -> None:
        self.progress.advance("discover", service)


# Values that hold nothing further: not walked into.
_LEAVES = (str, int, float, bool, datetime, type(None))


def unavailable_in(value: object) -> list[Unavailable]:
    """Every `Unavailable` inside collected evidence (dataclasses, tuples, lists, dict
    values), in field order: what GitLab did not give for this promotion."""
    found: list[Unavailable] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _LEAVES):
            continue
        if isinstance(item, Unavailable):
            found.append(item)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, name) for name in reversed(_field_names(type(item))))
    return found


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _unexpected(exc: Exception) -> str:
    return f"could not be collected: unexpected {type(exc).__name__}: {str(exc)[:200]}"


def not_audited(
    gitlab_url: str, project: str, iid: int, service: str, reason: str
) -> PromotionResult:
    """A promotion the sweep found but could not audit: `incomplete`, every rule of the
    catalog `unknown` with the reason, so it is counted, exported and blocks sign-off like
    any promotion that could not be shown compliant. The MR's title is not known."""
    web_url = f"{gitlab_url.rstrip('/')}/{project}/-/merge_requests/{iid}"
    link = (EvidenceLink("merge_request", iid, web_url, None),)
    findings = tuple(
        Finding(rule.id, rule.name, Status.UNKNOWN, f"not audited: {reason}", link)
        for rule in load_rulebook().rules
    )
    return PromotionResult(
        MRSummary(project, iid, "", web_url, None),
        service,
        Verdict.INCOMPLETE,
        findings,
        milestones=Milestones.unread(f"not audited: {reason}"),
    )


def coverage(result: SweepResult) -> dict[str, Any]:
    """What the run could not establish: every gap is named, none is silently dropped.
    `gaps` ({service, what, reason}) is what exports and sign-off read back; the rest is
    for people and `auditor history --runs`."""
    unknown_rules = Counter(
        f.rule for p in result.report.promotions for f in p.findings if f.status == "unknown"
    )
    return {
        "status": result.status,
        "promotions": len(result.report.promotions),
        "gaps": result.gap_rows(),
        "unreadable_promotions": result.failures,
        "discovery_gaps": [str(g) for g in result.discovery.gaps],
        "unknown_findings_by_rule": dict(sorted(unknown_rules.items())),
        "incomplete": sum(
            1
            for p in result.report.promotions
            if p.verdict in (Verdict.INCOMPLETE, Verdict.IN_PROGRESS)
        ),
        "staging_seen": dict(sorted(result.discovery.staging_seen.items())),
    }
