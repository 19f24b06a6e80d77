"""Whether a commit is in a deployment, from the compares already read, asking GitLab only
where they cannot tell.

Every staging deployment's content was read once as a compare with the deployment before it
(`derive.bases`): GitLab's compare lists `git log base..head`, every commit reachable from
the deployed commit and not from its base. An authenticated compare lists them all (the
100-commit cap applies to anonymous callers only: gitlab-org/gitlab!268855); the rules
then need, for each pick and revert, which deployments hold it. With `added(D)` that list:

- a commit in `added(D)` is in D;
- a commit not in D's base and not in `added(D)` is not in D (what D holds beyond its base is
  exactly `added(D)`);
- a commit in D's base is in D when the base is an ancestor of D: that is shown by `added(D)`
  itself (one of its commits has the base as a parent, or D redeployed the base's commit).
  When it is not (a cut-off rebuilt `release`, a rollback deployed an older commit), the
  base's content says nothing about D's, and GitLab's merge base is asked.

The chain starts at the last successful deployment before those read (from before the MR
was opened); whether a commit is in it is asked of GitLab unless the commit was made well
after it started, the one place a commit's date is trusted. Only where a commit in a base
meets a broken link, or a compare could not be read, does a pair cost a request; with a
`release` branch that moves forward between cut-offs, none does.

Pure: GitLab is reached only through the `ask` callback the collector hands in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from auditor.derive import bases
from auditor.evidence import Commit, Deployment, Unavailable
from auditor.lineage import same_sha

Fact = bool | Unavailable
Ask = Callable[[str, str], Fact]  # (commit, deployed sha) -> whether it is an ancestor


def _extends(base: Deployment, d: Deployment, added: Sequence[Commit]) -> bool:
    """Whether `d`'s commit descends from `base`'s, as the compare between them shows."""
    if same_sha(base.sha, d.sha):
        return True
    return any(same_sha(parent, base.sha) for c in added for parent in c.parent_ids)


def chain_ancestry(
    deployments: Sequence[Deployment],
    previous: Deployment | None,
    ranges: Mapping[int, Sequence[Commit] | Unavailable],
    tracked: Iterable[tuple[str, datetime]],
    wanted: Iterable[Deployment],
    ask: Ask,
    skew: timedelta,
) -> dict[tuple[str, str], Fact]:
    """(commit, deployed sha) -> whether the commit is in that deployment, for every tracked
    commit (sha, when it was made) and every `wanted` deployment it may be in (a commit made
    more than `skew` after a deployment started is left out: the lifecycle reads it as
    absent). `deployments` are all that `ranges` (deployment id -> what it added) describe,
    `previous` the last successful one before them."""
    base_of = bases(deployments, previous)
    # by deployed commit: a redeploy of a commit (a rerun, a rollback) holds what it held
    memo: dict[tuple[str, str], Fact] = {}

    def asked(sha: str, d: Deployment) -> Fact:
        return True if same_sha(sha, d.sha) else ask(sha, d.sha)

    def settled(sha: str, when: datetime, d: Deployment) -> Fact | None:
        """The fact for `d` when it does not rest on its base's; None when it does."""
        if (sha, d.sha) in memo:
            return memo[(sha, d.sha)]
        added, base = ranges.get(d.id), base_of.get(d.id)
        if d.id not in base_of:  # the chain's start (`previous`), read from before the MR
            return False if when > d.created_at + skew else asked(sha, d)
        if isinstance(added, Unavailable) or added is None or base is None:
            return asked(sha, d)
        if any(same_sha(c.id, sha) for c in added):
            return True
        return None

    def holds(sha: str, when: datetime, d: Deployment) -> Fact:
        # back along the bases to a deployment whose fact stands alone, then forward again
        # (a loop, not recursion: an old pick may be followed by hundreds of deployments)
        path: list[Deployment] = []
        node = d
        while (fact := settled(sha, when, node)) is None:
            path.append(node)
            base = base_of[node.id]
            assert base is not None
            node = base
        memo[(sha, node.sha)] = fact
        for node in reversed(path):
            base = base_of[node.id]
            added = ranges[node.id]
            assert base is not None and not isinstance(added, Unavailable)
            # not in the base, not added: not in it; in the base: in it if it extends the
            # base; anything else is GitLab's to say
            if fact is not False and not (fact is True and _extends(base, node, added)):
                fact = asked(sha, node)
            memo[(sha, node.sha)] = fact
        return fact

    out: dict[tuple[str, str], Fact] = {}
    targets = list(wanted)
    for sha, when in tracked:
        for d in targets:
            if when > d.created_at + skew:
                continue
            out[(sha, d.sha)] = holds(sha, when, d)
    return out
