"""SH04 release-scope-clean: the deployment added nothing but traceable hotfixes."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    cannot_judge,
    commit_link,
    deployment_link,
    failed,
    passed,
    unavailable,
    unknown,
)
from auditor.derive import Clock, staging_deployment
from auditor.evidence import PromotionEvidence, ScopeCommit, Unavailable
from auditor.lineage import sha_in

RULE_ID = "SH04"


def _origin(sc: ScopeCommit, pick_ids: set[str]) -> str:
    """`hotfix`, `other`, `unknown` or `unexplained` for one added commit."""
    if sc.commit.id in pick_ids:
        return "hotfix"
    if len(sc.commit.parent_ids) > 1 or sc.reverts:
        return "other"  # merges of cherry-pick MRs and reverts carry no change of their own
    if sc.picked_from:
        if sc.source_mrs is None or isinstance(sc.source_mrs, Unavailable):
            return "unknown"
        if any(m.state == "merged" for m in sc.source_mrs):
            return "other"
    return "unexplained"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.deployments)) is not None:
        return stop
    d = staging_deployment(ev)
    if d is None:
        return unknown("no staging deployment of the hotfix to compare with the one before it")
    scope = ev.scope
    if scope is None:
        return unknown("no earlier successful staging deployment to compare with")
    if isinstance(scope, Unavailable):
        return unavailable(scope)
    if scope.deployment_id != d.id:
        return unknown(f"the commits added by deployment {d.iid} were not collected")
    pick_ids = {p.commit.id for p in ev.picks} if not isinstance(ev.picks, Unavailable) else set()
    origins = [(sc, _origin(sc, pick_ids)) for sc in scope.commits]
    extra = [sc for sc, o in origins if o == "unexplained"]
    if extra:
        titles = "; ".join(f"{sc.commit.short_id} {sc.commit.title}" for sc in extra[:5])
        return failed(
            f"deployment {d.iid} added {len(extra)} commit(s) not traceable to a merged "
            f"hotfix: {titles}",
            deployment_link(d),
            *(commit_link(sc.commit) for sc in extra),
        )
    unsure = [sc for sc, o in origins if o == "unknown"]
    if unsure:
        return unknown(
            f"could not trace {len(unsure)} added commit(s) to their MRs",
            *(commit_link(sc.commit) for sc in unsure),
        )
    others = sum(1 for _, o in origins if o == "other")
    extra_text = f" and {others} other traceable hotfix commit(s)" if others else ""
    if not any(sc.commit.id in pick_ids or sha_in(sc.commit.id, pick_ids) for sc in scope.commits):
        extra_text += " (the hotfix itself arrived in an earlier deployment)"
    return passed(
        f"deployment {d.iid} added {scope.base_sha[:8]}..{scope.head_sha[:8]}: the hotfix"
        f"{extra_text}",
        deployment_link(d),
    )
