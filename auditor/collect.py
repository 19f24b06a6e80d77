"""MR + service -> PromotionEvidence: gathers exactly what the rules read, each fact once.

`release` is rebuilt by every cut-off, so the branch alone cannot be trusted to still hold
a pick a week later. Deployments, the commits each one added (compare with the previous
successful deployment), system notes and cherry-pick MRs keep the record; the collector
reads all of them. What it reads after the picks is bounded by the promotion's attempts
(`auditor.lifecycle`): the jobs of the deployments that matter, and the environments after
staging only when a validation failed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from auditor.ancestry import chain_ancestry
from auditor.config import Service, Settings
from auditor.derive import bases, cut_off_pattern, finished, release_job_pattern
from auditor.evidence import (
    Approvals,
    CherryPick,
    Commit,
    Deployment,
    Job,
    LabelEvent,
    MergeRequest,
    MRRef,
    Note,
    OrchestrationRun,
    Pipeline,
    PromotionEvidence,
    ReleaseScope,
    Revert,
    ScopeCommit,
    SuspectedPick,
    Unavailable,
)
from auditor.gitlab.source import gitlab_time
from auditor.lifecycle import CLOCK_SKEW, Lifecycle, change_coverage, lifecycle, made_before
from auditor.lineage import (
    inverse_fingerprint,
    patch_fingerprint,
    pick_note,
    picked_from,
    reverted,
    reverted_title,
    same_sha,
    sha_in,
)

# Picks are looked for from a little before the MR's change existed: nobody can pick a commit
# before it was made (a pick before the MR was opened is still found, and fails SH01).
LOOKBACK = timedelta(hours=1)
# Tracing other hotfixes in a deployment: from this many picks on, list merged MRs once.
BULK_TRACE_MIN = 4
BULK_TRACE_LOOKBACK = timedelta(days=30)

Picks = tuple[CherryPick, ...] | Unavailable


def _merge_title(mr: MergeRequest) -> str:
    """The first line git writes for the MR's merge commit, which a local `git cherry-pick
    -m 1` without `-x` keeps."""
    return f"Merge branch '{mr.source_branch}' into"


class CollectorSource(Protocol):
    """What the collector reads from GitLab: `GitLabSource`, or a test's double
    (tests/source_double.py). Each answer is a typed fact or why GitLab did not give it."""

    def approvals(self, mr: MergeRequest) -> Approvals | Unavailable: ...
    def notes(self, mr: MergeRequest) -> tuple[Note, ...] | Unavailable: ...
    def label_events(self, mr: MergeRequest) -> tuple[LabelEvent, ...] | Unavailable: ...
    def mr_commits(self, mr: MergeRequest) -> tuple[Commit, ...] | Unavailable: ...
    def merge_requests(self, path: str, **filters: Any) -> tuple[MRRef, ...] | Unavailable: ...
    def commit(self, path: str, sha: str) -> Commit | Unavailable: ...
    def commit_diff(self, path: str, sha: str) -> tuple[dict[str, Any], ...] | Unavailable: ...
    def commit_merge_requests(self, path: str, sha: str) -> tuple[MRRef, ...] | Unavailable: ...
    def branch_commits(
        self, path: str, ref: str, since: datetime
    ) -> tuple[Commit, ...] | Unavailable: ...
    def compare(self, path: str, base: str, head: str) -> tuple[Commit, ...] | Unavailable: ...
    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable: ...
    def environments(self, path: str) -> tuple[str, ...] | Unavailable: ...
    def deployments(
        self, path: str, environment: str, updated_after: datetime
    ) -> tuple[Deployment, ...] | Unavailable: ...
    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable: ...
    def pipelines(
        self, path: str, updated_after: datetime, created_before: datetime | None = None
    ) -> tuple[Pipeline, ...] | Unavailable: ...
    def pipeline_jobs(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable: ...
    def pipeline_bridges(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable: ...


class Collector:
    """Collects promotions' evidence. A sweep sets `horizon` (a time before its window) so
    that every promotion of a service shares one read of the branch, the deployments and
    the orchestration pipelines instead of one per MR."""

    def __init__(
        self, src: CollectorSource, settings: Settings, horizon: datetime | None = None
    ) -> None:
        self.src = src
        self.settings = settings
        self.horizon = horizon

    def _since(self, at: datetime) -> datetime:
        return at if self.horizon is None else min(self.horizon, at)

    # -- picks ----------------------------------------------------------------------------
    def _commit(self, path: str, sha: str, known: dict[str, Commit]) -> Commit | Unavailable:
        """A commit from what was already read (release commits, compares), else GitLab."""
        hit = known.get(sha) or next((c for k, c in known.items() if same_sha(k, sha)), None)
        return hit or self.src.commit(path, sha)

    def _picks(
        self,
        service: Service,
        mr: MergeRequest,
        notes: tuple[Note, ...] | Unavailable,
        mr_commits: tuple[Commit, ...] | Unavailable,
        candidates: list[Commit],
        readable: bool,
    ) -> tuple[Picks, tuple[SuspectedPick, ...]]:
        path, release = service.project, service.policy.release_branch
        own = mr_commits if isinstance(mr_commits, tuple) else ()
        sources = [s for s in (mr.merge_commit_sha, mr.squash_commit_sha) if s]
        sources += [c.id for c in own]
        known = {c.id: c for c in candidates}
        found: dict[str, CherryPick] = {}
        problems: list[Unavailable] = []

        for note in notes if isinstance(notes, tuple) else ():
            parsed = pick_note(note.body) if note.system else None
            if parsed is None:
                continue
            branch, sha = parsed
            if branch == release:
                commit = self._commit(path, sha, known)
                if isinstance(commit, Unavailable):
                    problems.append(commit)
                    continue
                found.setdefault(
                    commit.id,
                    CherryPick(commit, "system_note", mr.merge_commit_sha, note.created_at),
                )
            elif branch.startswith("cherry-pick-"):
                self._via_pick_mr(path, release, mr, branch, sha, known, found, problems)
        for c in candidates:
            named = [x for x in picked_from(c.message) if sha_in(x, sources)]
            if named and c.id not in found:
                found[c.id] = CherryPick(c, "trailer", named[0], c.committed_date or mr.updated_at)
        if isinstance(mr_commits, Unavailable):
            self._owned_picks(path, mr, candidates, sources, found, problems)

        suspected: list[SuspectedPick] = []
        if change_coverage(mr, mr_commits, list(found.values())).whole is not True:
            same, suspected = self._same_patch(service, mr, own, candidates, sources, found)
            found.update({p.commit.id: p for p in same})
        if problems:
            # a pick GitLab recorded but would not show may be the latest attempt: judging
            # the others alone could pass a hotfix that was picked again
            return problems[0], ()
        if not found and not suspected and not readable:
            return Unavailable(
                f"commits of {path}:{release}", "neither the branch nor deployments readable"
            ), ()
        if not found and not suspected and candidates and isinstance(mr_commits, Unavailable):
            # a pick of one of the MR's commits without trailer is known by that commit's
            # title: with the commits unread, "not picked" cannot be established
            return mr_commits, ()
        return tuple(sorted(found.values(), key=lambda p: p.reached_release_at)), tuple(suspected)

    def _owned_picks(
        self,
        path: str,
        mr: MergeRequest,
        candidates: list[Commit],
        sources: list[str],
        found: dict[str, CherryPick],
        problems: list[Unavailable],
    ) -> None:
        """With the MR's commits unreadable, a trailer naming one of them is not recognised
        by its SHA: GitLab's MRs of the named commit say whether it is this MR's."""
        for c in candidates:
            named = picked_from(c.message)
            if c.id in found or not named or any(sha_in(x, sources) for x in named):
                continue
            for sha in named:
                owners = self.src.commit_merge_requests(path, sha)
                if isinstance(owners, Unavailable):
                    problems.append(owners)
                elif any(m.project == mr.project and m.iid == mr.iid for m in owners):
                    found[c.id] = CherryPick(c, "trailer", sha, c.committed_date or mr.updated_at)
                    break

    def _via_pick_mr(
        self,
        path: str,
        release: str,
        mr: MergeRequest,
        branch: str,
        sha: str,
        known: dict[str, Commit],
        found: dict[str, CherryPick],
        problems: list[Unavailable],
    ) -> None:
        """A pick made with "start a new merge request": it reached `release` when that MR
        merged, as its squash commit, or as the pick itself (fast-forward or merge commit)."""
        mrs = self.src.merge_requests(
            path, source_branch=branch, target_branch=release, state="all"
        )
        if isinstance(mrs, Unavailable):
            problems.append(mrs)
            return
        for pick_mr in mrs:
            if pick_mr.state != "merged" or not pick_mr.merged_at:
                continue
            on_release = self._commit(path, pick_mr.squash_commit_sha or sha, known)
            if isinstance(on_release, Unavailable):
                problems.append(on_release)
                continue
            found.setdefault(
                on_release.id,
                CherryPick(
                    on_release,
                    "cherry_pick_mr",
                    mr.merge_commit_sha or mr.squash_commit_sha,
                    pick_mr.merged_at,
                    via_mr=pick_mr,
                ),
            )

    def _same_patch(
        self,
        service: Service,
        mr: MergeRequest,
        own: tuple[Commit, ...],
        candidates: list[Commit],
        sources: list[str],
        found: dict[str, CherryPick],
    ) -> tuple[list[CherryPick], list[SuspectedPick]]:
        """Picks made outside GitLab keep a title (the MR's, one of its commits', or git's
        `Merge branch '…'` for `cherry-pick -m 1`) but no trailer: compare the patches."""
        whole = (
            mr.merge_commit_sha or mr.squash_commit_sha or (own[-1].id if len(own) == 1 else None)
        )
        references: dict[str, str | None] = {c.title: c.id for c in own}
        references[mr.title] = whole
        looks_alike: list[tuple[Commit, str | None]] = []
        for c in candidates:
            if c.id in found or picked_from(c.message) or len(c.parent_ids) > 1:
                continue
            if sha_in(c.id, sources):
                continue
            if c.title in references:
                looks_alike.append((c, references[c.title]))
            elif mr.merge_commit_sha and c.title.startswith(_merge_title(mr)):
                looks_alike.append((c, mr.merge_commit_sha))
        same: list[CherryPick] = []
        suspected: list[SuspectedPick] = []
        for c, reference in looks_alike:
            if reference is None:
                suspected.append(
                    SuspectedPick(
                        c, "same title; the MR has no single commit to compare patches with"
                    )
                )
                continue
            ref_diff = self.src.commit_diff(service.project, reference)
            diff = self.src.commit_diff(service.project, c.id)
            if isinstance(ref_diff, Unavailable) or isinstance(diff, Unavailable):
                suspected.append(SuspectedPick(c, "same title; the patches could not be read"))
            elif patch_fingerprint(diff) == patch_fingerprint(ref_diff):
                same.append(
                    CherryPick(c, "same_patch", reference, c.committed_date or mr.updated_at)
                )
            else:
                suspected.append(
                    SuspectedPick(
                        c, "same title as the MR but a different patch and no cherry-pick trailer"
                    )
                )
        return same, suspected

    # -- reverts --------------------------------------------------------------------------
    def _reverts(
        self,
        service: Service,
        mr: MergeRequest,
        picks: tuple[CherryPick, ...],
        own: tuple[Commit, ...],
        candidates: list[Commit],
    ) -> tuple[Revert, ...] | Unavailable:
        """Release commits that undo this hotfix: git's "This reverts commit X" naming a
        pick, the MR's merge or squash commit or one of its commits; or, for a revert made
        by hand, a `Revert "…"` commit whose patch is the inverse of a pick's. A revert by
        hand whose patch cannot be read leaves the reverts unknown: missing it would judge
        a hotfix as live that was taken back."""
        undoable = [p.commit.id for p in picks] + [c.id for c in own]
        undoable += [s for s in (mr.merge_commit_sha, mr.squash_commit_sha) if s]
        first = min(p.reached_release_at for p in picks)
        out: list[Revert] = []
        titles = {p.commit.title: p for p in picks} | {mr.title: picks[0]}
        for c in candidates:
            at = c.committed_date or first
            target = reverted(c.message)
            if target is not None:
                if sha_in(target, undoable):
                    out.append(Revert(c, target, at))
                continue
            pick = titles.get(reverted_title(c.title) or "")
            if pick is None or at < first or len(c.parent_ids) > 1:
                continue
            diff = self.src.commit_diff(service.project, c.id)
            pick_diff = self.src.commit_diff(service.project, pick.commit.id)
            if isinstance(diff, Unavailable):
                return Unavailable(f"whether {c.short_id} reverts the hotfix", diff.reason)
            if isinstance(pick_diff, Unavailable):
                return Unavailable(f"whether {c.short_id} reverts the hotfix", pick_diff.reason)
            if inverse_fingerprint(diff) == patch_fingerprint(pick_diff):
                out.append(Revert(c, None, at))
        return tuple(sorted(out, key=lambda r: r.at))

    # -- deployments ----------------------------------------------------------------------
    def _ranges(
        self, service: Service, deployments: tuple[Deployment, ...], previous: Deployment | None
    ) -> dict[int, tuple[Commit, ...] | Unavailable]:
        """What each deployment added since the last successful one before it."""
        based = bases(deployments, previous)
        return {
            d.id: self.src.compare(service.project, base.sha, d.sha)
            for d in deployments
            if (base := based[d.id]) is not None
        }

    def _ancestry(
        self,
        path: str,
        chain: tuple[Deployment, ...],
        previous: Deployment | None | Unavailable,
        wanted: Iterable[Deployment],
        tracked: Sequence[tuple[str, datetime]],
        ranges: dict[int, tuple[Commit, ...] | Unavailable],
    ) -> dict[tuple[str, str], bool | Unavailable]:
        """Whether each tracked commit (pick or revert) is in each wanted deployment, from
        the compares of the deployments' chain (`auditor.ancestry`), asking GitLab's merge
        base only where they cannot tell. A commit made well after a deployment started is
        left out (the lifecycle reads it as absent)."""
        return chain_ancestry(
            chain,
            None if isinstance(previous, Unavailable) else previous,
            ranges,
            tracked,
            wanted,
            lambda sha, deployed: self.src.is_ancestor(path, sha, deployed),
            CLOCK_SKEW,
        )

    def _jobs(
        self, path: str, deployments: Iterable[Deployment]
    ) -> tuple[dict[int, tuple[Job, ...] | Unavailable], dict[int, tuple[Job, ...] | Unavailable]]:
        """Jobs and trigger jobs of the pipelines that deployed, and the jobs of the child
        or downstream pipelines those triggered (where smoke suites often run)."""
        jobs: dict[int, tuple[Job, ...] | Unavailable] = {}
        bridges: dict[int, tuple[Job, ...] | Unavailable] = {}
        for d in deployments:
            if d.pipeline_id is None or d.pipeline_id in jobs:
                continue
            jobs[d.pipeline_id] = self.src.pipeline_jobs(path, d.pipeline_id, d.pipeline_updated_at)
            found = self.src.pipeline_bridges(path, d.pipeline_id, d.pipeline_updated_at)
            bridges[d.pipeline_id] = found
            for bridge in found if isinstance(found, tuple) else ():
                child = bridge.downstream_pipeline_id
                if child is not None and child not in jobs:
                    jobs[child] = self.src.pipeline_jobs(path, child)
        return jobs, bridges

    def _checks(self, ev: PromotionEvidence) -> PromotionEvidence:
        """`ev` with the jobs of the deployments its attempts rest on: the judged deployment
        moves on to a rerun only when its checks failed, so read until it settles."""
        while wanted := [
            d for d in _needing_checks(ev, lifecycle(ev)) if d.pipeline_id not in ev.pipeline_jobs
        ]:
            jobs, bridges = self._jobs(ev.service.project, wanted)
            ev = replace(
                ev,
                pipeline_jobs={**ev.pipeline_jobs, **jobs},
                pipeline_bridges={**ev.pipeline_bridges, **bridges},
            )
        return ev

    # -- orchestration --------------------------------------------------------------------
    def _orchestration(
        self, service: Service, since: datetime, until: datetime | None
    ) -> tuple[OrchestrationRun, ...] | Unavailable:
        """The orchestration pipelines touched after `since` (a job played after the pick
        touched its pipeline after it) and created before `until` (None: up to now), with
        their jobs and trigger jobs. A sweep lists the pipelines once from its horizon and
        bounds each promotion here; `auditor check` asks GitLab for the bounded list."""
        path = self.settings.orchestration_project
        if self.horizon is None:
            pipelines = self.src.pipelines(path, updated_after=since, created_before=until)
        else:
            pipelines = self.src.pipelines(path, updated_after=self._since(since))
        if isinstance(pipelines, Unavailable):
            return pipelines
        release, cut_off = release_job_pattern(service), cut_off_pattern(service)
        runs = []
        for p in pipelines:
            if (until is not None and p.created_at > until) or (
                p.updated_at is not None and p.updated_at < since
            ):
                continue
            jobs = self.src.pipeline_jobs(path, p.id, p.updated_at)
            bridges = self.src.pipeline_bridges(path, p.id, p.updated_at)
            for part in (jobs, bridges):
                if isinstance(part, Unavailable):
                    return part
            every: list[Job] = sorted([*jobs, *bridges], key=lambda j: j.id)  # type: ignore[misc]
            runs.append(
                OrchestrationRun(
                    pipeline=p,
                    release_jobs=tuple(j for j in every if release.match(j.name)),
                    cut_off_jobs=tuple(j for j in every if cut_off.match(j.name)),
                )
            )
        return tuple(runs)

    def _later_deployments(
        self, service: Service, since: datetime
    ) -> tuple[Deployment, ...] | Unavailable:
        """Deployments to the environments after staging (`later_environments`)."""
        path, patterns = service.project, service.policy.later_environments
        environments = self.src.environments(path)
        if isinstance(environments, Unavailable):
            return environments
        out: list[Deployment] = []
        for name in environments:
            if name == service.policy.staging_environment:
                continue
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            found = self.src.deployments(path, name, since)
            if isinstance(found, Unavailable):
                return found
            out += found
        return tuple(sorted(out, key=lambda d: d.id))

    # -- the whole promotion --------------------------------------------------------------
    def collect(self, service: Service, mr: MergeRequest) -> PromotionEvidence:
        src, path, policy = self.src, service.project, service.policy
        notes = src.notes(mr)
        mr_commits = src.mr_commits(mr)
        own = mr_commits if isinstance(mr_commits, tuple) else ()
        born = [t for c in own for t in (c.authored_date, c.committed_date) if t]
        since = self._since(min([mr.created_at, *born]) - LOOKBACK)

        release_commits = src.branch_commits(path, policy.release_branch, since)
        deployments = src.deployments(path, policy.staging_environment, since)
        previous: Deployment | None | Unavailable = None
        ranges: dict[int, tuple[Commit, ...] | Unavailable] = {}
        if not isinstance(deployments, Unavailable) and deployments:
            previous = src.last_successful_deployment(
                path, policy.staging_environment, deployments[0].created_at
            )
            ranges = self._ranges(
                service, deployments, None if isinstance(previous, Unavailable) else previous
            )
        candidates: list[Commit] = []
        seen: set[str] = set()
        for group in (release_commits, *ranges.values()):
            if isinstance(group, Unavailable):
                continue
            for c in group:
                if c.id not in seen:
                    seen.add(c.id)
                    candidates.append(c)
        readable = not isinstance(release_commits, Unavailable) or (
            not isinstance(deployments, Unavailable)
            and any(not isinstance(r, Unavailable) for r in ranges.values())
        )
        picks, suspected = self._picks(service, mr, notes, mr_commits, candidates, readable)

        ev = PromotionEvidence(
            service=service,
            mr=mr,
            approvals=src.approvals(mr),
            notes=notes,
            label_events=src.label_events(mr),
            picks=picks,
            suspected_picks=suspected,
            mr_commits=mr_commits,
            all_services=tuple(self.settings.services),
        )
        if isinstance(picks, Unavailable) or not picks:
            return ev  # nothing reached release: the flow rules have nothing to look at

        reverts = self._reverts(service, mr, picks, own, candidates)
        # a revert of one of those reverts puts the change back: a pick of its own, which
        # may be reverted again
        for _ in range(3):
            again = _reapplied(picks, reverts, candidates) if isinstance(reverts, tuple) else []
            if not again:
                break
            picks = tuple(sorted((*picks, *again), key=lambda p: p.reached_release_at))
            reverts = self._reverts(service, mr, picks, own, candidates)
        ev = replace(ev, picks=picks)
        if isinstance(release_commits, Unavailable):
            # deployments show what reached staging; what `release` holds beyond that (a
            # revert, a pick not yet deployed) is unknown
            reverts = release_commits
        first = min(p.reached_release_at for p in picks)
        tracked = [(p.commit.id, p.reached_release_at) for p in picks]
        tracked += [(r.commit.id, r.at) for r in reverts] if isinstance(reverts, tuple) else []
        ancestry: dict[tuple[str, str], bool | Unavailable] = {}
        if not isinstance(deployments, Unavailable):
            later = [d for d in deployments if d.created_at + CLOCK_SKEW >= first]
            ancestry = self._ancestry(path, deployments, previous, later, tracked, ranges)

        ev = replace(
            ev,
            reverts=reverts,
            deployments=deployments,
            previous_deployment=previous,
            ancestry=ancestry,
        )
        ev = self._checks(ev)
        # then the orchestration pipelines from the pick to the last moment a rule looks at
        # (the release jobs they hold may add deployments whose checks are read in turn)
        until = runs_until(ev, lifecycle(ev))
        ev = self._checks(
            replace(ev, orchestration_runs=self._orchestration(service, first, until))
        )
        life = lifecycle(ev)
        if life is not None and any(a.failures for a in life.attempts):
            later_deps = self._later_deployments(service, first)
            if isinstance(later_deps, tuple):
                ancestry = {**ancestry, **self._ancestry(path, (), None, later_deps, tracked, {})}
            ev = replace(ev, later_deployments=later_deps, ancestry=ancestry)
        return replace(ev, scope=self._scope(ev, life, ranges, previous))

    def _scope(
        self,
        ev: PromotionEvidence,
        life: Lifecycle | None,
        ranges: dict[int, tuple[Commit, ...] | Unavailable],
        previous: Deployment | None | Unavailable,
    ) -> ReleaseScope | Unavailable | None:
        d = life.last.deployment if life is not None else None
        if d is None or isinstance(ev.deployments, Unavailable):
            return None
        if isinstance(previous, Unavailable):
            return previous
        base = bases(ev.deployments, previous)[d.id]
        if base is None:
            return None
        added = ranges.get(d.id) or self.src.compare(ev.service.project, base.sha, d.sha)
        if isinstance(added, Unavailable):
            return added
        own = self._own(ev)
        origins = {
            c.id: origin
            for c in added
            if not sha_in(c.id, own) and (origin := next(iter(picked_from(c.message)), None))
        }
        merged = self._merged_by_sha(ev, [c for c in added if c.id in origins])
        by_id = {c.id: c for c in added}
        commits = []
        for c in added:
            origin = next(iter(picked_from(c.message)), None)
            source_mrs: tuple[MRRef, ...] | Unavailable | None = None
            if c.id in origins:
                source_mrs = self._owners(ev, origins[c.id], merged)
            undone = reverted(c.message)
            reverted_mrs: tuple[MRRef, ...] | Unavailable | None = None
            if undone is not None and not sha_in(undone, own):
                reverted_mrs = self._reverted_owners(ev, undone, by_id, merged)
            commits.append(ScopeCommit(c, origin, undone, source_mrs, reverted_mrs))
        return ReleaseScope(d.id, base.sha, d.sha, tuple(commits))

    @staticmethod
    def _own(ev: PromotionEvidence) -> list[str]:
        own = [p.commit.id for p in ev.picks] if isinstance(ev.picks, tuple) else []
        own += [s for s in (ev.mr.merge_commit_sha, ev.mr.squash_commit_sha) if s]
        own += [c.id for c in ev.mr_commits] if isinstance(ev.mr_commits, tuple) else []
        return own

    def _owners(
        self, ev: PromotionEvidence, sha: str, merged: dict[str, tuple[MRRef, ...]]
    ) -> tuple[MRRef, ...] | Unavailable:
        known = next((mrs for s, mrs in merged.items() if same_sha(s, sha)), None)
        return known or self.src.commit_merge_requests(ev.service.project, sha)

    def _reverted_owners(
        self,
        ev: PromotionEvidence,
        undone: str,
        added: dict[str, Commit],
        merged: dict[str, tuple[MRRef, ...]],
    ) -> tuple[MRRef, ...] | Unavailable:
        """The MRs that explain the commit a revert undoes: the source of a pick, or the
        MR the commit itself belongs to. A revert of something no MR explains is drift."""
        target = next((c for k, c in added.items() if same_sha(k, undone)), None)
        if target is None:
            fetched = self.src.commit(ev.service.project, undone)
            if isinstance(fetched, Unavailable):
                return fetched
            target = fetched
        origin = next(iter(picked_from(target.message)), None)
        return self._owners(ev, origin or target.id, merged)

    def _merged_by_sha(
        self, ev: PromotionEvidence, picked: list[Commit]
    ) -> dict[str, tuple[MRRef, ...]]:
        """Merged MRs by merge/squash SHA, from one list request when many picks need tracing.

        One `commits/:sha/merge_requests` per pick is cheapest for a few picks; a busy
        release line with dozens is traced from a page or two of recently merged MRs, and
        only the picks that list cannot explain are looked up one by one.
        """
        if len(picked) < BULK_TRACE_MIN:
            return {}
        oldest = min(c.committed_date or ev.mr.created_at for c in picked)
        mrs = self.src.merge_requests(
            ev.service.project,
            state="merged",
            target_branch=ev.mr.default_branch,
            updated_after=gitlab_time(oldest - BULK_TRACE_LOOKBACK),
        )
        by_sha: dict[str, list[MRRef]] = {}
        if not isinstance(mrs, Unavailable):
            for m in mrs:
                for sha in (m.merge_commit_sha, m.squash_commit_sha):
                    if sha:
                        by_sha.setdefault(sha, []).append(m)
        return {sha: tuple(found) for sha, found in by_sha.items()}


def _reapplied(
    picks: tuple[CherryPick, ...], reverts: tuple[Revert, ...], candidates: list[Commit]
) -> list[CherryPick]:
    """Release commits that revert one of the hotfix's reverts (`Revert "Revert …"`)."""
    known = {p.commit.id for p in picks}
    out = []
    for c in candidates:
        target = reverted(c.message)
        if c.id in known or target is None:
            continue
        undone = next((r for r in reverts if same_sha(r.commit.id, target)), None)
        if undone is None:
            continue
        # it restores what the revert took away: the pick's change, or the MR commit named
        origin = next(
            (
                p.picked_from
                for p in picks
                if undone.reverted_sha and same_sha(p.commit.id, undone.reverted_sha)
            ),
            undone.reverted_sha or picks[0].picked_from,
        )
        out.append(CherryPick(c, "reapplied", origin, c.committed_date or undone.at))
    return out


def _needing_checks(ev: PromotionEvidence, life: Lifecycle | None) -> list[Deployment]:
    """The staging deployments whose checks the rules read: in each attempt the successful
    ones up to the judged deployment, and the first redeploys after its revert."""
    if life is None or isinstance(ev.deployments, Unavailable):
        return []
    out: dict[int, Deployment] = {}
    for a in life.attempts:
        judged = a.deployment
        if judged is None:
            continue
        out[judged.id] = judged
        out.update({d.id: d for d in a.deployments if d.status == "success" and d.id < judged.id})
        if a.revert is not None:
            after = [
                d
                for d in sorted(ev.deployments, key=lambda d: d.id)
                if d.status == "success" and d.created_at >= a.revert.at
            ]
            out.update({d.id: d for d in after[:2]})
    return [d for d in sorted(out.values(), key=lambda d: d.id) if d.pipeline_id is not None]


def runs_until(ev: PromotionEvidence, life: Lifecycle | None) -> datetime | None:
    """The last moment an orchestration pipeline can matter to the rules, from the attempts
    as the deployments, notes and label show them; None (read up to now) where that rests on
    the pipelines themselves or on what has not happened yet.

    Each attempt is looked at until its validation window closed (SH07, `Attempt.closed_at`:
    its label or note, else its judged deployment's checks, else its revert) and its judged
    deployment finished (SH05, SH06: the release job that made it ran before it); a reverted
    attempt until staging was redeployed with the revert (SH14: the rerun that made that
    redeploy). An attempt no successful deployment carried is judged on what its release jobs
    made, and one whose window is still open may yet see a cut-off: both read every pipeline
    since the pick.
    """
    if life is None:
        return None
    ends: list[datetime] = []
    for a in life.attempts:
        if not a.carried or a.closed_at is None:
            return None
        ends += [a.closed_at, *([finished(a.deployment)] if a.deployment else [])]
        if a.revert is not None:
            redeploy = _redeployed(ev, a.revert)
            if redeploy is None:
                return None
            ends.append(finished(redeploy))
    return max(ends) + CLOCK_SKEW


def _redeployed(ev: PromotionEvidence, revert: Revert) -> Deployment | None:
    """The first successful staging deployment after the revert that holds it."""
    if isinstance(ev.deployments, Unavailable):
        return None
    return next(
        (
            d
            for d in sorted(ev.deployments, key=lambda d: d.id)
            if d.status == "success"
            and d.created_at >= revert.at
            and made_before(ev, revert.commit.id, revert.at, d)
        ),
        None,
    )
