"""Reading a commit's ancestry from its text: cherry-pick trailers, reverts, system notes,
and whether two diffs carry the same patch. Pure functions over strings.

GitLab writes `(cherry-picked from commit X)`; older GitLab and `git cherry-pick -x` write
`(cherry picked from commit X)`. A UI cherry-pick of a merge commit adds the system note
"picked the changes into the branch [`B`](path) with commit Y" to the MR; picks of squash
commits, fast-forward merges and anything done outside GitLab's UI add none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_TRAILER = re.compile(r"\(cherry[- ]picked from commit ([0-9a-f]{7,40})\)")
_REVERT = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
_PICK_NOTE = re.compile(
    r"picked the changes into the branch \[`(?P<branch>[^`]+)`\]\([^)]*\) "
    r"with commit (?P<sha>[0-9a-f]{7,40})"
)
_HUNK_HEADER = re.compile(r"^@@ [^@]* @@", re.MULTILINE)
_REVERT_TITLE = re.compile(r'^Revert "(?P<title>.+)"$')


def picked_from(message: str) -> list[str]:
    """Every SHA named by a cherry-pick trailer, in order."""
    return _TRAILER.findall(message)


def reverted(message: str) -> str | None:
    m = _REVERT.search(message)
    return m.group(1) if m else None


def reverted_title(title: str) -> str | None:
    """`Revert "Fix X"` -> `Fix X`: the title git and GitLab give a revert."""
    m = _REVERT_TITLE.match(title.strip())
    return m.group("title") if m else None


def pick_note(body: str) -> tuple[str, str] | None:
    """(branch, new commit SHA) from GitLab's cherry-pick system note."""
    m = _PICK_NOTE.search(body)
    return (m.group("branch"), m.group("sha")) if m else None


def same_sha(a: str, b: str) -> bool:
    """Full and abbreviated SHAs name the same commit when one prefixes the other."""
    n = min(len(a), len(b))
    return n >= 7 and a[:n] == b[:n]


def sha_in(sha: str, shas: Iterable[str]) -> bool:
    return any(same_sha(sha, s) for s in shas)


def patch_fingerprint(diffs: Iterable[Mapping[str, Any]]) -> frozenset[tuple[str, str]]:
    """What `git patch-id` compares: per file, the changed lines, ignoring line numbers.

    Hunk headers carry positions, which differ when the same change lands on a branch with
    other history; the +/- lines do not.
    """
    out = set()
    for d in diffs:
        body = _HUNK_HEADER.sub("@@", str(d.get("diff") or ""))
        changed = "\n".join(line for line in body.splitlines() if line.startswith(("+", "-", "@@")))
        out.add((str(d.get("new_path") or d.get("old_path")), changed))
    return frozenset(out)


def inverse_fingerprint(diffs: Iterable[Mapping[str, Any]]) -> frozenset[tuple[str, str]]:
    """The fingerprint of the patch that undoes `diffs`: added and removed lines swapped,
    so that a revert's inverse equals the original's `patch_fingerprint`."""
    swap = {"+": "-", "-": "+"}
    out = set()
    for path, changed in patch_fingerprint(diffs):
        lines = [
            swap[line[0]] + line[1:] if line[:1] in swap else line for line in changed.splitlines()
        ]
        out.add((path, "\n".join(lines)))
    return frozenset(out)
