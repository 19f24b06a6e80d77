"""SH04 release-scope-clean. Runbook, Procedure 3: "no unexpected extra commits were
introduced by the promotion"; Quick Guide: "confirm only the intended hotfix landed there".

GitLab's compare between the previous successful staging deployment and the one judged for
the last attempt: every added commit must be this hotfix, another pick of a merged MR, a
merge, or a revert of something itself traceable to a merged MR (a revert of a commit no MR
explains is drift like any other).
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    commit_link,
    deployment_link,
    failed,
    lifecycle_of,
    passed,
    stopped,
    unavailable,
    unknown,
)
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence, ScopeCommit, Unavailable
from auditor.lineage import sha_in

RULE_ID = "SH04"


def _traced(mrs: object) -> str:
    if mrs is None or isinstance(mrs, Unavailable):
        return "unknown"
    return "other" if any(m.state == "merged" for m in mrs) else "unexplained"  # type: ignore[attr-defined]


def _origin(sc: ScopeCommit, own: list[str]) -> str:
    """`hotfix`, `other`, `unknown` or `unexplained` for one added commit."""
    if sha_in(sc.commit.id, own):
        return "hotfix"
    if len(sc.commit.parent_ids) > 1:
        return "other"  # merges of cherry-pick MRs carry no change of their own
    if sc.reverts:
        return "hotfix" if sha_in(sc.reverts, own) else _traced(sc.reverted_mrs)
    if sc.picked_from:
        return _traced(sc.source_mrs)
    return "unexplained"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.deployments)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("no deployment to check the scope of")
    d = last.deployment
    if d is None:
        return unknown("no staging deployment of the hotfix to compare with the one before it")
    scope = ev.scope
    if scope is None:
        return unknown("no earlier successful staging deployment to compare with")
    if isinstance(scope, Unavailable):
        return unavailable(scope)
    if scope.deployment_id != d.id:
        return unknown(f"the commits added by deployment {d.iid} were not collected")
    own = [p.commit.id for a in life.attempts for p in a.picks]
    own += [s for s in (ev.mr.merge_commit_sha, ev.mr.squash_commit_sha) if s]
    if isinstance(ev.mr_commits, tuple):
        own += [c.id for c in ev.mr_commits]
    origins = [(sc, _origin(sc, own)) for sc in scope.commits]
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
    if not any(o == "hotfix" for _, o in origins):
        extra_text += " (the hotfix itself arrived in an earlier deployment)"
    return passed(
        f"deployment {d.iid} added {scope.base_sha[:8]}..{scope.head_sha[:8]}: the hotfix"
        f"{extra_text}",
        deployment_link(d),
    )
