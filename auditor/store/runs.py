"""The store's runs: beginning, resuming and finishing a run, recording its results (each
promotion with its findings and the responses it rests on, drift, cut-offs, reverts), and
reading them back: the runs as `RunRecord`s, a run's `Report` and `SweepExtras`, or all of
it at once as an `AuditRun` (`load`). Reading never touches GitLab."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from auditor.findings import (
    AttemptSummary,
    ChecksRan,
    Deployed,
    EvidenceLink,
    Finding,
    Labelled,
    Milestones,
    MRSummary,
    Picked,
    PipelineCreated,
    PromotionResult,
    ReleaseJobRan,
    Report,
    Status,
    Unread,
    ValidationNote,
    Verdict,
)
from auditor.gaps import gaps_from_coverage
from auditor.identity import MRId
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.run_record import AuditRun, RunRecord
from auditor.store.cache import redact_url
from auditor.store.database import (
    Database,
    StoreDatabase,
    StoreError,
    _chunks,
    _dumps_loose,
    _now,
    _parse_timestamp,
    _timestamp,
)

# complete: finished and nothing left unread; incomplete: finished, but something could not
# be established (its coverage names each gap); failed/interrupted: ended before finishing.
RUN_STATUSES = frozenset({"running", "complete", "incomplete", "failed", "interrupted"})
FINISHED_STATUSES = frozenset({"complete", "incomplete", "failed", "interrupted"})
# Runs whose results stand (every promotion found was audited or named as a gap).
RESULT_STATUSES = ("complete", "incomplete")


def _attempts_json(attempts: Iterable[AttemptSummary]) -> str:
    rows = [
        {k: _timestamp(v) if isinstance(v, datetime) else v for k, v in vars(a).items()}
        for a in attempts
    ]
    return json.dumps(rows, ensure_ascii=False)


def _attempts_from(text: str | None) -> tuple[AttemptSummary, ...]:
    """Attempts as stored; timestamps parsed back, SHAs as the tuple they were."""
    out = []
    for row in json.loads(text or "[]"):
        for key in ("reached_release_at", "deployed_at", "validated_at", "reverted_at"):
            row[key] = _parse_timestamp(row.get(key))
        row["picks"] = tuple(row.get("picks") or ())
        out.append(AttemptSummary(**row))
    return tuple(out)


# Each milestone step's type, by field; a stored step is {"unread": reason}, null, or the
# fact's fields (timestamps as the report writes them).
_STEPS: dict[str, type[Any]] = {
    "picked": Picked,
    "pipeline": PipelineCreated,
    "release_job": ReleaseJobRan,
    "deployed": Deployed,
    "checks": ChecksRan,
    "validated": ValidationNote,
    "labelled": Labelled,
}


def _milestones_json(m: Milestones | None) -> str | None:
    if m is None:
        return None

    def step(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, Unread):
            return {"unread": value.reason}
        return {
            k: _timestamp(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in vars(value).items()
        }

    merged = m.merged_at
    row: dict[str, object] = {
        "attempt": m.attempt,
        "merged_at": step(merged) if isinstance(merged, Unread) else _timestamp(merged),
    }
    row.update({name: step(getattr(m, name)) for name in _STEPS})
    return json.dumps(row, ensure_ascii=False)


def _milestones_from(text: str | None) -> Milestones | None:
    """Milestones as stored; None when the run did not record them."""
    if not text:
        return None
    row = json.loads(text)

    def step(kind: type[Any], value: dict[str, Any] | None) -> Any:  # that kind, Unread or None
        if value is None:
            return None
        if "unread" in value:
            return Unread(str(value["unread"]))
        fields = {f.name for f in dataclasses.fields(kind)}
        args = {k: v for k, v in value.items() if k in fields}
        for key in ("at",):
            if key in args:
                args[key] = _parse_timestamp(args[key])
        if "shas" in args:
            args["shas"] = tuple(args["shas"])
        return kind(**args)

    return Milestones(
        attempt=row.get("attempt"),
        merged_at=Unread(str(merged["unread"]))
        if isinstance(merged := row.get("merged_at"), dict)
        else _parse_timestamp(merged),
        **{name: step(kind, row.get(name)) for name, kind in _STEPS.items()},
    )


def _drift(db: Database, run_id: int) -> tuple[Drift, ...]:
    return tuple(
        Drift(
            project=r["project"],
            service=r["service"],
            sha=r["sha"],
            title=r["title"] or "",
            deployed_at=_parse_timestamp(r["deployed_at"]),
        )
        for r in db.query("SELECT * FROM drift WHERE run_id = ? ORDER BY rowid", [run_id])
    )


def _cut_offs(db: Database, run_id: int) -> tuple[CutOff, ...]:
    return tuple(
        CutOff(
            project=r["project"],
            pipeline_id=int(r["pipeline_id"]),
            job_id=int(r["job_id"]),
            at=_parse_timestamp(r["at"]),
            by=r["by"],
        )
        for r in db.query("SELECT * FROM cut_offs WHERE run_id = ? ORDER BY rowid", [run_id])
    )


def _reverts(db: Database, run_id: int) -> tuple[DeployedRevert, ...] | None:
    recorded = db.execute("SELECT 1 FROM reverts_recorded WHERE run_id = ?", [run_id])
    if recorded.fetchone() is None:
        return None
    return tuple(
        DeployedRevert(
            project=r["project"],
            service=r["service"],
            sha=r["sha"],
            reverts=r["reverts"],
            deployed_at=_parse_timestamp(r["deployed_at"]),
        )
        for r in db.query("SELECT * FROM reverts WHERE run_id = ? ORDER BY rowid", [run_id])
    )


class RunStore(StoreDatabase):
    """The runs of one store and everything they recorded."""

    # -- runs ---------------------------------------------------------------------------

    def _process_gone(self, pid: int | None, host: str | None) -> bool:
        """Whether the process that started a 'running' run can no longer be running it."""
        if self._holding_lock:
            # Every sweep holds exclusive() while it runs, so holding it ourselves proves
            # no other sweep is alive (and covers pid reuse and other hosts).
            return True
        if pid is None or host != socket.gethostname() or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, someone else's
        return False

    def begin_run(
        self,
        *,
        window_from: datetime,
        window_to: datetime,
        services: list[str],
        config_sha256: str,
        rulebook_sha256: str,
        tool_version: str,
        gitlab_url: str,
    ) -> int:
        """Start a run, or resume the same unfinished run whose process died.

        Same = same window, services, config and rulebook hashes, and also the same
        tool version and GitLab URL (results of two auditors or two GitLabs must not be
        merged into one run). Other dead unfinished runs become 'interrupted'.
        Call it inside `exclusive()`. The URL is kept without credentials.
        """
        if not services:
            raise ValueError("begin_run needs the services the run covers")
        key = {
            "window_from": _timestamp(window_from),
            "window_to": _timestamp(window_to),
            "services": json.dumps(sorted(set(services))),
            "config_sha256": config_sha256,
            "rulebook_sha256": rulebook_sha256,
            "tool_version": tool_version,
            "gitlab_url": redact_url(gitlab_url),
        }
        now = _now()
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        with self._write() as db:
            unfinished = list(
                db.query("SELECT * FROM runs WHERE status = 'running' ORDER BY id DESC")
            )
            resumed: int | None = None
            for run in unfinished:
                if not self._process_gone(run["pid"], run["host"]):
                    continue  # a live run is not ours to touch
                if resumed is None and all(run[k] == v for k, v in key.items()):
                    resumed = int(run["id"])
                    db.execute(
                        "UPDATE runs SET pid = ?, host = ?, resumes = resumes + 1, "
                        "resumed_at = ? WHERE id = ?",
                        [me["pid"], me["host"], now, resumed],
                    )
                else:
                    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", [run["id"]])
            if resumed is not None:
                return resumed
            cursor = db.execute(
                "INSERT INTO runs (status, window_from, window_to, services, config_sha256, "
                "rulebook_sha256, tool_version, gitlab_url, started_at, pid, host) "
                "VALUES ('running', :window_from, :window_to, :services, :config_sha256, "
                ":rulebook_sha256, :tool_version, :gitlab_url, :started_at, :pid, :host)",
                {**key, "started_at": now, **me},
            )
            return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        requests: int,
        coverage: dict[str, object],
        summary: dict[str, object],
    ) -> None:
        if status not in FINISHED_STATUSES:
            raise ValueError(
                f"run status must be one of {', '.join(sorted(FINISHED_STATUSES))}, not {status!r}"
            )
        with self._write() as db:
            cursor = db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, requests = ?, coverage = ?, "
                "summary = ? WHERE id = ?",
                [status, _now(), requests, _dumps_loose(coverage), _dumps_loose(summary), run_id],
            )
            if cursor.rowcount == 0:
                raise StoreError(f"no run {run_id} in {self.path}")

    def _require_run(self, db: Database, run_id: int) -> dict[str, Any]:
        rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise StoreError(f"no run {run_id} in {self.path}")
        return rows[0]

    # -- results ------------------------------------------------------------------------

    def record_promotion(
        self,
        run_id: int,
        result: PromotionResult,
        evidence: Iterable[str] = (),
        position: int | None = None,
    ) -> int:
        """Upsert one (MR, service) result of a run; its findings and evidence are replaced
        in the same transaction, so a rerun never leaves both old and new findings.
        `position`: its place in the run's report (None: after those placed, in the order
        written)."""
        mr = result.mr
        promotion = {
            "run_id": run_id,
            "project": mr.project,
            "iid": mr.iid,
            "service": result.service,
            "title": mr.title,
            "web_url": mr.web_url,
            "merged_at": _timestamp(mr.merged_at),
            "verdict": str(result.verdict),
            "evaluated_at": _now(),
            "attempts": _attempts_json(result.attempts),
            "milestones": _milestones_json(result.milestones),
            "position": position,
        }
        findings = [
            {
                "position": position,
                "rule": f.rule,
                "name": f.name,
                "status": str(f.status),
                "summary": f.summary,
                "evidence": json.dumps(
                    [
                        {"kind": e.kind, "id": e.id, "url": e.url, "at": _timestamp(e.at)}
                        for e in f.evidence
                    ],
                    ensure_ascii=False,
                ),
            }
            for position, f in enumerate(result.findings)
        ]
        hashes = sorted({h.lower() for h in evidence})
        with self._write() as db:
            self._require_run(db, run_id)
            db.execute(
                "INSERT INTO promotions (run_id, project, iid, service, title, web_url, "
                "merged_at, verdict, evaluated_at, attempts, milestones, position) VALUES "
                "(:run_id, :project, :iid, :service, :title, :web_url, :merged_at, :verdict, "
                ":evaluated_at, :attempts, :milestones, :position) "
                "ON CONFLICT (run_id, project, iid, service) DO UPDATE SET "
                "title = excluded.title, web_url = excluded.web_url, "
                "merged_at = excluded.merged_at, verdict = excluded.verdict, "
                "evaluated_at = excluded.evaluated_at, attempts = excluded.attempts, "
                "milestones = excluded.milestones, position = excluded.position",
                promotion,
            )
            # ON CONFLICT keeps the row's id, and lastrowid is unreliable after an update.
            promotion_id = int(
                db.conn.execute(
                    "SELECT id FROM promotions WHERE run_id = ? AND project = ? AND iid = ? "
                    "AND service = ?",
                    [run_id, mr.project, mr.iid, result.service],
                ).fetchone()[0]
            )
            db.execute("DELETE FROM findings WHERE promotion_id = ?", [promotion_id])
            db.execute("DELETE FROM promotion_evidence WHERE promotion_id = ?", [promotion_id])
            if findings:
                db.table("findings").insert_all(
                    [{"promotion_id": promotion_id, **row} for row in findings]
                )
            if hashes:
                db.table("promotion_evidence").insert_all(
                    [{"promotion_id": promotion_id, "sha256": h} for h in hashes]
                )
        return promotion_id

    def record_drift(self, run_id: int, rows: Iterable[Drift]) -> None:
        """Upsert on (run_id, project, service, sha)."""
        records = [
            {
                "run_id": run_id,
                "project": d.project,
                "service": d.service,
                "sha": d.sha,
                "title": d.title,
                "deployed_at": _timestamp(d.deployed_at),
            }
            for d in rows
        ]
        if not records:
            return
        with self._write() as db:
            self._require_run(db, run_id)
            db.table("drift").upsert_all(records, pk=("run_id", "project", "service", "sha"))

    def record_cut_offs(self, run_id: int, rows: Iterable[CutOff]) -> None:
        """Upsert on (run_id, pipeline_id, job_id)."""
        records = [
            {
                "run_id": run_id,
                "project": c.project,
                "pipeline_id": int(c.pipeline_id),
                "job_id": int(c.job_id),
                "at": _timestamp(c.at),
                "by": c.by,
            }
            for c in rows
        ]
        if not records:
            return
        with self._write() as db:
            self._require_run(db, run_id)
            db.table("cut_offs").upsert_all(records, pk=("run_id", "pipeline_id", "job_id"))

    def record_reverts(self, run_id: int, rows: Iterable[DeployedRevert]) -> None:
        """Upsert on (run_id, project, service, sha), and mark the run's reverts as
        recorded (even when there are none: then they are known to be none)."""
        records = [
            {
                "run_id": run_id,
                "project": r.project,
                "service": r.service,
                "sha": r.sha,
                "reverts": r.reverts,
                "deployed_at": _timestamp(r.deployed_at),
            }
            for r in rows
        ]
        with self._write() as db:
            self._require_run(db, run_id)
            if records:
                db.table("reverts").upsert_all(records, pk=("run_id", "project", "service", "sha"))
            db.execute("INSERT OR IGNORE INTO reverts_recorded (run_id) VALUES (?)", [run_id])

    # -- reading (never touches GitLab) -------------------------------------------------

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs newest first, each with how many promotions it holds."""
        with self._read() as db:
            return self._run_records(db, limit=limit)

    def run(self, run_id: int) -> RunRecord:
        """One run (StoreError when there is none)."""
        with self._read() as db:
            self._require_run(db, run_id)
            [record] = self._run_records(db, run_id=run_id)
        return record

    def _latest_complete_runs(self, db: Database) -> dict[str, int]:
        """service -> the latest finished run that covered it with results (complete, or
        incomplete: its promotions stand, and what it could not read is in its gaps)."""
        latest: dict[str, int] = {}
        for run in db.query(
            "SELECT id, services FROM runs WHERE status IN ('complete', 'incomplete') "
            "ORDER BY finished_at DESC, id DESC"
        ):
            for service in json.loads(run["services"]):
                latest.setdefault(service, int(run["id"]))
        return latest

    def promotions(
        self,
        *,
        run_id: int | None = None,
        service: str | None = None,
        verdict: str | None = None,
        rule: str | None = None,
        rule_status: str | Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Stored promotions with their findings (a list) and `evidence_sha256` (a list).

        run_id None: for each service, the rows of the latest finished run that covered it,
        so a later sweep of one service does not hide the others. `rule` with
        `rule_status`: promotions whose finding for that rule has that status (or one of
        several: `rule_status=("fail", "unknown")`); either alone: any finding with that
        rule / that status. Every promotion carries every rule, so `rule` alone filters
        nothing out.
        """
        if verdict is not None and verdict not in set(Verdict):
            raise ValueError(f"unknown verdict {verdict!r}; choose one of {', '.join(Verdict)}")
        statuses: list[str] = []
        if rule_status is not None:
            statuses = [rule_status] if isinstance(rule_status, str) else list(rule_status)
            for status in statuses:
                if status not in set(Status):
                    raise ValueError(
                        f"unknown status {status!r}; choose one of {', '.join(Status)}"
                    )
        where: list[str] = []
        params: list[Any] = []
        with self._read() as db:
            if run_id is not None:
                where.append("p.run_id = ?")
                params.append(run_id)
            else:
                latest = self._latest_complete_runs(db)
                if service is not None:
                    latest = {s: r for s, r in latest.items() if s == service}
                if not latest:
                    return []
                pairs = " OR ".join("(p.service = ? AND p.run_id = ?)" for _ in latest)
                where.append(f"({pairs})")
                for name, run in latest.items():
                    params += [name, run]
            if service is not None:
                where.append("p.service = ?")
                params.append(service)
            if verdict is not None:
                where.append("p.verdict = ?")
                params.append(verdict)
            if rule is not None or statuses:
                conditions = ["f.promotion_id = p.id"]
                if rule is not None:
                    conditions.append("f.rule = ?")
                    params.append(rule)
                if statuses:
                    conditions.append(f"f.status IN ({','.join('?' * len(statuses))})")
                    params += statuses
                where.append(f"EXISTS (SELECT 1 FROM findings f WHERE {' AND '.join(conditions)})")
            sql = "SELECT p.* FROM promotions p"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY p.run_id, p.id"
            rows = list(db.query(sql, params))
            self._attach_findings(db, rows)
        return rows

    def _attach_findings(self, db: Database, rows: list[dict[str, Any]]) -> None:
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row["findings"] = []
            row["evidence_sha256"] = []
        ids = list(by_id)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for f in db.query(
                "SELECT promotion_id, rule, name, status, summary, evidence FROM findings "
                f"WHERE promotion_id IN ({marks}) ORDER BY promotion_id, position",
                chunk,
            ):
                by_id[f.pop("promotion_id")]["findings"].append(
                    {**f, "evidence": json.loads(f["evidence"])}
                )
            for e in db.query(
                "SELECT promotion_id, sha256 FROM promotion_evidence "
                f"WHERE promotion_id IN ({marks}) ORDER BY promotion_id, sha256",
                chunk,
            ):
                by_id[e["promotion_id"]]["evidence_sha256"].append(e["sha256"])

    def report(self, run_id: int) -> Report:
        """The run's findings.Report, rebuilt from the store alone (promotions in the sweep's
        order, or as first recorded for a run stored before that order was kept; generated_at
        is when the run finished, else when it started)."""
        with self._read() as db:
            return self._report(db, run_id)

    def _report(self, db: Database, run_id: int) -> Report:
        run = self._require_run(db, run_id)
        rows = list(
            db.query(
                "SELECT * FROM promotions WHERE run_id = ? ORDER BY position IS NULL, position, id",
                [run_id],
            )
        )
        self._attach_findings(db, rows)
        promotions = tuple(
            PromotionResult(
                mr=MRSummary(
                    project=row["project"],
                    iid=int(row["iid"]),
                    title=row["title"],
                    web_url=row["web_url"],
                    merged_at=_parse_timestamp(row["merged_at"]),
                ),
                service=row["service"],
                verdict=Verdict(row["verdict"]),
                findings=tuple(
                    Finding(
                        rule=f["rule"],
                        name=f["name"],
                        status=Status(f["status"]),
                        summary=f["summary"],
                        evidence=tuple(
                            EvidenceLink(
                                kind=e["kind"],
                                id=e["id"],
                                url=e["url"],
                                at=_parse_timestamp(e["at"]),
                            )
                            for e in f["evidence"]
                        ),
                    )
                    for f in row["findings"]
                ),
                attempts=_attempts_from(row.get("attempts")),
                milestones=_milestones_from(row.get("milestones")),
            )
            for row in rows
        )
        generated = _parse_timestamp(run["finished_at"] or run["started_at"])
        assert generated is not None  # started_at is NOT NULL
        return Report(
            gitlab_url=run["gitlab_url"],
            generated_at=generated,
            tool_version=run["tool_version"],
            promotions=promotions,
        )

    def drift(self, run_id: int) -> tuple[Drift, ...]:
        """The run's drift, in the order recorded."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _drift(db, run_id)

    def cut_offs(self, run_id: int) -> tuple[CutOff, ...]:
        """The run's played cut-off jobs, in the order recorded."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _cut_offs(db, run_id)

    def reverts(self, run_id: int) -> tuple[DeployedRevert, ...] | None:
        """The run's reverts, in the order recorded; None when the run did not record them
        (stored before reverts were kept, or it ended before its end): not known, not none."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _reverts(db, run_id)

    def extras(self, run_id: int) -> SweepExtras:
        """What the run found besides its promotions: drift, cut-offs, reverts (None when not
        recorded) and gaps, what the run could not establish (its coverage; a run stored
        before gaps were structured gives its text gaps with no service)."""
        with self._read() as db:
            return self._extras(db, run_id)

    def _extras(self, db: Database, run_id: int) -> SweepExtras:
        run = self._require_run(db, run_id)
        drift, cut_offs, reverts = (
            _drift(db, run_id),
            _cut_offs(db, run_id),
            _reverts(db, run_id),
        )
        coverage = None if run["coverage"] is None else json.loads(run["coverage"])
        return SweepExtras(drift, cut_offs, reverts, gaps_from_coverage(coverage))

    def load(self, run_id: int) -> AuditRun:
        """Everything run `run_id` left in the store, read in one snapshot (StoreError when
        there is no such run): the same values `run`, `report` and `extras` give, and each
        promotion's response hashes (`promotions(run_id=...)`'s `evidence_sha256`)."""
        with self._read() as db:
            report = self._report(db, run_id)
            [info] = self._run_records(db, run_id=run_id)
            extras = self._extras(db, run_id)
            evidence: dict[tuple[str, MRId], list[str]] = {}
            for row in db.query(
                "SELECT p.project, p.iid, p.service, e.sha256 FROM promotions p "
                "JOIN promotion_evidence e ON e.promotion_id = p.id "
                "WHERE p.run_id = ? ORDER BY p.id, e.sha256",
                [run_id],
            ):
                key = (row["service"], MRId(row["project"], int(row["iid"])))
                evidence.setdefault(key, []).append(row["sha256"])
        return AuditRun(
            info=info,
            report=report,
            extras=extras,
            evidence={key: tuple(hashes) for key, hashes in evidence.items()},
        )

    def _run_records(
        self, db: Database, *, run_id: int | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        """Runs newest first (or the one `run_id`), JSON columns decoded; StoreError for a
        run whose row cannot be read (a damaged file), never a half-read record."""
        sql = (
            "SELECT runs.*, (SELECT count(*) FROM promotions p WHERE p.run_id = runs.id) "
            "AS promotions FROM runs"
        )
        params: list[Any] = []
        if run_id is not None:
            sql += " WHERE id = ?"
            params.append(run_id)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        records = []
        for row in db.query(sql, params):
            try:
                row["services"] = json.loads(row["services"])
                for column in ("coverage", "summary"):
                    row[column] = None if row[column] is None else json.loads(row[column])
                records.append(RunRecord.from_row(row))
            except (KeyError, TypeError, ValueError) as exc:
                raise StoreError(
                    f"run {row.get('id')} in {self.path} cannot be read ({exc}); "
                    "the file is damaged"
                ) from exc
        return records
