"""`auditor browse`: the evidence store served read-only with Datasette, for auditors who want
to explore it across weeks (which services break SH12 most, since when, on what evidence).

One job: describe the store to Datasette (a title, what every table and column means, and
the canned queries an auditor asks) and serve it on 127.0.0.1 until interrupted.

Read-only by construction, not by convention: the file is opened `immutable` (SQLite takes no
lock and writes no journal, so the file stays byte-identical), Datasette's arbitrary SQL is
SELECT-only, no canned query writes, every request but GET and HEAD is answered 405 before it
reaches Datasette, and only Datasette's built-in plugins are loaded (an installed plugin could
add a write API). Datasette and uvicorn are imported only by `serve`:
the other commands must not pay for them (or need them installed).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

HOST = "127.0.0.1"
DEFAULT_PORT = 8001
INSTALL_HINT = "auditor browse needs Datasette: pip install 'auditor[browse]'"

TITLE = "auditor evidence store"
DESCRIPTION = (
    "What auditor sweeps found and the GitLab responses they rest on, read-only. "
    "Start with the canned queries below; every table and column is described on its page."
)


class BrowseError(Exception):
    """The store cannot be browsed; the message is one line for the user."""


class BrowseUnavailable(BrowseError):
    """Datasette is not installed."""


@dataclass(frozen=True)
class TableDoc:
    """What a table keeps and what each column means, for an auditor."""

    description: str
    columns: Mapping[str, str]


# Every table of the store (auditor/store/database.py MIGRATIONS). tests/test_browse.py fails
# when a fresh store has a table or column missing here, so a migration cannot add one
# undocumented.
TABLES: dict[str, TableDoc] = {
    "meta": TableDoc(
        "Facts about the file itself: its schema version (a newer file is refused by older "
        "auditors rather than misread), and `simulated_gitlab`, the GitLab URLs that were "
        "simulators (`auditor demo`), whose reports say so and link nowhere.",
        {
            "key": "Name of the fact: schema_version, simulated_gitlab.",
            "value": "Its value, as text (simulated_gitlab: a JSON list of URLs).",
        },
    ),
    "runs": TableDoc(
        "One row per `auditor sweep`: the window it audited, what it was configured with, how "
        "it ended and what it could not establish. A run's results stand when its status is "
        "complete or incomplete.",
        {
            "id": "Run number; promotions, drift and cut_offs point at it.",
            "status": "running, complete (nothing left unread), incomplete (finished, with "
            "gaps named in coverage), failed or interrupted.",
            "window_from": "Start of the audited window (UTC).",
            "window_to": "End of the audited window (UTC, inclusive).",
            "services": "JSON list of the services the run swept.",
            "config_sha256": "SHA-256 of the auditor.toml the run used (which policy applied).",
            "rulebook_sha256": "SHA-256 of the rulebook the rules were evaluated against.",
            "tool_version": "auditor version that made the run.",
            "gitlab_url": "The GitLab instance that was read.",
            "started_at": "When the run started (UTC).",
            "finished_at": "When it finished (UTC); empty while running or if it was killed.",
            "pid": "Process id of the sweep, to tell a live run from a dead one.",
            "host": "Machine the sweep ran on.",
            "resumes": "How many times an interrupted run was continued.",
            "resumed_at": "When it was last continued.",
            "requests": "HTTP requests made to GitLab.",
            "coverage": "JSON: how much was audited and every gap (service, what could not be "
            "read, why). See the canned query 'Unknowns by endpoint'.",
            "summary": "JSON: per service, promotions by verdict and drift count.",
        },
    ),
    "promotions": TableDoc(
        "One row per audited (merge request, service) in a run, with its verdict. The same "
        "promotion swept by several runs has a row in each; the newest finished run's stands.",
        {
            "id": "Row id; findings and promotion_evidence point at it.",
            "run_id": "The run that audited it.",
            "project": "GitLab project path of the hotfix MR.",
            "iid": "The MR's number in its project (project!iid).",
            "service": "The service it was promoted to staging for.",
            "title": "The MR's title.",
            "web_url": "The MR in GitLab.",
            "merged_at": "When the MR was merged (UTC).",
            "verdict": "compliant, non_compliant, in_progress, incomplete, not_promoted or "
            "stopped (see the README's verdicts).",
            "evaluated_at": "When the rules were evaluated (UTC).",
            "attempts": "JSON timeline: each attempt's picks, release job, deployment, checks, "
            "validation and revert.",
            "milestones": "JSON: the judged attempt's steps (merged, picked, pipeline, release "
            "job, deployed, checks, validated, labelled), each its fact, null (did not happen) "
            'or {"unread": reason} (could not be established); NULL for runs stored before '
            "schema 3, which did not record them.",
            "position": "Its place in the run's report (the sweep's order); NULL for runs "
            "stored before schema 4 (then the order written).",
        },
    ),
    "findings": TableDoc(
        "Every rule's result for every promotion: pass, fail (a violation), warn, unknown "
        "(could not be established, never a pass) or not_applicable.",
        {
            "promotion_id": "The promotion (promotions.id).",
            "position": "Order of the rule in the report.",
            "rule": "Rule id, SH01 to SH14 (the contract's catalog).",
            "name": "Rule name, e.g. label-after-validation.",
            "status": "pass, fail, warn, unknown or not_applicable.",
            "summary": "What the auditor found, in one sentence.",
            "evidence": "JSON list of links to the GitLab records the finding cites (kind, id, "
            "web URL, time).",
        },
    ),
    "promotion_evidence": TableDoc(
        "Which stored GitLab responses each promotion's findings rest on (by SHA-256 of the "
        "body); join to responses.sha256 for the raw answer.",
        {
            "promotion_id": "The promotion (promotions.id).",
            "sha256": "SHA-256 of a response body it used (responses.sha256).",
        },
    ),
    "responses": TableDoc(
        "Every raw GitLab response a sweep received, kept as evidence. Request headers are "
        "never stored, so neither is the token; token-like URL parameters are redacted.",
        {
            "id": "Row id.",
            "method": "HTTP method (always GET: the auditor only reads).",
            "url": "The API URL asked, with credentials redacted.",
            "status": "HTTP status GitLab answered (a 403 or 404 kept here is why something "
            "is unknown).",
            "fetched_at": "When it was received (UTC).",
            "sha256": "SHA-256 of the body: the evidence's identity.",
            "body": "The response body exactly as GitLab sent it (JSON).",
        },
    ),
    "cache": TableDoc(
        "GitLab answers kept for the next sweep, so it asks only for what changed. Not "
        "evidence on its own: each entry names the response it came from.",
        {
            "key": "What was asked (JSON: kind and arguments).",
            "value": "The parsed answer (JSON).",
            "version": "What the answer is valid for (e.g. the MR's updated_at); empty for "
            "facts that cannot change.",
            "fetched_at": "When it was fetched (UTC).",
            "response_sha256": "SHA-256 of the raw response it was read from (responses.sha256).",
        },
    ),
    "cursors": TableDoc(
        "Per project, when its merge requests were last checked for changes (incremental "
        "sync); advanced only by complete runs.",
        {
            "name": "Which cursor (project and what it tracks).",
            "value": "The moment up to which changes were read.",
            "updated_at": "When the cursor last moved (UTC).",
        },
    ),
    "drift": TableDoc(
        "Commits deployed to staging from `release` that no merged hotfix MR explains: "
        "changes that reached staging outside the runbook.",
        {
            "run_id": "The run that found it.",
            "project": "GitLab project of the commit.",
            "service": "The service whose staging deployment carried it.",
            "sha": "The commit.",
            "title": "The commit's title.",
            "deployed_at": "When the staging deployment that carried it finished (UTC).",
        },
    ),
    "cut_offs": TableDoc(
        "Cut-off jobs played in the orchestration project during a run's window (a release "
        "rebuilt from the default branch), as context for the promotions around them.",
        {
            "run_id": "The run that saw it.",
            "project": "The orchestration project.",
            "pipeline_id": "Its pipeline.",
            "job_id": "The cut-off job.",
            "at": "When the job was played (UTC).",
            "by": "Who played it (GitLab username).",
        },
    ),
    "reverts": TableDoc(
        "Reverts on `release` that a staging deployment carried during a run's window: a "
        "hotfix backed out, which the runbook wants redeployed and revalidated.",
        {
            "run_id": "The run that found it.",
            "project": "GitLab project of the revert commit.",
            "service": "The service whose staging deployment carried it.",
            "sha": "The revert commit.",
            "reverts": "The commit it reverts.",
            "deployed_at": "When the staging deployment that carried it finished (UTC).",
        },
    ),
    "reverts_recorded": TableDoc(
        "The runs that recorded their reverts. A run not listed here was stored before "
        "schema 4: its reverts are unknown, not none.",
        {"run_id": "The run."},
    ),
}


@dataclass(frozen=True)
class CannedQuery:
    """A question an auditor asks, as SQL Datasette runs read-only (`:name` are form fields)."""

    name: str
    title: str
    description: str
    sql: str


def _iso_week(timestamp_sql: str) -> str:
    """SQL for the ISO 8601 week (`2026-W47`) of a timestamp: the week's Thursday decides the
    year (SQLite 3.40 has no %V)."""
    thursday = f"date({timestamp_sql}, '-3 days', 'weekday 4')"
    return (
        f"coalesce(strftime('%Y', {thursday}) || '-W' || "
        f"printf('%02d', (strftime('%j', {thursday}) - 1) / 7 + 1), 'undated')"
    )


# The promotions whose results stand: each (MR, service) from the newest finished run that
# holds it, so weeks swept twice are not counted twice. Dated by the first attempt's arrival
# on `release` (the promotion), else the MR's merge.
_LATEST = """latest AS (
  SELECT p.*, coalesce(json_extract(p.attempts, '$[0].reached_release_at'), p.merged_at) AS at,
    row_number() OVER (
      PARTITION BY p.project, p.iid, p.service ORDER BY r.finished_at DESC, r.id DESC
    ) AS newest
  FROM promotions p JOIN runs r ON r.id = p.run_id
  WHERE r.status IN ('complete', 'incomplete')
)"""

# What a gap's `what` names (auditor/gitlab/source.py, discover.py) -> the GitLab endpoint
# family that could not be read. First match wins; order matters (`commits of P:ref` before
# `commits of P!iid`).
ENDPOINT_FAMILIES: tuple[tuple[str, str], ...] = (
    ("approvals of %", "approvals"),
    ("notes of %", "notes"),
    ("label events of %", "resource_label_events"),
    ("commits of %:%", "repository/commits (branch)"),
    ("commits of %", "merge_requests/:iid/commits"),
    ("merge requests of % changed since %", "merge_requests (changed since)"),
    ("merge requests of %", "merge_requests"),
    ("merge request %", "merge_requests/:iid"),
    ("commit % of %", "repository/commits/:sha"),
    ("diff of %", "repository/commits/:sha/diff"),
    ("whether % reverts the hotfix", "repository/commits/:sha/diff"),
    ("compare %", "repository/compare"),
    ("what deployment % added%", "repository/compare"),
    ("ancestry of %", "repository/merge_base"),
    ("merge base of %", "repository/merge_base"),
    ("which commits deployment %", "repository/merge_base"),
    ("which merged MR commit %", "repository/commits/:sha/merge_requests"),
    ("which commits on % are picks%", "repository/commits (branch)"),
    ("pipelines of %", "pipelines"),
    ("trigger jobs of pipeline %", "pipelines/:id/bridges"),
    ("jobs of pipeline %", "pipelines/:id/jobs"),
    ("deployments to %", "deployments"),
    ("last deployment to %", "deployments"),
    ("environments of %", "environments"),
    ("project %", "projects/:id"),
)


def _family_sql(column: str) -> str:
    cases = " ".join(
        f"WHEN {column} LIKE '{pattern}' THEN '{family}'" for pattern, family in ENDPOINT_FAMILIES
    )
    return f"CASE {cases} ELSE 'other' END"


# The API paths each rule reads, as LIKE patterns on responses.url: {mr} is the MR's path
# (`/projects/group%2Fname/merge_requests/IID`), {project} the project's. A promotion's
# evidence is kept by body hash, and equal bodies (an empty list) can come from many URLs, so
# the patterns keep to the rule's own endpoints of the promotion's own project where they can.
RULE_READS: dict[str, tuple[str, ...]] = {
    "SH01": ("%{mr}", "%{mr}?%"),
    "SH02": ("%{mr}/approvals%",),
    "SH03": ("%{project}/repository/commits%", "%{mr}/commits%", "%{project}/repository/compare%"),
    "SH04": ("%{project}/repository/compare%",),
    "SH05": ("%/pipelines?%",),
    "SH06": ("%/pipelines/%/jobs%", "%/pipelines/%/bridges%"),
    "SH07": ("%/pipelines/%/jobs%",),
    "SH08": ("%{project}/deployments%",),
    "SH09": (
        "%{project}/deployments%",
        "%{project}/repository/compare%",
        "%{project}/repository/merge_base%",
    ),
    "SH10": ("%/pipelines/%/jobs%", "%/pipelines/%/bridges%"),
    "SH11": ("%{mr}/notes%",),
    "SH12": ("%{mr}/resource_label_events%",),
    "SH13": (
        "%{project}/repository/commits%",
        "%{project}/repository/compare%",
        "%/pipelines/%/jobs%",
        "%{mr}/notes%",
    ),
    "SH14": (
        "%{project}/deployments%",
        "%/pipelines/%/jobs%",
        "%{mr}/notes%",
        "%{mr}/resource_label_events%",
    ),
}


def _rule_reads_sql() -> str:
    """SQL condition: response `r` is from an endpoint finding `w`'s rule reads."""
    clauses = []
    for rule, patterns in RULE_READS.items():
        likes = " OR ".join(
            "r.url LIKE '"
            + pattern.replace("{mr}", "' || w.mr_path || '").replace(
                "{project}", "' || w.project_path || '"
            )
            + "'"
            for pattern in patterns
        )
        clauses.append(f"(w.rule = '{rule}' AND ({likes}))")
    return "\n    OR ".join(clauses)


def _finding_response_sql() -> str:
    return f"""WITH {_LATEST},
wanted AS (
  SELECT l.id, l.run_id, l.service, f.rule, f.name, f.status, f.summary,
    '/projects/' || replace(l.project, '/', '%2F') AS project_path,
    '/projects/' || replace(l.project, '/', '%2F') || '/merge_requests/' || l.iid AS mr_path
  FROM latest l JOIN findings f ON f.promotion_id = l.id
  WHERE l.newest = 1 AND l.project = :project AND l.iid = CAST(:iid AS INTEGER)
    AND f.rule = upper(trim(:rule))
)
SELECT w.run_id, w.service, w.rule, w.name, w.status AS finding, w.summary,
  r.method, r.url, r.status AS http_status, r.fetched_at, r.sha256,
  CAST(r.body AS TEXT) AS body
FROM wanted w
JOIN promotion_evidence e ON e.promotion_id = w.id
JOIN responses r ON r.sha256 = e.sha256
WHERE {_rule_reads_sql()}
ORDER BY w.service, r.url LIKE '%' || w.project_path || '/%' DESC, r.fetched_at, r.url"""


_GAPS = """gaps AS (
  SELECT r.id AS run_id, r.window_from, r.window_to, r.status AS run_status,
    json_extract(g.value, '$.service') AS service,
    json_extract(g.value, '$.what') AS what,
    json_extract(g.value, '$.reason') AS reason
  FROM runs r,
    json_each(CASE WHEN json_valid(r.coverage) THEN r.coverage ELSE '{}' END, '$.gaps') g
  UNION ALL
  -- runs stored before gaps were structured kept them as text, of no known service
  SELECT r.id, r.window_from, r.window_to, r.status, NULL, g.value, 'recorded by an earlier auditor'
  FROM runs r,
    json_each(CASE WHEN json_valid(r.coverage) THEN r.coverage ELSE '{}' END,
      '$.discovery_gaps') g
  UNION ALL
  SELECT r.id, r.window_from, r.window_to, r.status, NULL, g.value, 'recorded by an earlier auditor'
  FROM runs r,
    json_each(CASE WHEN json_valid(r.coverage) THEN r.coverage ELSE '{}' END,
      '$.unreadable_promotions') g
)"""

LABEL_RULE = "SH12"  # label-after-validation, the contract's id for the label rule

QUERIES: tuple[CannedQuery, ...] = (
    CannedQuery(
        "violations_by_week",
        "Violations by rule and service per ISO week",
        "Failed rules (violations) per ISO week, rule and service, counting each promotion "
        "once: its result from the newest finished run that audited it. The week is that of "
        "the promotion's first arrival on release (else the MR's merge).",
        f"""WITH {_LATEST}
SELECT {_iso_week("l.at")} AS iso_week, f.rule, f.name AS rule_name, l.service,
  count(*) AS violations,
  group_concat(l.project || '!' || l.iid, ', ') AS promotions
FROM latest l JOIN findings f ON f.promotion_id = l.id
WHERE l.newest = 1 AND f.status = 'fail'
GROUP BY iso_week, f.rule, f.name, l.service
ORDER BY iso_week DESC, violations DESC, f.rule, l.service""",
    ),
    CannedQuery(
        "drift",
        "Drift: commits on release not from a hotfix MR",
        "Commits a staging deployment carried from release that no merged MR explains, each "
        "once, with the runs that found it.",
        f"""SELECT {_iso_week("min(d.deployed_at)")} AS iso_week, d.service, d.project, d.sha,
  d.title, min(d.deployed_at) AS deployed_at,
  group_concat(DISTINCT d.run_id) AS runs
FROM drift d
GROUP BY d.project, d.service, d.sha, d.title
ORDER BY deployed_at DESC, d.service""",
    ),
    CannedQuery(
        "label_failures",
        "Promotions without a valid Validated label (SH12 failed or unknown)",
        "Governed promotions whose label rule (SH12, label-after-validation) failed or could "
        "not be established: the label missing, added before the deployment and checks "
        "passed, added although checks failed, or removed. Newest finished run per promotion.",
        f"""WITH {_LATEST}
SELECT {_iso_week("l.at")} AS iso_week, l.service, l.project || '!' || l.iid AS mr,
  l.title, l.verdict, f.status AS sh12, f.summary, l.web_url, l.run_id
FROM latest l JOIN findings f ON f.promotion_id = l.id
WHERE l.newest = 1 AND f.rule = '{LABEL_RULE}' AND f.status IN ('fail', 'unknown')
ORDER BY iso_week DESC, l.service, l.project, l.iid""",
    ),
    CannedQuery(
        "unknowns_by_endpoint",
        "Unknowns by endpoint: what each run could not read from GitLab",
        "Per run, the GitLab endpoint families that could not be read (the run's gaps), how "
        "often, for which services and why. Anything here made the run incomplete and left "
        "the affected rules unknown, never pass.",
        f"""WITH {_GAPS}
SELECT run_id, window_from, window_to, run_status, {_family_sql("what")} AS endpoint,
  count(*) AS gaps,
  group_concat(DISTINCT coalesce(service, '(every service)')) AS services,
  group_concat(what || ': ' || reason, '; ') AS could_not_read
FROM gaps
GROUP BY run_id, endpoint
ORDER BY run_id DESC, gaps DESC, endpoint""",
    ),
    CannedQuery(
        "finding_response",
        "The raw GitLab response behind a finding",
        "For one promotion (project, e.g. evenergi/charge-api, and MR iid) and rule (e.g. "
        "SH12): the finding from the newest finished run, and each stored GitLab response "
        "of the endpoints that rule reads which the promotion's evidence holds "
        "(promotion_evidence, by body SHA-256), with its body, the promotion's own project "
        "first. Evidence is kept by body, so an equal body fetched from several URLs (an "
        "empty list) is listed under each. An endpoint that could not be read has no evidence "
        "here: see 'Unknowns by endpoint'.",
        _finding_response_sql(),
    ),
)


def metadata(database: str) -> dict[str, Any]:
    """Datasette's metadata (0.65) for a store served as `database`."""
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "databases": {
            database: {
                "description": "One auditor store: runs, promotions, findings, and evidence.",
                "tables": {
                    name: {"description": doc.description, "columns": dict(doc.columns)}
                    for name, doc in TABLES.items()
                },
                "queries": {
                    q.name: {"title": q.title, "description": q.description, "sql": q.sql}
                    for q in QUERIES
                },
            }
        },
    }


def check_store(path: Path) -> None:
    """BrowseError unless `path` is an auditor store of this version that an immutable open
    shows whole. Opens it immutable itself, so even this check writes nothing."""
    from auditor.store import APPLICATION_ID, MIGRATIONS

    if not path.is_file():
        raise BrowseError(f"no evidence store at {path} (run auditor sweep first, or --db)")
    if any(c in str(path) for c in "?#%"):
        # Datasette opens `file:PATH?immutable=1` without quoting the path
        raise BrowseError(f"cannot browse {path}: '?', '#' or '%' in its path; rename or move it")
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # An immutable open ignores the write-ahead log: it would show stale evidence.
        raise BrowseError(
            f"{path} has writes not yet folded in ({wal.name}): a sweep is running or was "
            f"killed; wait for it, or run auditor history --db {path} once"
        )
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise BrowseError(f"cannot open {path}: {exc}") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        row = None
        if app_id == APPLICATION_ID:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        app_id, row = None, None
    finally:
        conn.close()
    if app_id != APPLICATION_ID or row is None:
        raise BrowseError(f"{path} is not an auditor store; choose another --db path")
    version, known = int(row[0]), len(MIGRATIONS)
    if version > known:
        raise BrowseError(
            f"{path} was written by a newer auditor (schema {version}; this one knows up to "
            f"{known}); upgrade auditor"
        )
    if version < known:
        raise BrowseError(
            f"{path} has an older schema ({version}); run auditor history --db {path} once "
            "to upgrade it, then browse"
        )


def _builtin_plugins_only() -> None:
    """Unregister every plugin Datasette found installed: one could add a write API or a
    page that contacts another host. Its own default plugins stay."""
    from datasette.plugins import DEFAULT_PLUGINS, pm

    for plugin in list(pm.get_plugins()):
        if pm.get_name(plugin) not in DEFAULT_PLUGINS:
            pm.unregister(plugin)


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
SAFE_METHODS = frozenset({"GET", "HEAD"})


def read_only(app: ASGIApp) -> ASGIApp:
    """`app` behind a gate that answers 405 to every method but GET and HEAD: nothing that
    could write (or run a canned query's POST) ever reaches Datasette."""

    async def gate(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            body = b"auditor browse is read-only: only GET and HEAD\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"allow", b"GET, HEAD"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return gate


def serve(path: Path, port: int, ready: Callable[[str], None], debug: bool = False) -> None:
    """Serve `path` read-only on 127.0.0.1:`port` (0: any free port) until interrupted;
    `ready(url)` once it accepts requests. `debug`: Datasette's tracebacks on stderr."""
    try:
        import uvicorn
        from datasette.app import Datasette
    except ImportError:
        raise BrowseUnavailable(INSTALL_HINT) from None
    check_store(path)
    _builtin_plugins_only()
    # Datasette prints every exception it turns into an error page (a refused INSERT too),
    # with its locals, on rich's global console, stdout by default. Stdout carries only the
    # ready line, and the page already says what went wrong: on stderr under --debug only.
    import rich

    rich.reconfigure(file=sys.stderr if debug else open(os.devnull, "w"))  # noqa: SIM115
    name = path.stem
    ds = Datasette(
        immutables=[str(path.resolve())],
        metadata=metadata(name),
        settings={
            # the whole file would include every cached answer; the tables and CSVs suffice
            "allow_download": False,
            # response bodies are the evidence: shown whole, not cut at 2,000 characters
            "truncate_cells_html": 0,
        },
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise BrowseError(f"cannot listen on port {port}: {exc.strerror}") from None
    url = f"http://{HOST}:{sock.getsockname()[1]}{ds.urls.database(name)}"

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                ready(url)

    config = uvicorn.Config(
        read_only(ds.app()), log_level="warning", access_log=False, lifespan="on", workers=1
    )
    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn has shut down cleanly and re-raises the signal it caught: a normal stop
        pass
    finally:
        sock.close()
