"""A time window -> the promotions, reverts, cut-offs and drift that reached staging in it,
and the picks onto `release` that never reached it.

Nobody knows the list of hotfix MRs up front, and `release` is rebuilt by every cut-off, so
the branch cannot be the only source. The record that survives is GitLab's deployments: for
each staging deployment in the window, the commits it added since the previous successful
one (GitLab's compare) say exactly what reached staging. Each added commit is then
classified:

- a cherry-pick (trailer) of a commit of a merged MR: a hotfix promotion of that MR;
- a revert of such a pick: a revert, linked to the promotion it undoes;
- a merge commit: carries nothing of its own (a cherry-pick MR's merge, a cut-off merge);
- a commit of the default branch (the deployment followed a cut-off): cut-off context;
- a commit titled like a merged MR but without trailer: a candidate promotion, which the
  collector confirms by patch or reports as unknown;
- anything else: drift, a commit on release that no merged MR explains.

Then the `release` branch itself (the same read the collector makes): a commit picked onto
it in the window that no staging deployment carried is a promotion too (`how="release"`),
which the audit judges like any other (in progress inside the grace period, not compliant
after it). What cannot be read never silently shrinks the result: every failed read is a
`Gap` of the service (or of every service), and a commit whose merge request could not be
looked up is a gap, never drift and never a cached answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.config import Service, Settings
from auditor.derive import bases, cut_off_pattern, release_job_pattern
from auditor.evidence import Commit, Deployment, MRRef, Pipeline, Unavailable
from auditor.gaps import Gap
from auditor.gitlab.source import GitLabSource, GitLabUnusable, gitlab_time
from auditor.identity import MRId
from auditor.lineage import picked_from, reverted, same_sha
from auditor.release_line import CutOff, DeployedRevert, Drift

# MRs whose picks reach staging in the window were merged not long before it.
MR_LOOKBACK = timedelta(days=30)

# sorts a cut-off without a time (only ever read from an old store) first
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at <= self.end


@dataclass(frozen=True)
class PromotionRef:
    service: str
    project: str
    iid: int
    # when it first reached staging; for how == "release" (picked, never deployed in the
    # window) when it was picked onto `release`
    first_deployed_at: datetime
    how: str  # trailer | title | release

    @property
    def mr_id(self) -> MRId:
        return MRId(self.project, self.iid)


@dataclass
class Discovery:
    promotions: list[PromotionRef] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    reverts: list[DeployedRevert] = field(default_factory=list)
    cut_offs: list[CutOff] = field(default_factory=list)
    cut_off_commits: dict[str, int] = field(default_factory=dict)  # service -> commits
    idle_deployments: list[tuple[str, int]] = field(default_factory=list)  # (service, id)
    idle_release_jobs: list[tuple[str, int]] = field(default_factory=list)  # (service, job)
    gaps: list[Gap] = field(default_factory=list)  # what could not be read, once each
    # (service, project, iid) that rode along in a deployment of a service they do not touch
    not_affected: list[tuple[str, MRId]] = field(default_factory=list)
    # service -> the newest staging deployment in the window the run looked at (its id):
    # a sign-off on a later deployment knows the run never saw it
    staging_seen: dict[str, int] = field(default_factory=dict)

    def gap(self, service: str | None, what: str, reason: str) -> None:
        item = Gap(service, what, reason)
        if not any((g.service, g.what) == (service, what) for g in self.gaps):
            self.gaps.append(item)

    def unavailable(self, service: str | None, missing: Unavailable) -> None:
        self.gap(service, missing.what, missing.reason)

    def merge(self, other: Discovery) -> None:
        """Take in what another part of the discovery found (one service's)."""
        self.promotions += other.promotions
        self.drift += other.drift
        self.reverts += other.reverts
        self.cut_offs += other.cut_offs
        for service, count in other.cut_off_commits.items():
            self.cut_off_commits[service] = self.cut_off_commits.get(service, 0) + count
        self.idle_deployments += other.idle_deployments
        self.idle_release_jobs += other.idle_release_jobs
        for g in other.gaps:
            self.gap(g.service, g.what, g.reason)
        self.not_affected += other.not_affected
        self.staging_seen.update(other.staging_seen)

    def targets(self) -> list[tuple[str, MRId]]:
        """(service, MR) to audit, once each, in order of first deployment."""
        seen: dict[tuple[str, MRId], datetime] = {}
        for p in self.promotions:
            key = (p.service, p.mr_id)
            seen[key] = min(seen.get(key, p.first_deployed_at), p.first_deployed_at)
        return sorted(seen, key=lambda k: (seen[k], k))


def _deployed_at(d: Deployment) -> datetime:
    return d.finished_at or d.updated_at or d.created_at


def _failure(exc: Exception) -> str:
    """An unexpected error as a gap's reason: the sweep goes on, the gap names it."""
    if isinstance(exc, GitLabUnusable):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {str(exc)[:200]}"


class Discoverer:
    def __init__(
        self,
        src: GitLabSource,
        settings: Settings,
        window: Window,
        horizon: datetime,
        concurrency: int = 1,
    ) -> None:
        self.src = src
        self.settings = settings
        self.window = window
        self.horizon = min(horizon, window.start)
        self.concurrency = max(1, concurrency)
        self._cut_offs_unknown = False

    def discover(
        self, services: Sequence[Service], tick: Callable[[str], None] | None = None
    ) -> Discovery:
        found = Discovery()
        try:
            cut_offs = self._cut_offs(found)
        except Exception as exc:  # noqa: BLE001 - an odd answer is a gap, not the end
            found.gap(None, f"pipelines of {self.settings.orchestration_project}", _failure(exc))
            cut_offs = []
        # when the cut-offs could not all be read, any deployment may follow one: its
        # commits from the default branch are then told apart by the merge base, never
        # taken for picks (or drift) because a cut-off went unseen
        self._cut_offs_unknown = bool(found.gaps)

        def one(service: Service) -> Discovery:
            mine = Discovery()
            try:
                self._service(service, mine, cut_offs)
            except Exception as exc:  # noqa: BLE001 - one service's failure is its gap
                mine.gap(service.name, f"discovery of {service.name}", _failure(exc))
            if tick:
                tick(service.name)
            return mine

        # services side by side (each its own result, merged in configured order, so the
        # outcome does not depend on which answer came first)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="discover") as pool:
            for mine in pool.map(one, services):
                found.merge(mine)
        return found

    # -- orchestration --------------------------------------------------------------------
    def _active(self, pipelines: Sequence[Pipeline]) -> list[Pipeline]:
        """The pipelines that can hold a job played in the window: created before its end
        and touched after its start (playing a job touches its pipeline's `updated_at`)."""
        return [
            p
            for p in pipelines
            if p.created_at <= self.window.end
            and (p.updated_at is None or p.updated_at >= self.window.start)
        ]

    def _parallel(self, read: Callable[[Any], object], items: Sequence[Any]) -> None:
        """Ask GitLab for what the loops after it will ask, side by side: the source keeps
        each answer, so they (and the collector) find it read. The same requests are made at
        every concurrency, only not one after another."""
        if self.concurrency < 2 or len(items) < 2:
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="prefetch") as pool:
            list(pool.map(read, items))

    def _prefetch(self, path: str, pipelines: Sequence[Pipeline]) -> None:
        """The jobs and trigger jobs of `pipelines`, read side by side."""

        def read(p: Pipeline) -> None:
            self.src.pipeline_jobs(path, p.id, p.updated_at)
            self.src.pipeline_bridges(path, p.id, p.updated_at)

        self._parallel(read, pipelines)

    def _cut_offs(self, found: Discovery) -> list[CutOff]:
        path = self.settings.orchestration_project
        listed = self.src.pipelines(path, updated_after=self.horizon)
        if isinstance(listed, Unavailable):
            found.unavailable(None, listed)
            return []
        pipelines = self._active(listed)
        self._prefetch(path, pipelines)
        # matched like the release job (`00 cut-off` counts), for any service's template
        patterns = [cut_off_pattern(s) for s in self.settings.services.values()]
        for p in pipelines:
            jobs = self.src.pipeline_jobs(path, p.id, p.updated_at)
            if isinstance(jobs, Unavailable):
                found.unavailable(None, jobs)
                continue
            for j in jobs:
                when = j.started_at or j.created_at
                is_cut_off = any(pattern.match(j.name) for pattern in patterns)
                if is_cut_off and j.played and when and when in self.window:
                    found.cut_offs.append(CutOff(path, p.id, j.id, when, j.user))
        return sorted(found.cut_offs, key=lambda c: c.at or _EPOCH)

    def _release_jobs(self, service: Service, found: Discovery) -> list[tuple[int, int | None]]:
        """(job id, downstream pipeline id) of the service's release jobs played in the
        window (already read by `_cut_offs`'s pipeline list; bridges are read here)."""
        path = self.settings.orchestration_project
        pipelines = self.src.pipelines(path, updated_after=self.horizon)
        if isinstance(pipelines, Unavailable):
            found.unavailable(None, pipelines)
            return []
        pattern = release_job_pattern(service)
        out = []
        for p in self._active(pipelines):
            bridges = self.src.pipeline_bridges(path, p.id, p.updated_at)
            if isinstance(bridges, Unavailable):
                found.unavailable(None, bridges)
                continue
            for j in bridges:
                when = j.started_at or j.created_at
                if pattern.match(j.name) and j.played and when and when in self.window:
                    out.append((j.id, j.downstream_pipeline_id))
        return out

    # -- one service ----------------------------------------------------------------------
    def _service(self, service: Service, found: Discovery, cut_offs: list[CutOff]) -> None:
        src, path, env = self.src, service.project, service.policy.staging_environment
        # the same reads the collector makes (from the horizon), so each is asked once
        listed = src.deployments(path, env, updated_after=self.horizon)
        seen: set[str] = set()
        if isinstance(listed, Unavailable):
            found.unavailable(service.name, listed)
        else:
            self._deployments(service, listed, found, cut_offs, seen)
        # picks onto `release` that no deployment in the window carried (with deployments
        # unreadable: every pick in the window, so none is lost with them)
        self._release_picks(service, found, seen)

    def _deployments(
        self,
        service: Service,
        listed: tuple[Deployment, ...],
        found: Discovery,
        cut_offs: list[CutOff],
        seen: set[str],
    ) -> None:
        src, path, env = self.src, service.project, service.policy.staging_environment
        deployments = [d for d in listed if d.created_at in self.window]
        if not deployments:
            return
        found.staging_seen[service.name] = max(d.id for d in deployments)
        before = [d for d in listed if d.id < deployments[0].id and d.status == "success"]
        previous: Deployment | None | Unavailable = before[-1] if before else None
        if previous is None:
            previous = src.last_successful_deployment(path, env, listed[0].created_at)
        missing_base = (
            previous.reason
            if isinstance(previous, Unavailable)
            else "no earlier successful deployment to compare with"
        )
        carried: set[int] = set()
        unknown: set[int] = set()
        based = bases(deployments, None if isinstance(previous, Unavailable) else previous)
        pairs = [(base.sha, d.sha) for d in deployments if (base := based[d.id]) is not None]
        self._parallel(lambda pair: self.src.compare(path, *pair), pairs)
        for d in deployments:
            base = based[d.id]
            if base is None:
                found.gap(
                    service.name, f"what deployment {d.iid} to {env} of {path} added", missing_base
                )
                unknown.add(d.id)
                continue
            records = self._classified(service, base, d, cut_offs, found)
            if records is None:
                unknown.add(d.id)
                continue
            fresh = [r for r in records if r["id"] not in seen]
            seen.update(r["id"] for r in records)
            if self._apply(service, d, fresh, found):
                carried.add(d.id)
        for d in deployments:
            if d.id not in carried and d.id not in unknown and d.status == "success":
                found.idle_deployments.append((service.name, d.id))
        by_pipeline = {d.pipeline_id: d for d in deployments}
        for job_id, downstream in self._release_jobs(service, found):
            released = by_pipeline.get(downstream)
            if released is not None and released.id in unknown:
                continue
            if released is None or released.id not in carried:
                found.idle_release_jobs.append((service.name, job_id))

    def _classified(
        self,
        service: Service,
        base: Deployment,
        d: Deployment,
        cut_offs: list[CutOff],
        found: Discovery,
    ) -> list[dict[str, Any]] | None:
        """What `d` added since `base`, each commit with its kind; None when the compare
        could not be read (a gap). Remembered in the store only when every lookup behind it
        answered: the commits between two SHAs never change, and neither does a merged MR,
        so a later sweep reuses the answer (unless it had drift, which a later merge may
        explain, or an unresolved commit, which a later read may resolve)."""
        after_cut_off = self._cut_offs_unknown or any(
            c.at is not None and base.created_at <= c.at <= d.created_at for c in cut_offs
        )
        key = json.dumps(["classified", service.project, base.sha, d.sha, after_cut_off])
        cache = self.src.cache
        hit = cache.cache_entry(key) if cache else None
        if hit is not None and isinstance(hit[0], list):
            return list(hit[0])
        added = self.src.compare(service.project, base.sha, d.sha)
        if isinstance(added, Unavailable):
            env = service.policy.staging_environment
            found.gap(
                service.name,
                f"what deployment {d.iid} to {env} of {service.project} added ({added.what})",
                added.reason,
            )
            return None
        on_default = self._on_default_branch(service, base, d) if after_cut_off else set()
        if isinstance(on_default, Unavailable):
            # what came through a cut-off cannot be told from what was picked: no commit
            # of this deployment is taken for drift, and the doubt is reported
            found.gap(
                service.name,
                f"which commits deployment {d.iid} to {service.policy.staging_environment} "
                f"of {service.project} took from the default branch",
                f"{on_default.what}: {on_default.reason}",
            )
        records = [self._kind(service, c, on_default) for c in added]
        if (
            cache
            and not isinstance(on_default, Unavailable)
            and not any(r["kind"] in ("drift", "unresolved") or "reason" in r for r in records)
        ):
            cache.cache_put(key, records, None)
        return records

    def _merged_mrs(self, service: Service) -> tuple[MRRef, ...] | Unavailable:
        """MRs merged into the default branch recently: a commit without trailer that bears
        one's title is a candidate pick (the collector confirms it by patch)."""
        project = self.src.project(service.project)
        return self.src.merge_requests(
            service.project,
            state="merged",
            target_branch=project.get("default_branch") or "main",
            updated_after=gitlab_time(self.window.start - MR_LOOKBACK),
        )

    def _on_default_branch(
        self, service: Service, base: Deployment, d: Deployment
    ) -> set[str] | Unavailable:
        """The commits `d` added that came from the default branch through a cut-off:
        everything up to the merge base of the deployed commit and the default branch."""
        default = self.src.project(service.project).get("default_branch") or "main"
        point = self.src.merge_base(service.project, d.sha, default, stable=True)
        if isinstance(point, Unavailable):
            return point
        if point is None:
            return set()
        upto = self.src.compare(service.project, base.sha, point)
        return upto if isinstance(upto, Unavailable) else {c.id for c in upto}

    def _owner(self, service: Service, sha: str) -> MRRef | None | Unavailable:
        """The merged MR (into the default branch) that a picked commit belongs to: the one
        whose merge or squash commit it is, from the list of recently merged MRs read once
        per service; else one lookup per commit, answered from the store once known."""
        merged = self._merged_mrs(service)
        if not isinstance(merged, Unavailable):
            for m in merged:
                if any(
                    own and same_sha(own, sha) for own in (m.merge_commit_sha, m.squash_commit_sha)
                ):
                    return m
        mrs = self.src.commit_merge_requests(service.project, sha)
        if isinstance(mrs, Unavailable):
            return mrs
        default = self.src.project(service.project).get("default_branch") or "main"
        return next(
            (m for m in mrs if m.state == "merged" and m.target_branch == default), None
        ) or next((m for m in mrs if m.target_branch == default), None)

    def _kind(
        self, service: Service, c: Commit, on_default: set[str] | Unavailable
    ) -> dict[str, Any]:
        """One added commit -> {id, title, kind, iid?, how?, reverts?, reason?}. Kind
        `unresolved` (with the reason) when a lookup it rests on failed: then it is neither
        a promotion nor drift, and the sweep reports it as a gap."""
        record: dict[str, Any] = {"id": c.id, "title": c.title}
        if not isinstance(on_default, Unavailable) and c.id in on_default:
            return {**record, "kind": "cut_off"}
        if len(c.parent_ids) > 1:
            return {**record, "kind": "merge"}
        undone = reverted(c.message)
        if undone:
            return {**record, "kind": "revert", "reverts": undone}
        failed: list[Unavailable] = []
        origins = picked_from(c.message)
        for origin in origins:
            owner = self._owner(service, origin)
            if isinstance(owner, Unavailable):
                failed.append(owner)
            elif owner is not None:
                return {**record, "kind": "promotion", "iid": owner.iid, "how": "trailer"}
        if not origins or failed:
            merged = self._merged_mrs(service)
            if isinstance(merged, Unavailable):
                failed.append(merged)
            else:
                titled = next((m for m in merged if m.title == c.title), None)
                if titled is not None:
                    promotion = {**record, "kind": "promotion", "iid": titled.iid, "how": "title"}
                    if failed:
                        # found by title while the trailer's owner could not be looked up:
                        # audited, and the lookup is still reported (and never cached)
                        promotion["reason"] = f"{failed[0].what}: {failed[0].reason}"
                    return promotion
        if isinstance(on_default, Unavailable):
            failed.append(on_default)
        if failed:
            return {
                **record,
                "kind": "unresolved",
                "reason": f"{failed[0].what}: {failed[0].reason}",
            }
        return {**record, "kind": "drift"}

    def _apply(
        self, service: Service, d: Deployment, records: list[dict[str, Any]], found: Discovery
    ) -> bool:
        """Record what deployment `d` added; True when it carried a promotion, a revert,
        a cut-off or a commit that could not be classified."""
        at = _deployed_at(d)
        carried = False
        for r in records:
            kind = r["kind"]
            if kind == "cut_off":
                count = found.cut_off_commits.get(service.name, 0)
                found.cut_off_commits[service.name] = count + 1
            elif kind == "revert":
                revert = DeployedRevert(service.project, service.name, r["id"], r["reverts"], at)
                # once, where it first reached staging (a redeploy may add it again), as
                # the store keeps it
                if not any(x.sha == revert.sha for x in found.reverts):
                    found.reverts.append(revert)
            elif kind == "promotion":
                found.promotions.append(
                    PromotionRef(service.name, service.project, r["iid"], at, r["how"])
                )
            elif kind == "drift" and not any(x.sha == r["id"] for x in found.drift):
                found.drift.append(Drift(service.project, service.name, r["id"], r["title"], at))
            if r.get("reason"):
                found.gap(
                    service.name,
                    f"which merged MR commit {r['id'][:8]} ({r['title']!r}, deployed in "
                    f"deployment {d.iid}) belongs to",
                    r["reason"],
                )
            carried = carried or kind in ("cut_off", "revert", "promotion", "unresolved")
        return carried

    # -- picks that never reached staging ---------------------------------------------------
    def _release_picks(self, service: Service, found: Discovery, deployed: set[str]) -> None:
        """Commits picked onto `release` in the window that no deployment in the window
        added: promotions (`how="release"`, at the pick's time) the audit judges like any
        other. The branch read is the collector's own (same ref, same `since`), so it is
        asked once; commits that came to `release` from the default branch (a cut-off) are
        left out by the merge base of the two branches."""
        src, path, release = self.src, service.project, service.policy.release_branch
        commits = src.branch_commits(path, release, self.horizon)
        if isinstance(commits, Unavailable):
            found.unavailable(service.name, commits)
            return
        picked_in_window = [
            c
            for c in commits
            if c.id not in deployed
            and len(c.parent_ids) <= 1
            and not reverted(c.message)
            and (at := c.committed_date or c.authored_date) is not None
            and at in self.window
        ]
        if not picked_in_window:
            return
        default = src.project(path).get("default_branch") or "main"
        point = src.merge_base(path, release, default)
        if isinstance(point, Unavailable):
            found.gap(
                service.name,
                f"which commits on {release} of {path} are picks (not from {default})",
                f"{point.what}: {point.reason}",
            )
            return
        from_default = _ancestors(point, commits)
        known = {(p.service, p.iid) for p in found.promotions}
        for c in picked_in_window:
            if c.id in from_default:
                continue
            record = self._kind(service, c, set())
            at = c.committed_date or c.authored_date
            assert at is not None
            if record.get("reason"):
                found.gap(
                    service.name,
                    f"which merged MR commit {c.id[:8]} ({c.title!r}, on {release}, not "
                    "deployed) belongs to",
                    record["reason"],
                )
            if record["kind"] == "promotion" and (service.name, record["iid"]) not in known:
                known.add((service.name, record["iid"]))
                found.promotions.append(
                    PromotionRef(service.name, path, record["iid"], at, "release")
                )


def _ancestors(point: str | None, commits: Sequence[Commit]) -> set[str]:
    """The listed commits that `point` reaches through their parents (itself included)."""
    by_id = {c.id: c for c in commits}
    out: set[str] = set()
    stack = [point] if point else []
    while stack:
        sha = stack.pop()
        if sha in out or sha not in by_id:
            continue
        out.add(sha)
        stack.extend(by_id[sha].parent_ids)
    return out
