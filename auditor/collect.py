"""MR + service -> PromotionEvidence: gathers exactly what the rules read, each fact once.

`release` is rebuilt by every cut-off, so the branch alone cannot be trusted to still hold
a pick a week later. Deployments, the commits each one added (compare with the previous
successful deployment), system notes and cherry-pick MRs keep the record; the collector
reads all of them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from auditor.config import Service, Settings
from auditor.derive import bases, first_pick, staging_deployment
from auditor.evidence import (
    CherryPick,
    Commit,
    Deployment,
    Job,
    MergeRequest,
    MRRef,
    Note,
    OrchestrationRun,
    PromotionEvidence,
    ReleaseScope,
    Revert,
    ScopeCommit,
    SuspectedPick,
    Unavailable,
)
from auditor.gitlab.source import GitLabSource, gitlab_time
from auditor.lineage import (
    patch_fingerprint,
    pick_note,
    picked_from,
    reverted,
    same_sha,
    sha_in,
)

# Picks are looked for from a little before the MR was created: a commit's committer date
# is when it was picked, and nobody picks a change before proposing it.
LOOKBACK = timedelta(hours=1)
# Tracing other hotfixes in a deployment: from this many picks on, list merged MRs once.
BULK_TRACE_MIN = 4
BULK_TRACE_LOOKBACK = timedelta(days=30)


def release_job_pattern(service: Service) -> re.Pattern[str]:
    """`release vemo-core`, with the optional ordinal prefix `01 release vemo-core`."""
    return re.compile(rf"^(\d+\s+)?{re.escape(service.release_job_name)}$")


class Collector:
    """Collects promotions' evidence. A sweep sets `horizon` (a time before its window) so
    that every promotion of a service shares one read of the branch, the deployments and
    the orchestration pipelines instead of one per MR."""

    def __init__(
        self, src: GitLabSource, settings: Settings, horizon: datetime | None = None
    ) -> None:
        self.src = src
        self.settings = settings
        self.horizon = horizon

    def _since(self, at: datetime) -> datetime:
        return at if self.horizon is None else min(self.horizon, at)

    # -- picks ----------------------------------------------------------------------------
    def _picks(
        self,
        service: Service,
        mr: MergeRequest,
        notes: tuple[Note, ...] | Unavailable,
        mr_commits: tuple[Commit, ...] | Unavailable,
        candidates: list[Commit],
        readable: bool,
    ) -> tuple[tuple[CherryPick, ...] | Unavailable, tuple[SuspectedPick, ...]]:
        path, release = service.project, service.policy.release_branch
        sources = [s for s in (mr.merge_commit_sha, mr.squash_commit_sha) if s]
        if not isinstance(mr_commits, Unavailable):
            sources += [c.id for c in mr_commits]
        found: dict[str, CherryPick] = {}
        problems: list[Unavailable] = []

        if not isinstance(notes, Unavailable):
            for note in notes:
                parsed = pick_note(note.body) if note.system else None
                if parsed is None:
                    continue
                branch, sha = parsed
                commit = self.src.commit(path, sha)
                if isinstance(commit, Unavailable):
                    problems.append(commit)
                    continue
                if branch == release:
                    found.setdefault(
                        commit.id,
                        CherryPick(commit, "system_note", mr.merge_commit_sha, note.created_at),
                    )
                elif branch.startswith("cherry-pick-"):
                    mrs = self.src.merge_requests(
                        path, source_branch=branch, target_branch=release, state="all"
                    )
                    if isinstance(mrs, Unavailable):
                        problems.append(mrs)
                        continue
                    for pick_mr in mrs:
                        if pick_mr.state == "merged" and pick_mr.merged_at:
                            found.setdefault(
                                commit.id,
                                CherryPick(
                                    commit,
                                    "cherry_pick_mr",
                                    mr.merge_commit_sha,
                                    pick_mr.merged_at,
                                    via_mr=pick_mr,
                                ),
                            )
        for c in candidates:
            named = [x for x in picked_from(c.message) if sha_in(x, sources)]
            if named and c.id not in found:
                found[c.id] = CherryPick(c, "trailer", named[0], c.committed_date or mr.updated_at)

        suspected: list[SuspectedPick] = []
        if not found:
            same, suspected = self._same_patch(service, mr, mr_commits, candidates, sources)
            for c in same:
                found[c.id] = CherryPick(c, "same_patch", None, c.committed_date or mr.updated_at)
        if not found and not suspected and (problems or not readable):
            return (
                problems[0]
                if problems
                else Unavailable(
                    f"commits of {path}:{release}", "neither the branch nor deployments readable"
                )
            ), ()
        return tuple(sorted(found.values(), key=lambda p: p.reached_release_at)), tuple(suspected)

    def _same_patch(
        self,
        service: Service,
        mr: MergeRequest,
        mr_commits: tuple[Commit, ...] | Unavailable,
        candidates: list[Commit],
        sources: list[str],
    ) -> tuple[list[Commit], list[SuspectedPick]]:
        """Picks made outside GitLab keep the title but no trailer: compare the patches."""
        titles = {mr.title}
        if not isinstance(mr_commits, Unavailable):
            titles |= {c.title for c in mr_commits}
        looks_alike = [
            c
            for c in candidates
            if c.title in titles
            and not picked_from(c.message)
            and len(c.parent_ids) <= 1
            and not sha_in(c.id, sources)
        ]
        reference = (
            mr.merge_commit_sha
            or mr.squash_commit_sha
            or (
                mr_commits[-1].id
                if not isinstance(mr_commits, Unavailable) and len(mr_commits) == 1
                else None
            )
        )
        if not looks_alike:
            return [], []
        if reference is None:
            return [], [
                SuspectedPick(c, "same title; the MR has no single commit to compare patches with")
                for c in looks_alike
            ]
        ref_diff = self.src.commit_diff(service.project, reference)
        same: list[Commit] = []
        suspected: list[SuspectedPick] = []
        for c in looks_alike:
            diff = self.src.commit_diff(service.project, c.id)
            if isinstance(ref_diff, Unavailable) or isinstance(diff, Unavailable):
                suspected.append(SuspectedPick(c, "same title; the patches could not be read"))
            elif patch_fingerprint(diff) == patch_fingerprint(ref_diff):
                same.append(c)
            else:
                suspected.append(
                    SuspectedPick(
                        c, "same title as the MR but a different patch and no cherry-pick trailer"
                    )
                )
        return same, suspected

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

    # -- orchestration --------------------------------------------------------------------
    def _orchestration(
        self, service: Service, since: datetime
    ) -> tuple[OrchestrationRun, ...] | Unavailable:
        path = self.settings.orchestration_project
        pipelines = self.src.pipelines(path, updated_after=since)
        if isinstance(pipelines, Unavailable):
            return pipelines
        pattern = release_job_pattern(service)
        runs = []
        for p in pipelines:
            jobs = self.src.pipeline_jobs(path, p.id, p.updated_at)
            bridges = self.src.pipeline_bridges(path, p.id, p.updated_at)
            for part in (jobs, bridges):
                if isinstance(part, Unavailable):
                    return part
            every: list[Job] = sorted([*jobs, *bridges], key=lambda j: j.id)  # type: ignore[misc]
            runs.append(
                OrchestrationRun(
                    pipeline=p,
                    release_jobs=tuple(j for j in every if pattern.match(j.name)),
                    cut_off_jobs=tuple(j for j in every if j.name == service.policy.cut_off_job),
                )
            )
        return tuple(runs)

    # -- the whole promotion --------------------------------------------------------------
    def collect(self, service: Service, mr: MergeRequest) -> PromotionEvidence:
        src, path, policy = self.src, service.project, service.policy
        notes = src.notes(mr)
        mr_commits = src.mr_commits(mr)
        since = self._since(mr.created_at - LOOKBACK)

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
        )
        pick = first_pick(ev)
        if pick is None:
            return ev  # nothing reached release: the flow rules have nothing to look at

        pick_ids = [p.commit.id for p in picks]  # type: ignore[union-attr]
        reverts: tuple[Revert, ...] | Unavailable = tuple(
            Revert(c, r, c.committed_date or pick.reached_release_at)
            for c in candidates
            if (r := reverted(c.message)) and sha_in(r, pick_ids)
        )
        if not reverts and isinstance(release_commits, Unavailable):
            reverts = release_commits

        ancestry: dict[tuple[str, str], bool | Unavailable] = {}
        pipeline_jobs: dict[int, tuple[Job, ...] | Unavailable] = {}
        if not isinstance(deployments, Unavailable):
            later = [d for d in deployments if d.created_at >= pick.reached_release_at]
            tracked = [(p.commit.id, p.reached_release_at) for p in picks]  # type: ignore[union-attr]
            if not isinstance(reverts, Unavailable):
                tracked += [(r.commit.id, r.at) for r in reverts]
            for d in later:
                added = ranges.get(d.id)
                added_ids = {c.id for c in added} if isinstance(added, tuple) else set()
                for sha, when in tracked:
                    if d.created_at < when:
                        continue
                    ancestry[(sha, d.sha)] = (
                        True if sha in added_ids else src.is_ancestor(path, sha, d.sha)
                    )
                if d.pipeline_id is not None:
                    pipeline_jobs[d.pipeline_id] = src.pipeline_jobs(
                        path, d.pipeline_id, d.pipeline_updated_at
                    )

        ev = replace(
            ev,
            reverts=reverts,
            orchestration_runs=self._orchestration(service, self._since(pick.reached_release_at)),
            deployments=deployments,
            previous_deployment=previous,
            pipeline_jobs=pipeline_jobs,
            ancestry=ancestry,
        )
        return replace(ev, scope=self._scope(ev, ranges, previous))

    def _scope(
        self,
        ev: PromotionEvidence,
        ranges: dict[int, tuple[Commit, ...] | Unavailable],
        previous: Deployment | None | Unavailable,
    ) -> ReleaseScope | Unavailable | None:
        d = staging_deployment(ev)
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
        pick_ids = {p.commit.id for p in ev.picks} if isinstance(ev.picks, tuple) else set()
        origins = {
            c.id: origin
            for c in added
            if c.id not in pick_ids and (origin := next(iter(picked_from(c.message)), None))
        }
        merged = self._merged_by_sha(ev, [c for c in added if c.id in origins])
        commits = []
        for c in added:
            origin = next(iter(picked_from(c.message)), None)
            source_mrs: tuple[MRRef, ...] | Unavailable | None = None
            if c.id in origins:
                known = next(
                    (mrs for sha, mrs in merged.items() if same_sha(sha, origins[c.id])), None
                )
                source_mrs = known or self.src.commit_merge_requests(
                    ev.service.project, origins[c.id]
                )
            commits.append(ScopeCommit(c, origin, reverted(c.message), source_mrs))
        return ReleaseScope(d.id, base.sha, d.sha, tuple(commits))

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
