"""GitLab's answers, checked field by field and parsed into evidence types.

Every field a rule reads is checked here for presence and type before it is used: ids are
integers, SHAs are hex object names, timestamps parse and carry a time zone, statuses are
non-empty strings, nested objects are objects. An answer that does not fit raises
`Malformed` with one line naming the defect ("job 90018 has no status (null)"); the source
turns it into `Unavailable`, so a malformed answer is never read as a fact, never defaulted
and never cached. Optional fields GitLab may omit or null (a merge commit, a deployable, a
deleted label) stay optional, and are still type-checked when present.

Pure functions over JSON values: no IO, nothing here knows about HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from auditor.evidence import (
    Approval,
    Approvals,
    Commit,
    Deployment,
    Job,
    LabelEvent,
    MergeRequest,
    MRRef,
    Note,
    Pipeline,
)
from auditor.timestamps import parse

T = TypeVar("T")

_SHA = re.compile(r"[0-9a-fA-F]{40}([0-9a-fA-F]{24})?")  # SHA-1, or SHA-256 repositories
LABEL_ACTIONS = ("add", "remove")


class Malformed(Exception):
    """An answer whose shape the auditor cannot read; the message names the defect."""


def shown(value: object) -> str:
    """A short, safe rendering of an unexpected value for a one-line reason."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_time(value: str | None) -> datetime | None:
    """GitLab's ISO 8601 timestamps (`Z` or an offset) as aware UTC datetimes."""
    return parse(value, naive=None) if value else None


def is_sha(value: object) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


class Obj:
    """One JSON object being read, with the words that name it in a defect."""

    def __init__(self, data: object, name: str) -> None:
        if not isinstance(data, dict):
            raise Malformed(f"{name} is {kind_of(data)}, expected an object")
        self.data: dict[str, Any] = data
        self.name = name

    def _present(self, key: str) -> Any:
        if key not in self.data:
            raise Malformed(f"{self.name} has no {key}")
        value = self.data[key]
        if value is None:
            raise Malformed(f"{self.name} has no {key} (null)")
        return value

    def _wrong(self, key: str, value: object, expected: str) -> Malformed:
        return Malformed(f"{self.name} has {key} {shown(value)}, expected {expected}")

    def integer(self, key: str) -> int:
        value = self._present(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, value, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.integer(key)

    def text(self, key: str, allow_empty: bool = True) -> str:
        value = self._present(key)
        if not isinstance(value, str):
            raise self._wrong(key, value, "a string")
        if not allow_empty and not value.strip():
            raise Malformed(f"{self.name} has an empty {key}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        value = self._present(key)
        if not isinstance(value, bool):
            raise self._wrong(key, value, "true or false")
        return value

    def opt_flag(self, key: str, default: bool) -> bool:
        return default if self.data.get(key) is None else self.flag(key)

    def time(self, key: str) -> datetime:
        value = self.text(key, allow_empty=False)
        try:
            at = parse_time(value)
        except ValueError:
            raise self._wrong(key, value, "an ISO 8601 time with a zone") from None
        assert at is not None
        return at

    def opt_time(self, key: str) -> datetime | None:
        return None if self.data.get(key) in (None, "") else self.time(key)

    def sha(self, key: str) -> str:
        value = self._present(key)
        if not is_sha(value):
            raise self._wrong(key, value, "a commit SHA")
        return str(value)

    def opt_sha(self, key: str) -> str | None:
        return None if self.data.get(key) in (None, "") else self.sha(key)

    def obj(self, key: str, name: str | None = None) -> Obj:
        return Obj(self._present(key), f"{self.name}'s {name or key}")

    def opt_obj(self, key: str, name: str | None = None) -> Obj | None:
        return None if self.data.get(key) is None else self.obj(key, name)

    def array(self, key: str) -> list[Any]:
        value = self._present(key)
        if not isinstance(value, list):
            raise self._wrong(key, value, "a list")
        return value

    def named(self, name: str) -> Obj:
        """The same object, named by what was just read of it ("job 90018")."""
        self.name = name
        return self


def answer_object(raw: object, what: str = "answer") -> Obj:
    return Obj(raw, what)


def answer_list(raw: object) -> list[Any]:
    if not isinstance(raw, list):
        raise Malformed(f"answer is {kind_of(raw)}, expected a list")
    return raw


def items(raw: object, kind: str) -> list[Obj]:
    """A list answer's elements as objects named `kind #N` until their id is read."""
    return [Obj(data, f"{kind} #{n}") for n, data in enumerate(answer_list(raw), start=1)]


def each(raw: object, kind: str, parse: Callable[[Obj], T]) -> tuple[T, ...]:
    return tuple(parse(o) for o in items(raw, kind))


def username(o: Obj, key: str) -> str | None:
    """A user object's username; a user may be absent (a deleted user), never mis-shaped."""
    user = o.opt_obj(key)
    return None if user is None else user.text("username")


# -- projects and merge requests -----------------------------------------------------------
def project(raw: object) -> dict[str, Any]:
    """A project's attributes, once its id, web URL and default branch have the right
    types (`default_branch` is null for a project without a repository)."""
    o = answer_object(raw, "project")
    o.integer("id")
    o.text("web_url", allow_empty=False)
    o.opt_text("default_branch")
    return o.data


def merge_request(raw: object, path: str, default_branch: str) -> MergeRequest:
    o = answer_object(raw, "merge request")
    iid = o.integer("iid")
    o.named(f"merge request !{iid}")
    return MergeRequest(
        id=o.integer("id"),
        iid=iid,
        project=path,
        project_id=o.integer("project_id"),
        title=o.text("title"),
        web_url=o.text("web_url", allow_empty=False),
        state=o.text("state", allow_empty=False),
        source_branch=o.text("source_branch"),
        target_branch=o.text("target_branch", allow_empty=False),
        default_branch=default_branch,
        created_at=o.time("created_at"),
        updated_at=o.time("updated_at"),
        merged_at=o.opt_time("merged_at"),
        merge_commit_sha=o.opt_sha("merge_commit_sha"),
        squash_commit_sha=o.opt_sha("squash_commit_sha"),
        sha=o.opt_sha("sha"),
        labels=tuple(_strings(o, "labels")),
        author=username(o, "author"),
    )


def _strings(o: Obj, key: str) -> list[str]:
    values = o.array(key)
    for value in values:
        if not isinstance(value, str):
            raise Malformed(f"{o.name} has {kind_of(value)} among its {key}, expected strings")
    return values


def mr_ref(o: Obj, path: str) -> MRRef:
    iid = o.integer("iid")
    o.named(f"merge request !{iid}")
    return MRRef(
        project=path,
        iid=iid,
        title=o.text("title"),
        state=o.text("state", allow_empty=False),
        source_branch=o.text("source_branch"),
        target_branch=o.text("target_branch", allow_empty=False),
        merged_at=o.opt_time("merged_at"),
        merge_commit_sha=o.opt_sha("merge_commit_sha"),
        web_url=o.text("web_url", allow_empty=False),
        squash_commit_sha=o.opt_sha("squash_commit_sha"),
    )


def mr_refs(raw: object, path: str) -> tuple[MRRef, ...]:
    return each(raw, "merge request", lambda o: mr_ref(o, path))


def mr_iids(raw: object) -> set[int]:
    return {o.integer("iid") for o in items(raw, "merge request")}


def approvals(raw: object) -> Approvals:
    o = answer_object(raw, "approvals answer")

    def approval(a: Obj) -> Approval:
        user = a.obj("user")
        name = user.text("username", allow_empty=False)
        a.named(f"approval by {name}")
        return Approval(name, a.opt_time("approved_at"))

    return Approvals(
        approved_by=tuple(
            approval(Obj(a, f"approval #{n}"))
            for n, a in enumerate(o.array("approved_by"), start=1)
        ),
        approvals_required=o.integer("approvals_required"),
        approvals_left=o.integer("approvals_left"),
    )


def notes(raw: object, mr_web_url: str) -> tuple[Note, ...]:
    def note(o: Obj) -> Note:
        nid = o.integer("id")
        o.named(f"note {nid}")
        return Note(
            id=nid,
            body=o.text("body"),
            author=username(o, "author"),
            created_at=o.time("created_at"),
            system=o.flag("system"),
            web_url=f"{mr_web_url}#note_{nid}",
        )

    return each(raw, "note", note)


def label_events(raw: object) -> tuple[LabelEvent, ...]:
    """A label deleted since the event keeps its event with `label: null` (GitLab's own
    answer), read as `LabelEvent(label=None)`; any other label must have a name."""

    def event(o: Obj) -> LabelEvent:
        eid = o.integer("id")
        o.named(f"label event {eid}")
        action = o.text("action")
        if action not in LABEL_ACTIONS:
            raise Malformed(f"{o.name} has action {shown(action)}, expected add or remove")
        label = o.opt_obj("label")
        return LabelEvent(
            id=eid,
            label=None if label is None else label.text("name", allow_empty=False),
            action=action,  # type: ignore[arg-type]
            created_at=o.time("created_at"),
            user=username(o, "user"),
        )

    return each(raw, "label event", event)


# -- repository ----------------------------------------------------------------------------
def commit(o: Obj, project_web_url: str) -> Commit:
    sha = o.sha("id")
    o.named(f"commit {sha[:8]}")
    title = o.text("title")
    parents = o.data.get("parent_ids")
    if parents is None:
        parent_ids: tuple[str, ...] = ()
    elif isinstance(parents, list) and all(is_sha(p) for p in parents):
        parent_ids = tuple(parents)
    else:
        raise Malformed(f"{o.name} has parent_ids {shown(parents)}, expected commit SHAs")
    return Commit(
        id=sha,
        short_id=o.opt_text("short_id") or sha[:8],
        title=title,
        message=o.text("message"),
        parent_ids=parent_ids,
        authored_date=o.opt_time("authored_date"),
        committed_date=o.opt_time("committed_date") or o.opt_time("created_at"),
        web_url=o.opt_text("web_url") or f"{project_web_url}/-/commit/{sha}",
    )


def single_commit(raw: object, project_web_url: str) -> Commit:
    return commit(answer_object(raw, "commit"), project_web_url)


def commits(raw: object, project_web_url: str) -> tuple[Commit, ...]:
    return each(raw, "commit", lambda o: commit(o, project_web_url))


def compare_commits(raw: object) -> list[Any]:
    """The `commits` array of a compare answer. Without it the answer says nothing about
    what head adds: it is malformed, never "no commits"."""
    return answer_object(raw, "compare answer").array("commits")


def merge_base(raw: object) -> str:
    return answer_object(raw, "merge base answer").sha("id")


def diff(raw: object) -> tuple[dict[str, Any], ...]:
    """A commit's diff entries, each with its paths and its patch text."""

    def entry(o: Obj) -> dict[str, Any]:
        new_path = o.text("new_path", allow_empty=False)
        o.named(f"diff of {new_path}")
        o.text("old_path", allow_empty=False)
        o.text("diff")
        return o.data

    return each(raw, "diff entry", entry)


# -- CI ------------------------------------------------------------------------------------
def pipeline(o: Obj, path: str) -> Pipeline:
    pid = o.integer("id")
    o.named(f"pipeline {pid}")
    return Pipeline(
        id=pid,
        project=path,
        ref=o.opt_text("ref"),
        sha=o.opt_sha("sha"),
        status=o.text("status", allow_empty=False),
        source=o.opt_text("source"),
        created_at=o.time("created_at"),
        updated_at=o.opt_time("updated_at"),
        web_url=o.text("web_url", allow_empty=False),
    )


def pipelines(raw: object, path: str) -> tuple[Pipeline, ...]:
    return each(raw, "pipeline", lambda o: pipeline(o, path))


def job(o: Obj, pipeline_id: int, kind: str = "job") -> Job:
    jid = o.integer("id")
    o.named(f"{kind} {jid}")
    parent = o.opt_obj("pipeline")
    downstream = o.opt_obj("downstream_pipeline", "downstream pipeline")
    return Job(
        id=jid,
        name=o.text("name", allow_empty=False),
        status=o.text("status", allow_empty=False),
        stage=o.opt_text("stage"),
        pipeline_id=pipeline_id if parent is None else parent.integer("id"),
        created_at=o.opt_time("created_at"),
        started_at=o.opt_time("started_at"),
        finished_at=o.opt_time("finished_at"),
        web_url=o.text("web_url", allow_empty=False),
        user=username(o, "user"),
        downstream_pipeline_id=None if downstream is None else downstream.integer("id"),
        allow_failure=o.opt_flag("allow_failure", False),
    )


def jobs(raw: object, pipeline_id: int, kind: str = "job") -> tuple[Job, ...]:
    found = each(raw, kind, lambda o: job(o, pipeline_id, kind))
    return tuple(sorted(found, key=lambda j: j.id))


# -- deployments ---------------------------------------------------------------------------
def deployment(o: Obj) -> Deployment:
    did = o.integer("id")
    o.named(f"deployment {did}")
    environment = o.obj("environment")
    deployable = o.opt_obj("deployable")
    pipeline_of = None if deployable is None else deployable.opt_obj("pipeline")
    return Deployment(
        id=did,
        iid=o.integer("iid"),
        environment=environment.text("name", allow_empty=False),
        status=o.text("status", allow_empty=False),
        sha=o.sha("sha"),
        ref=o.opt_text("ref") or "",
        created_at=o.time("created_at"),
        updated_at=o.opt_time("updated_at"),
        finished_at=o.opt_time("finished_at")
        or (None if deployable is None else deployable.opt_time("finished_at")),
        deployable_id=None if deployable is None else deployable.integer("id"),
        deployable_name=None if deployable is None else deployable.text("name"),
        pipeline_id=None if pipeline_of is None else pipeline_of.integer("id"),
        web_url=(None if deployable is None else deployable.opt_text("web_url")) or "",
        user=username(o, "user"),
        pipeline_updated_at=None if pipeline_of is None else pipeline_of.opt_time("updated_at"),
    )


def environment_names(raw: object) -> tuple[str, ...]:
    return each(raw, "environment", lambda o: o.text("name", allow_empty=False))


def deployments(raw: object) -> tuple[Deployment, ...]:
    return tuple(sorted(each(raw, "deployment", deployment), key=lambda d: d.id))
