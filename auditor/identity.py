"""The identity of a merge request: `MRId`, written `PROJECT!IID` as GitLab writes it.

It sits at the bottom of the import layers so every stage (collection, rules, store,
reports) can name an MR the same way and key dicts by it instead of ad-hoc tuples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class MRId:
    """A merge request by its project's path and its project-scoped number."""

    project: str
    iid: int

    def __str__(self) -> str:
        return f"{self.project}!{self.iid}"
