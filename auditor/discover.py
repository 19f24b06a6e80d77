"""A time window -> the promotions, reverts, cut-offs and drift that reached staging in it.

Nobody knows the list of hotfix MRs up front, and `release` is rebuilt by every cut-off, so
the branch cannot be the source. The record that survives is GitLab's deployments: for each
staging deployment in the window, the commits it added since the previous successful one
(GitLab's compare) say exactly what reached staging. Each added commit is then classified:

- a cherry-pick (trailer) of a commit of a merged MR: a hotfix promotion of that MR;
- a revert of such a pick: a revert, linked to the promotion it undoes;
- a merge commit: carries nothing of its own (a cherry-pick MR's merge, a cut-off merge);
- a commit of the default branch (the deployment followed a cut-off): cut-off context;
- a commit titled like a merged MR but without trailer: a candidate promotion, which the
  collector confirms by patch or reports as unknown;
- anything else: drift, a commit on release that no merged MR explains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from auditor.collect import release_job_pattern
from auditor.config import Service, Settings
from auditor.derive import bases
from auditor.evidence import Commit, Deployment, MRRef, Unavailable
from auditor.gitlab.source import GitLabSource, gitlab_time
from auditor.lineage import picked_from, reverted

# MRs whose picks reach staging in the window were merged not long before it.
MR_LOOKBACK = timedelta(days=30)


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
    first_deployed_at: datetime
    how: str  # trailer | title


@dataclass(frozen=True)
class DriftCommit:
    project: str
    service: str
    sha: str
    title: str
    deployed_at: datetime


@dataclass(frozen=True)
class RevertRef:
    project: str
    service: str
    sha: str
    reverts: str
    deployed_at: datetime


@dataclass(frozen=True)
class CutOff:
    project: str
    pipeline_id: int
    job_id: int
    at: datetime
    by: str | None


@dataclass
class Discovery:
    promotions: list[PromotionRef] = field(default_factory=list)
    drift: list[DriftCommit] = field(default_factory=list)
    reverts: list[RevertRef] = field(default_factory=list)
    cut_offs: list[CutOff] = field(default_factory=list)
    cut_off_commits: dict[str, int] = field(default_factory=dict)  # service -> commits
    idle_deployments: list[tuple[str, int]] = field(default_factory=list)  # (service, id)
    idle_release_jobs: list[tuple[str, int]] = field(default_factory=list)  # (service, job)
    gaps: list[Unavailable] = field(default_factory=list)  # what could not be read
    # (service, project, iid) that rode along in a deployment of a service they do not touch
    not_affected: list[tuple[str, str, int]] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, int]]:
        """(service, project, iid) to audit, once each, in order of first deployment."""
        seen: dict[tuple[str, str, int], datetime] = {}
        for p in self.promotions:
            key = (p.service, p.project, p.iid)
            seen[key] = min(seen.get(key, p.first_deployed_at), p.first_deployed_at)
        return sorted(seen, key=lambda k: (seen[k], k))


def _deployed_at(d: Deployment) -> datetime:
    return d.finished_at or d.updated_at or d.created_at


class Discoverer:
    def __init__(
        self, src: GitLabSource, settings: Settings, window: Window, horizon: datetime
    ) -> None:
        self.src = src
        self.settings = settings
        self.window = window
        self.horizon = min(horizon, window.start)

    def discover(
        self, services: Sequence[Service], tick: Callable[[str], None] | None = None
    ) -> Discovery:
        found = Discovery()
        cut_offs = self._cut_offs(found)
        for service in services:
            self._service(service, found, cut_offs)
            if tick:
                tick(service.name)
        return found

    # -- orchestration --------------------------------------------------------------------
    def _cut_offs(self, found: Discovery) -> list[CutOff]:
        path = self.settings.orchestration_project
        pipelines = self.src.pipelines(path, updated_after=self.horizon)
        if isinstance(pipelines, Unavailable):
            found.gaps.append(pipelines)
            return []
        names = {s.policy.cut_off_job for s in self.settings.services.values()}
        for p in pipelines:
            jobs = self.src.pipeline_jobs(path, p.id, p.updated_at)
            if isinstance(jobs, Unavailable):
                found.gaps.append(jobs)
                continue
            for j in jobs:
                when = j.started_at or j.created_at
                if j.name in names and j.played and when and when in self.window:
                    found.cut_offs.append(CutOff(path, p.id, j.id, when, j.user))
        return sorted(found.cut_offs, key=lambda c: c.at)

    def _release_jobs(self, service: Service) -> list[tuple[int, int | None]]:
        """(job id, downstream pipeline id) of the service's release jobs played in the
        window (already read by `_cut_offs`'s pipeline list; bridges are read here)."""
        path = self.settings.orchestration_project
        pipelines = self.src.pipelines(path, updated_after=self.horizon)
        if isinstance(pipelines, Unavailable):
            return []
        pattern = release_job_pattern(service)
        out = []
        for p in pipelines:
            bridges = self.src.pipeline_bridges(path, p.id, p.updated_at)
            if isinstance(bridges, Unavailable):
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
        if isinstance(listed, Unavailable):
            found.gaps.append(listed)
            return
        deployments = [d for d in listed if d.created_at in self.window]
        if not deployments:
            return
        before = [d for d in listed if d.id < deployments[0].id and d.status == "success"]
        previous: Deployment | None | Unavailable = before[-1] if before else None
        if previous is None:
            previous = src.last_successful_deployment(path, env, listed[0].created_at)
        if isinstance(previous, Unavailable):
            found.gaps.append(previous)
            return
        seen: set[str] = set()
        carried: set[int] = set()
        based = bases(deployments, previous)
        for d in deployments:
            base = based[d.id]
            if base is None:
                found.gaps.append(
                    Unavailable(
                        f"what deployment {d.iid} to {env} of {path} added",
                        "no earlier successful deployment to compare with",
                    )
                )
            else:
                records = self._classified(service, base, d, cut_offs, found)
                fresh = [r for r in records if r["id"] not in seen]
                seen.update(r["id"] for r in fresh)
                if self._apply(service, d, fresh, found):
                    carried.add(d.id)
        for d in deployments:
            if d.id not in carried and d.status == "success":
                found.idle_deployments.append((service.name, d.id))
        by_pipeline = {d.pipeline_id: d for d in deployments}
        for job_id, downstream in self._release_jobs(service):
            d = by_pipeline.get(downstream)
            if d is None or d.id not in carried:
                found.idle_release_jobs.append((service.name, job_id))

    def _classified(
        self,
        service: Service,
        base: Deployment,
        d: Deployment,
        cut_offs: list[CutOff],
        found: Discovery,
    ) -> list[dict[str, Any]]:
        """What `d` added since `base`, each commit with its kind. Remembered in the store:
        the commits between two SHAs never change, and neither does a merged MR, so a
        later sweep reuses the answer (unless it had drift, which a later merge may explain).
        """
        after_cut_off = any(base.created_at <= c.at <= d.created_at for c in cut_offs)
        key = json.dumps(["classified", service.project, base.sha, d.sha, after_cut_off])
        cache = self.src.cache
        hit = cache.cache_get(key) if cache else None
        if hit is not None:
            return list(hit[0])  # type: ignore[call-overload]
        added = self.src.compare(service.project, base.sha, d.sha)
        if isinstance(added, Unavailable):
            found.gaps.append(added)
            return []
        on_default = self._on_default_branch(service, base, d) if after_cut_off else set()
        records = [self._kind(service, c, on_default) for c in added]
        if cache and not any(r["kind"] == "drift" for r in records):
            cache.cache_put(key, records, None)
        return records

    def _merged_mrs(self, service: Service) -> tuple[MRRef, ...]:
        """MRs merged into the default branch recently: a commit without trailer that bears
        one's title is a candidate pick (the collector confirms it by patch)."""
        project = self.src.project(service.project)
        mrs = self.src.merge_requests(
            service.project,
            state="merged",
            target_branch=project.get("default_branch") or "main",
            updated_after=gitlab_time(self.window.start - MR_LOOKBACK),
        )
        return () if isinstance(mrs, Unavailable) else mrs

    def _on_default_branch(self, service: Service, base: Deployment, d: Deployment) -> set[str]:
        """The commits `d` added that came from the default branch through a cut-off:
        everything up to the merge base of the deployed commit and the default branch."""
        default = self.src.project(service.project).get("default_branch") or "main"
        point = self.src.merge_base(service.project, d.sha, default, stable=True)
        if not isinstance(point, str):
            return set()
        upto = self.src.compare(service.project, base.sha, point)
        return set() if isinstance(upto, Unavailable) else {c.id for c in upto}

    def _owner(self, service: Service, sha: str) -> MRRef | None:
        """The merged MR (into the default branch) that a picked commit belongs to: one
        lookup per commit, answered from the store once known."""
        mrs = self.src.commit_merge_requests(service.project, sha)
        if isinstance(mrs, Unavailable):
            return None
        default = self.src.project(service.project).get("default_branch") or "main"
        return next(
            (m for m in mrs if m.state == "merged" and m.target_branch == default), None
        ) or next((m for m in mrs if m.target_branch == default), None)

    def _kind(self, service: Service, c: Commit, on_default: set[str]) -> dict[str, Any]:
        """One added commit -> {id, title, kind, iid?, how?, reverts?}."""
        record: dict[str, Any] = {"id": c.id, "title": c.title}
        if c.id in on_default:
            return {**record, "kind": "cut_off"}
        if len(c.parent_ids) > 1:
            return {**record, "kind": "merge"}
        undone = reverted(c.message)
        if undone:
            return {**record, "kind": "revert", "reverts": undone}
        origins = picked_from(c.message)
        for origin in origins:
            owner = self._owner(service, origin)
            if owner is not None:
                return {**record, "kind": "promotion", "iid": owner.iid, "how": "trailer"}
        if not origins:
            titled = next((m for m in self._merged_mrs(service) if m.title == c.title), None)
            if titled is not None:
                return {**record, "kind": "promotion", "iid": titled.iid, "how": "title"}
        return {**record, "kind": "drift"}

    def _apply(
        self, service: Service, d: Deployment, records: list[dict[str, Any]], found: Discovery
    ) -> bool:
        """Record what deployment `d` added; True when it carried a promotion, a revert or
        a cut-off."""
        at = _deployed_at(d)
        carried = False
        for r in records:
            kind = r["kind"]
            if kind == "cut_off":
                count = found.cut_off_commits.get(service.name, 0)
                found.cut_off_commits[service.name] = count + 1
            elif kind == "revert":
                found.reverts.append(
                    RevertRef(service.project, service.name, r["id"], r["reverts"], at)
                )
            elif kind == "promotion":
                found.promotions.append(
                    PromotionRef(service.name, service.project, r["iid"], at, r["how"])
                )
            elif kind == "drift":
                found.drift.append(
                    DriftCommit(service.project, service.name, r["id"], r["title"], at)
                )
            carried = carried or kind in ("cut_off", "revert", "promotion")
        return carried
