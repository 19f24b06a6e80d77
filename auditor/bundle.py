"""Evidence bundles: a directory an auditor can take away, and the check that it is intact.

`write_bundle` adds to a directory of reports (written there first by the caller) the raw
evidence of one sweep run, read from the evidence store, and a `manifest.json` naming every
file with its SHA-256 and size. `verify` recomputes them and names what changed, appeared or
disappeared.

Layout, `auditor.bundle/v1`:

    manifest.json                      every other file: path, sha256, size; run id, tool
    <the caller's reports>             e.g. report.json, junit.xml, promotions.csv
    evidence/run.json                  the run (window, hashes, coverage), drift, cut-offs,
                                       reverts (when the run recorded them), gaps (what it
                                       could not establish), and an index of
                                       the promotion files
    evidence/promotions/<p>-mr<iid>-<service>.json
                                       one promotion: its verdict and findings as in the JSON
                                       report, and the GitLab responses its evidence rests on
    evidence/responses/<sha256>.json   one raw GitLab response body, byte for byte as GitLab
                                       sent it (`.bin` when it is not JSON), named by its hash

Bodies are stored once, by content, because many promotions rest on the same answers (the
staging deployments list, the orchestration pipelines); naming them by their SHA-256 lets
anyone check a body against the store or against `sha256sum` without this tool.

Which responses belong to a promotion: the store has a `promotion_evidence` table linking
promotions to response hashes, but the sweep does not fill it yet. When a promotion has
links, exactly those responses are bundled. Without links they are chosen by URL (see
`_by_url`): the API answers about the promotion's MR and its service project's deployments,
environments, pipelines and repository, plus the pipelines, jobs, commits and MRs its
findings cite in other projects (the orchestration project); each URL at its latest version
fetched before the run finished. That errs towards including too much, never too little.

What the manifest proves: that nothing changed since it was written. It is not a signature:
someone who can rewrite the files can rewrite the manifest too, so keep its SHA-256 (printed
by the CLI, or `sha256sum manifest.json`) somewhere they cannot, such as the CI job log.
The manifest carries a digest of itself so a corrupted manifest is caught, not misread.

Verification never follows a path from the manifest: it walks the directory itself (without
following symbolic links) and only compares names, so a tampered manifest naming `../x` or
`/etc/passwd` is refused and reported, never opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from auditor import __version__
from auditor.findings import PromotionResult
from auditor.report.json_report import TOOL_NAME, to_dict
from auditor.run_record import AuditRun
from auditor.signing import SIGNATURE
from auditor.timestamps import format_timestamp

FORMAT = "auditor.bundle/v1"
PROMOTION_FORMAT = "auditor.bundle.promotion/v1"
RUN_FORMAT = "auditor.bundle.run/v1"
MANIFEST = "manifest.json"
EVIDENCE_DIR = "evidence"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
# Run columns that describe the machine, not the evidence; left out of run.json.
_RUN_PRIVATE = frozenset({"pid", "host"})


class BundleStore(Protocol):
    """What the bundle reads from the evidence store (`auditor.store.EvidenceStore`)."""

    path: Path

    def load(self, run_id: int) -> AuditRun: ...

    def response_index(self, fetched_before: str | None = None) -> list[dict[str, Any]]: ...

    def response(self, sha256: str) -> dict[str, Any] | None: ...


class BundleError(Exception):
    """The bundle cannot be written; the message is one line for the user."""


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found. Paths are relative to the bundle, `/`-separated."""

    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    # Manifest entries that were not compared because their path is unsafe (absolute, `..`,
    # the manifest itself): a manifest with such an entry was tampered with or not ours.
    refused: tuple[str, ...] = ()
    # Problems that stop or limit the comparison: no manifest, not JSON, wrong format,
    # malformed entries, symbolic links or special files in the bundle.
    errors: tuple[str, ...] = ()
    run_id: int | None = None
    generated_at: str | None = None
    checked: int = 0  # manifest entries compared (whatever their outcome)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.removed or self.refused or self.errors)

    def problems(self) -> list[str]:
        """One line per problem, each naming its file, for the CLI to print."""
        return [
            *(f"error: {e}" for e in self.errors),
            *(f"refused: {p!s} (unsafe path in the manifest, not opened)" for p in self.refused),
            *(f"changed: {p}" for p in self.changed),
            *(f"added: {p} (not in the manifest)" for p in self.added),
            *(f"removed: {p} (in the manifest, missing)" for p in self.removed),
        ]


# --------------------------------------------------------------------------------------
# Hashing and the manifest's own form
# --------------------------------------------------------------------------------------


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size in bytes of a file, read in chunks (bodies can be large)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _dump(doc: object) -> bytes:
    # One fixed serialisation: verify re-serialises the parsed manifest and compares bytes,
    # so any edit, even of whitespace, is seen.
    return (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode("ascii")


def manifest_digest(doc: Mapping[str, Any]) -> str:
    """The manifest's self-digest: SHA-256 of its serialisation without `manifest_sha256`."""
    body = {k: v for k, v in doc.items() if k != "manifest_sha256"}
    return hashlib.sha256(_dump(body)).hexdigest()


def seal_manifest(doc: Mapping[str, Any]) -> bytes:
    """The manifest's bytes, `manifest_sha256` added (last) over everything else."""
    body = {k: v for k, v in doc.items() if k != "manifest_sha256"}
    return _dump({**body, "manifest_sha256": manifest_digest(body)})


def unsafe_path(path: object) -> str | None:
    """Why a manifest path must not be used, or None when it is a plain relative path.

    Lexical only, on purpose: resolving it against the disk would already follow it.
    """
    if not isinstance(path, str) or not path:
        return "not a path"
    if "\x00" in path or "\\" in path:
        return "NUL or backslash in path"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "absolute path"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "empty, '.' or '..' segment"
    if path == MANIFEST:
        return "the manifest cannot list itself"
    return None


def _scan(root: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """Regular files under root (relative path -> path), other entries (symlinks, sockets,
    unreadable directories) that cannot be hashed safely, and errors. Never follows links."""
    files: dict[str, Path] = {}
    odd: list[str] = []
    errors: list[str] = []

    def onerror(exc: OSError) -> None:
        errors.append(f"cannot read {exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        base = Path(dirpath)
        # os.walk lists a symlink to a directory among dirnames and does not descend it.
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                odd.append(rel)
            elif name in filenames:
                if path.is_file():
                    files[rel] = path
                else:
                    odd.append(rel)
    files.pop(MANIFEST, None)
    # The signature is over the manifest, so it cannot be listed in it; checked by --key.
    files.pop(SIGNATURE, None)
    return dict(sorted(files.items())), sorted(odd), errors


# --------------------------------------------------------------------------------------
# Choosing a promotion's responses
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Api:
    """A stored response's URL, split into the GitLab project it is about and the rest."""

    project: str | None  # "group/name" (or a numeric id), None when not a project endpoint
    parts: tuple[str, ...]  # path segments after the project, e.g. ("merge_requests", "2")
    query: str


def _api(url: str) -> _Api:
    split = urlsplit(url)
    marker = "/api/v4/projects/"
    index = split.path.find(marker)
    if index < 0:
        return _Api(None, (), split.query)
    # python-gitlab sends the project path as one %2F-encoded segment; decode it only after
    # splitting, or "group/name" would look like two segments.
    segments = split.path[index + len(marker) :].split("/")
    project = unquote(segments[0]).casefold()
    return _Api(project, tuple(unquote(s) for s in segments[1:] if s), unquote(split.query))


# Web URLs the findings cite: <gitlab>/<project>/-/<kind>/<id>.
_WEB = re.compile(
    r"^/(?P<project>.+?)/-/(?P<kind>merge_requests|pipelines|jobs|commit)/(?P<id>[^/#?]+)"
)


@dataclass(frozen=True)
class _Cited:
    """What a promotion's findings point at, by project: the handles to look for in URLs."""

    merge_requests: frozenset[tuple[str, str]]
    pipelines: frozenset[tuple[str, str]]
    jobs: frozenset[tuple[str, str]]
    commits: frozenset[tuple[str, str]]

    @property
    def projects(self) -> frozenset[str]:
        return frozenset(
            p
            for items in (self.merge_requests, self.pipelines, self.jobs, self.commits)
            for p, _ in items
        )


def _cited(result: PromotionResult, gitlab_url: str) -> _Cited:
    base = urlsplit(gitlab_url).path.rstrip("/")
    found: dict[str, set[tuple[str, str]]] = {
        "merge_requests": set(),
        "pipelines": set(),
        "jobs": set(),
        "commit": set(),
    }
    for finding in result.findings:
        for link in finding.evidence:
            if not link.url:
                continue
            path = urlsplit(link.url).path
            if base and path.startswith(base + "/"):
                path = path[len(base) :]
            match = _WEB.match(path)
            if match:
                project = unquote(match["project"]).casefold()
                found[match["kind"]].add((project, unquote(match["id"])))
    return _Cited(
        merge_requests=frozenset(found["merge_requests"]),
        pipelines=frozenset(found["pipelines"]),
        jobs=frozenset(found["jobs"]),
        commits=frozenset(found["commit"]),
    )


# The service project's endpoint families that speak about its promotions (the family is
# recorded as the reason); others (members, labels, ...) are not evidence.
_SERVICE_FAMILIES = frozenset(
    {"deployments", "environments", "pipelines", "jobs", "repository", "merge_requests"}
)


def _by_url(result: PromotionResult, api: _Api, cited: _Cited) -> str | None:
    """Why this response is evidence of the promotion, or None when it is not."""
    # GitLab paths are case-insensitive; the MR's path and the URL's may differ in case.
    project, iid = result.mr.project.casefold(), str(result.mr.iid)
    if api.project is None:
        return None
    parts = api.parts
    if api.project == project:
        if not parts:
            return "project"
        if parts[0] == "merge_requests" and len(parts) > 1:
            # Another MR of the same project is someone else's evidence, unless cited
            # (a `cherry-pick-...` MR into release is cited by SH03).
            if parts[1] == iid:
                return "merge_request"
            return "cited merge_request" if (project, parts[1]) in cited.merge_requests else None
        return parts[0] if parts[0] in _SERVICE_FAMILIES else None
    # Another project (normally the orchestration project): only what the findings cite,
    # and its pipelines, since SH05 and SH07 reason over the pipelines around the cited one.
    if api.project not in cited.projects:
        return None
    if parts and parts[0] == "pipelines" and any(p == api.project for p, _ in cited.pipelines):
        return "orchestration pipelines"
    if len(parts) > 1 and parts[0] == "jobs" and (api.project, parts[1]) in cited.jobs:
        return "cited job"
    if len(parts) > 1 and parts[0] == "merge_requests":
        return "cited merge_request" if (api.project, parts[1]) in cited.merge_requests else None
    shas = {sha for p, sha in cited.commits if p == api.project}
    if parts and parts[0] == "repository" and any(s in "/".join(parts) + api.query for s in shas):
        return "cited commit"
    return None


def _response_index(store: BundleStore, until: str | None) -> list[dict[str, Any]]:
    """Every stored response's metadata (no bodies), the latest version of each URL fetched
    up to `until` (the run's end), ordered by URL."""
    rows = store.response_index(fetched_before=until)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        # Ordered by time, so the last one wins: the answer the run saw, not an older one
        # that a changed MR (new notes, new label) has since replaced.
        latest[(row["method"], row["url"])] = row
    return list(latest.values())


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("/", "_")).strip("-.") or "x"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # "x": a bundle never overwrites a file; a name clash is a bug, not something to hide.
    with path.open("xb") as fh:
        fh.write(data)


def _response_file(root: Path, sha256: str, body: bytes, written: dict[str, str]) -> str:
    """Write a body once under its hash; return its bundle path."""
    if sha256 in written:
        return written[sha256]
    try:
        json.loads(body.decode("utf-8"))
        suffix = ".json"
    except (UnicodeDecodeError, ValueError):
        suffix = ".bin"  # an empty or non-JSON answer, kept as received
    rel = f"{EVIDENCE_DIR}/responses/{sha256}{suffix}"
    _write(root / rel, body)
    written[sha256] = rel
    return rel


def _files(root: Path) -> list[dict[str, Any]]:
    files, odd, errors = _scan(root)
    if odd or errors:
        # A link's content lives outside the bundle and could change without the bundle
        # changing; refuse rather than hash something verify will not follow.
        what = ", ".join(odd) or "; ".join(errors)
        raise BundleError(f"{root} holds entries that are not regular files: {what}")
    entries = []
    for rel, path in files.items():
        sha256, size = file_sha256(path)
        entries.append({"path": rel, "sha256": sha256, "size": size})
    return entries


def write_bundle(
    store: BundleStore, run_id: int, out_dir: Path, *, now: datetime | None = None
) -> Path:
    """Write run `run_id`'s evidence under `out_dir/evidence/` and `out_dir/manifest.json`
    over every file in `out_dir` (reports already there included). Returns the manifest.

    `out_dir` may already hold reports but not a bundle: an existing `evidence/` or
    `manifest.json` is refused rather than merged or deleted.
    """
    root = Path(out_dir)
    loaded = store.load(run_id)  # StoreError for a missing run, before touching the disk
    report = loaded.report
    for name in (EVIDENCE_DIR, MANIFEST):
        if (root / name).exists() or (root / name).is_symlink():
            raise BundleError(f"{root / name} already exists; write the bundle to a new directory")
    root.mkdir(parents=True, exist_ok=True)
    run = loaded.info.as_row()  # the run as the store keeps it: run.json prints it so
    extras = loaded.extras
    # Responses fetched after the run finished cannot be evidence of it.
    index = _response_index(store, run["finished_at"])
    by_sha: dict[str, list[dict[str, Any]]] = {}
    for row in index:
        by_sha.setdefault(row["sha256"], []).append(row)
    parsed = [(row, _api(row["url"])) for row in index]

    written: dict[str, str] = {}
    used_names: set[str] = set()
    promotion_index: list[dict[str, Any]] = []
    for result in report.promotions:
        hashes = loaded.evidence_of(result.service, result.mr.mr_id)
        chosen: list[tuple[dict[str, Any], str]] = []
        if hashes:
            selected_by = "promotion_evidence"
            for sha in hashes:
                rows = by_sha.get(sha)
                if rows:
                    chosen.extend((row, "linked") for row in rows)
                else:
                    stored = store.response(sha)
                    if stored is not None:
                        chosen.append((stored, "linked"))
        else:
            selected_by = "url"
            cited = _cited(result, report.gitlab_url)
            for row, api in parsed:
                why = _by_url(result, api, cited)
                if why is not None:
                    chosen.append((row, why))
        responses = []
        for row, why in sorted(chosen, key=lambda item: (item[0]["url"], item[0]["fetched_at"])):
            stored = store.response(row["sha256"])
            if stored is None:  # pruned between listing and reading; say so, do not skip
                file = None
            else:
                file = _response_file(root, row["sha256"], bytes(stored["body"]), written)
            responses.append(
                {
                    "method": row["method"],
                    "url": row["url"],
                    "status": row["status"],
                    "fetched_at": row["fetched_at"],
                    "sha256": row["sha256"],
                    "file": file,
                    "why": why,
                }
            )
        name = f"{_slug(result.mr.project)}-mr{result.mr.iid}-{_slug(result.service)}"
        candidate, n = name, 1
        while candidate in used_names:
            n += 1
            candidate = f"{name}-{n}"
        used_names.add(candidate)
        rel = f"{EVIDENCE_DIR}/promotions/{candidate}.json"
        one = to_dict(replace(report, promotions=(result,)))["promotions"][0]
        _write(
            root / rel,
            _dump(
                {
                    "format": PROMOTION_FORMAT,
                    "run_id": run_id,
                    "gitlab_url": report.gitlab_url,
                    "promotion": one,
                    "responses_selected_by": selected_by,
                    "responses": responses,
                }
            ),
        )
        promotion_index.append(
            {
                "project": result.mr.project,
                "iid": result.mr.iid,
                "service": result.service,
                "verdict": str(result.verdict),
                "file": rel,
            }
        )

    sweep = to_dict(replace(report, promotions=()), extras)
    _write(
        root / EVIDENCE_DIR / "run.json",
        _dump(
            {
                "format": RUN_FORMAT,
                "run": {k: v for k, v in run.items() if k not in _RUN_PRIVATE},
                "drift": sweep["drift"],
                "cut_offs": sweep["cut_offs"],
                # left out when the run did not record them (stored before reverts were kept)
                **({"reverts": sweep["reverts"]} if "reverts" in sweep else {}),
                "gaps": sweep.get("gaps", []),
                "coverage": sweep.get("coverage"),
                "promotions": promotion_index,
            }
        ),
    )

    generated = (now or datetime.now(UTC)).astimezone(UTC)
    manifest = {
        "format": FORMAT,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "run_id": run_id,
        "gitlab_url": report.gitlab_url,
        "generated_at": format_timestamp(generated),
        "files": _files(root),
    }
    # Written last, through a rename: a bundle cut short has no manifest, and verify says so
    # instead of passing a half-written manifest.
    target = root / MANIFEST
    temporary = root / f".{MANIFEST}.tmp"
    temporary.write_bytes(seal_manifest(manifest))
    os.replace(temporary, target)
    return target


# --------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------


def _entries(files: object, errors: list[str], refused: list[str]) -> dict[str, tuple[str, int]]:
    """The manifest's file entries, path -> (sha256, size); bad ones go to errors/refused."""
    expected: dict[str, tuple[str, int]] = {}
    if not isinstance(files, list):
        errors.append(f"{MANIFEST}: 'files' is not a list")
        return expected
    for position, entry in enumerate(files):
        path = entry.get("path") if isinstance(entry, dict) else None
        reason = unsafe_path(path)
        if reason is not None:
            if isinstance(path, str) and path:
                refused.append(path)
            else:
                errors.append(f"{MANIFEST}: entry {position} has no usable path")
            continue
        assert isinstance(entry, dict) and isinstance(path, str)
        sha256, size = entry.get("sha256"), entry.get("size")
        if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
            errors.append(f"{MANIFEST}: entry {path} has no valid sha256")
            continue
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            errors.append(f"{MANIFEST}: entry {path} has no valid size")
            continue
        if path in expected:
            errors.append(f"{MANIFEST}: {path} is listed twice")
            continue
        expected[path] = (sha256, size)
    return expected


def verify(out_dir: Path) -> VerifyResult:
    """Recompute every file's hash against the manifest; see `VerifyResult.ok`."""
    root = Path(out_dir)
    if not root.is_dir():
        return VerifyResult(errors=(f"{root} is not a directory",))
    manifest_path = root / MANIFEST
    if manifest_path.is_symlink() or not manifest_path.is_file():
        return VerifyResult(errors=(f"{MANIFEST}: missing (not a bundle, or cut short)",))
    raw = manifest_path.read_bytes()
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return VerifyResult(errors=(f"{MANIFEST}: not valid JSON ({exc})",))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return VerifyResult(errors=(f"{MANIFEST}: not an {FORMAT} manifest",))

    errors: list[str] = []
    refused: list[str] = []
    changed: list[str] = []
    try:
        intact = doc.get("manifest_sha256") == manifest_digest(doc) and raw == seal_manifest(doc)
    except ValueError:  # NaN or Infinity: json.loads takes them, our serialisation does not
        intact = False
    if not intact:
        # Its content or its bytes differ from what write_bundle wrote.
        changed.append(MANIFEST)
    expected = _entries(doc.get("files"), errors, refused)

    files, odd, scan_errors = _scan(root)
    errors.extend(scan_errors)
    for rel in odd:
        errors.append(f"{rel}: not a regular file (symbolic link or special file), not read")
    added = [rel for rel in [*files, *odd] if rel not in expected]
    removed: list[str] = []
    for rel, (sha256, size) in expected.items():
        if rel in odd:
            changed.append(rel)
        elif rel not in files:
            removed.append(rel)
        elif file_sha256(files[rel]) != (sha256, size):
            changed.append(rel)
    run_id = doc.get("run_id")
    generated_at = doc.get("generated_at")
    return VerifyResult(
        changed=tuple(sorted(changed)),
        added=tuple(sorted(added)),
        removed=tuple(sorted(removed)),
        refused=tuple(refused),
        errors=tuple(errors),
        run_id=run_id if isinstance(run_id, int) else None,
        generated_at=generated_at if isinstance(generated_at, str) else None,
        checked=len(expected),
    )


def bundle_files(out_dir: Path) -> Sequence[str]:
    """The paths a bundle's manifest lists (for tests and the CLI's summary)."""
    doc = json.loads((Path(out_dir) / MANIFEST).read_bytes())
    return [entry["path"] for entry in doc["files"]]
