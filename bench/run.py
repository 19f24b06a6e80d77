"""Benchmark, not a test: how many requests, how much time and memory the auditor needs, each
figure printed beside its lower bound or baseline, and written as JSON with the machine.

    python3 bench/run.py                 # the default run: under 10 minutes on 2 cores
    python3 bench/run.py --quick         # a smaller world, for a smoke run (~2 minutes)
    python3 bench/run.py --markdown      # the figures section of docs/performance.md,
                                         # from bench/results.json (no rerun)

A synthetic world (`synthetic_world(200)`: 200 promotions, 6 services, 1000 noise pipelines)
is served by the project's GitLab simulator in this process; the auditor runs as its own
process (`python -m auditor sweep ...`), so its CPU time and peak memory are its own
(`os.wait4`). Requests are counted by the simulator, by endpoint family (the simulator's own
route names). Injected latency (`Faults.latency`) is changed between stages on the one
server. Every figure is either measured, or computed from measured parts and labelled so;
which figures are computed depends on the time budget (`--budget`, default 540 s), so a
faster auditor gets more of its figures measured. docs/performance.md explains each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python3 bench/run.py` from a checkout: this tree's auditor
    sys.path.insert(0, str(ROOT))

from auditor.simulator.faults import Faults, FaultState  # noqa: E402
from auditor.simulator.server import API_PREFIX, ROUTES, SimulatorServer  # noqa: E402
from auditor.simulator.synthetic import synthetic_world  # noqa: E402
from auditor.simulator.world import World  # noqa: E402
from auditor.simulator.worlds import build_world, config_toml, load_module, services_of  # noqa: E402

SCHEMA = "auditor.bench/v1"
DEFAULT_JSON = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "performance.md"
DOC_START, DOC_END = "<!-- figures:start -->", "<!-- figures:end -->"
LATENCY = 0.05  # seconds per answer: a GitLab a few hundred km away
RATE_LIMIT = 600  # requests per minute
NO_LIMIT = 10**9  # the rate limit advertised when a stage is not about rate limits
PER_PAGE = 100  # what the auditor asks for, GitLab's maximum
DEFAULT_CONCURRENCY = 4
PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "promotions": 200,
        "noise": 1000,
        "renders": (20, 200, 2000),
        "budget": 540.0,
    },
    "quick": {"promotions": 30, "noise": 100, "renders": (5, 20, 50), "budget": 150.0},
}
MB = 1024 * 1024
MUST_RENDER = 200  # promotions: rendered whatever the budget says (the PDF targets' size)
# How the lower bound is computed, said once: printed, stored in the JSON, quoted in the doc.
BOUND_HOW = (
    "distinct GitLab objects the rules need, from the world's own objects: per MR its GET, "
    "approvals, notes and label events (pages of 100); per non-cut-off staging deployment in "
    "the window one compare (its answer lists the picks and reverts it added, so they cost no "
    "request of their own) and its pipeline's jobs and bridges; per orchestration pipeline in "
    "the window where a job was played its jobs and bridges; and the list pages: staging "
    "deployments per service and orchestration pipelines in the window (100 a page). MR commit "
    "lists, project and environment lookups and anything before the window are not counted, "
    "so the bound is below what any auditor needs."
)


# -- small values -----------------------------------------------------------------------------
@dataclass
class Machine:
    platform: str
    python: str
    cpu_count: int | None
    cpus_usable: int
    memory_bytes: int | None
    load_average: tuple[float, float, float]
    date: str
    auditor_commit: str


@dataclass
class Stage:
    """One run of something against the simulator: what GitLab was asked, and the cost."""

    requests: int
    by_family: dict[str, int]
    statuses: dict[str, int]
    wall_seconds: float
    auditor_cpu_seconds: float
    simulator_seconds: float  # time the simulator spent answering (under its lock)
    peak_rss_bytes: int
    exit_code: int


@dataclass
class Figure:
    """A wall time either measured or computed (and then how)."""

    seconds: float
    measured: bool
    how: str
    requests: int
    concurrency: int
    latency: float
    latency_bound_seconds: float
    model_seconds: float  # auditor CPU + simulator time + requests x latency / concurrency
    auditor_cpu_seconds: float | None = None
    peak_rss_bytes: int | None = None


@dataclass
class Target:
    name: str
    figure: str
    bound: str
    status: str  # MET, MISSED, NOT MEASURED


class Budget:
    """Seconds left for the whole run; a stage runs only if its projection fits."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.start = time.monotonic()

    def left(self) -> float:
        return self.total - (time.monotonic() - self.start)

    def fits(self, projected: float, keep: float = 0.0) -> bool:
        return projected <= self.left() - keep


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- the machine ------------------------------------------------------------------------------
def machine() -> Machine:
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        commit = head + ("+changes" if dirty else "") if head else "unknown"
    return Machine(
        platform=platform.platform(),
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
        cpus_usable=usable,
        memory_bytes=memory,
        load_average=os.getloadavg(),
        date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        auditor_commit=commit,
    )


# -- the served world -------------------------------------------------------------------------
_ROUTES = [(re.compile(pattern), name) for pattern, _, name in ROUTES]


def family(path: str) -> str:
    """The simulator's route name for a request path (`mr_notes`, `pipeline_jobs`, ...)."""
    rest = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
    for pattern, name in _ROUTES:
        if pattern.fullmatch(rest):
            return name
    return "other"


class WindowFromNow(FaultState):
    """The simulator's one-minute rate-limit window, started when `restart()` is called
    instead of on the clock's minute: a rate-limited run starts with a whole window ahead
    of it, the worst case, so its wall time does not depend on the second it started."""

    origin = 0.0

    def restart(self) -> None:
        self.origin = time.time()
        self.reset()

    def _window(self, now: float) -> float:  # type: ignore[override]
        return self.origin + math.floor((now - self.origin) / 60) * 60


class Served:
    """A world served over HTTP, with the time the simulator spends answering recorded."""

    def __init__(self, world: World, services: dict[str, dict[str, Any]], workdir: Path) -> None:
        self.world = world
        self.faults = Faults()
        self.server = SimulatorServer(world, faults=self.faults)
        self.server.fault_state = WindowFromNow(self.faults)
        self.busy: list[tuple[float, float]] = []  # (finished at, seconds answering)
        self._busy_lock = threading.Lock()
        handle = self.server.api.handle
        lock = self.server.api.lock

        def timed(raw_path: str, raw_query: str) -> Any:
            with lock:  # RLock: handle() takes it again; waiting for it is not counted
                start = time.perf_counter()
                answer = handle(raw_path, raw_query)
                spent = time.perf_counter() - start
            with self._busy_lock:
                self.busy.append((time.time(), spent))
            return answer

        self.server.api.handle = timed  # type: ignore[method-assign]
        self.url = self.server.start()
        self.workdir = workdir
        self.config = workdir / f"auditor-{self.server.port}.toml"
        self.config.write_text(config_toml(self.url, services), encoding="utf-8")
        self.env = {
            **os.environ,
            "GITLAB_TOKEN": world.token,
            "AUDITOR_CONFIG": "",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }

    def stop(self) -> None:
        self.server.stop()

    def reset(self, latency: float = 0.0, rate_limit: int | None = None) -> None:
        self.faults.latency = latency
        self.faults.enforce_rate_limit = rate_limit is not None
        # Unless a stage is about the rate limit, GitLab advertises one that is never
        # approached (as a self-managed GitLab without limits would): else the auditor's
        # governor paces fast 0-latency runs against the simulator's default 2000/min.
        self.faults.rate_limit = rate_limit or NO_LIMIT
        self.server.reset_counts()
        if isinstance(self.server.fault_state, WindowFromNow):
            self.server.fault_state.restart()
        with self._busy_lock:
            self.busy.clear()

    def busy_between(self, start: float, end: float) -> float:
        with self._busy_lock:
            return sum(s for at, s in self.busy if start <= at <= end)

    def counted(self, start: float = 0.0, end: float = math.inf) -> tuple[int, Counter, Counter]:
        reqs = [r for r in list(self.server.requests) if start <= r.at <= end]
        return (
            len(reqs),
            Counter(family(r.path) for r in reqs),
            Counter(str(r.status) for r in reqs),
        )


def run_process(argv: Sequence[str], env: dict[str, str], out: Path) -> tuple[int, float, Any]:
    """Run a child to the end: (exit code, wall seconds, its own rusage)."""
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage


def cpu_of(usage: Any) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def rss_of(usage: Any) -> int:
    return int(usage.ru_maxrss) * 1024  # kilobytes on Linux


def auditor_run(served: Served, args: Sequence[str], name: str) -> Stage:
    """`python -m auditor --config ... ARGS` as its own process, against `served`."""
    argv = [sys.executable, "-m", "auditor", "--config", str(served.config), *args]
    code, wall, usage = run_process(argv, served.env, served.workdir / f"{name}.out")
    if code not in (0, 1, 3):
        err = (served.workdir / f"{name}.err").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name}: auditor exited {code}\n{err}")
    n, fams, statuses = served.counted()
    return Stage(
        requests=n,
        by_family=dict(fams.most_common()),
        statuses=dict(statuses),
        wall_seconds=wall,
        auditor_cpu_seconds=cpu_of(usage),
        simulator_seconds=served.busy_between(0, math.inf),
        peak_rss_bytes=rss_of(usage),
        exit_code=code,
    )


def sweep_args(world: World, db: Path, concurrency: int) -> list[str]:
    window = world.expect["window"]  # type: ignore[attr-defined]
    return [
        "sweep",
        "--from",
        window["from"],
        "--to",
        window["to"],
        "--db",
        str(db),
        "--now",
        world.now.isoformat(),
        "--format",
        "json",
        "--concurrency",
        str(concurrency),
    ]


# -- checks, one MR at a time (in a worker process, so their CPU is their own) ----------------
@dataclass
class CheckRun:
    target: str
    promotions: int
    requests: int
    by_family: dict[str, int]
    wall_seconds: float
    auditor_cpu_seconds: float
    simulator_seconds: float
    exit_code: int


def checks(served: Served, targets: Sequence[str], name: str) -> tuple[list[CheckRun], int]:
    """`auditor check` of each target, one after the other in one worker process (no
    interpreter start-up per check), nothing shared between them. Returns the runs and the
    worker's peak RSS."""
    if not targets:
        return [], 0
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_checks",
        str(served.config),
        served.world.now.isoformat(),
        *targets,
    ]
    out = served.workdir / f"{name}.jsonl"
    code, _, usage = run_process(argv, served.env, out)
    if code != 0:
        err = out.with_suffix(".err").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name}: check worker exited {code}\n{err}")
    runs = []
    for line in out.read_text().splitlines():
        row = json.loads(line)
        n, fams, _ = served.counted(row["start"], row["end"])
        runs.append(
            CheckRun(
                target=row["target"],
                promotions=row["promotions"],
                requests=n,
                by_family=dict(fams.most_common()),
                wall_seconds=row["end"] - row["start"],
                auditor_cpu_seconds=row["cpu"],
                simulator_seconds=served.busy_between(row["start"], row["end"]),
                exit_code=row["exit_code"],
            )
        )
    return runs, rss_of(usage)


def _checks_worker(config: str, now: str, targets: Sequence[str]) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    for target in targets:
        start, cpu = time.time(), time.process_time()
        result = CliRunner().invoke(
            app,
            ["--config", config, "check", target, "--format", "json", "--now", now],
            env={"AUDITOR_CONFIG": ""},
        )
        end, used = time.time(), time.process_time() - cpu
        try:
            promotions = len(json.loads(result.stdout)["promotions"])
        except (ValueError, KeyError):
            promotions = 0
        row = {
            "target": target,
            "start": start,
            "end": end,
            "cpu": used,
            "exit_code": result.exit_code,
            "promotions": promotions,
        }
        print(json.dumps(row), flush=True)
        time.sleep(0.01)  # a gap, so requests are attributed by time without doubt


def spread(items: Sequence[Any]) -> list[Any]:
    """`items` reordered so that every prefix is spread evenly over them (newest, oldest,
    middle, quarters, ...): a sample cut short by the budget still covers the whole range."""
    n = len(items)
    order: list[int] = []
    seen: set[int] = set()
    parts = 1
    while len(order) < n:
        for k in range(parts + 1):
            i = min(n - 1, round(k * (n - 1) / parts)) if parts else 0
            if i not in seen:
                seen.add(i)
                order.append(i)
        parts *= 2
    return [items[i] for i in order]


# -- the lower bound --------------------------------------------------------------------------
def pages(count: int) -> int:
    return max(1, math.ceil(count / PER_PAGE))


def lower_bound(world: World) -> dict[str, Any]:
    """Requests a sweep of the world's window cannot do without (see BOUND_HOW), by the
    simulator route that would serve each, and per promotion; also a `check` bound per
    promotion (the same objects for one MR, with one page of each list)."""
    from auditor.simulator.flows import ORCHESTRATION

    expect = world.expect  # type: ignore[attr-defined]
    plan = world.plan  # type: ignore[attr-defined]
    config = world.services_config  # type: ignore[attr-defined]
    start = datetime.fromisoformat(expect["window"]["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(expect["window"]["to"].replace("Z", "+00:00"))
    bound: Counter[str] = Counter()
    mrs = {(p["project"], p["iid"]) for p in expect["promotions"]}
    for path, iid in mrs:
        mr = world.projects[path].mrs[iid]
        bound["mr_get"] += 1
        bound["mr_approvals"] += 1
        bound["mr_notes"] += pages(len(mr.notes))
        bound["mr_label_events"] += pages(len(mr.label_events))
    orch = world.projects[ORCHESTRATION]
    orch_pipelines = [p for p in orch.pipelines if start <= p.created_at <= end]
    played = [
        p
        for p in orch_pipelines
        if any(j.status not in ("manual", "created", "skipped") for j in p.jobs())
    ]
    cut_off_downstream = {
        j.downstream.id
        for p in played
        if any("cut-off" in j.name and j.status != "manual" for j in p.jobs())
        for j in p.jobs(include_retried=True)
        if j.downstream is not None
    }
    for p in played:
        bound["pipeline_jobs"] += pages(len([j for j in p.jobs() if not j.bridge]))
        bound["pipeline_bridges"] += pages(len([j for j in p.jobs() if j.bridge]))
    bound["pipeline_list"] += pages(len(orch_pipelines))
    deployments = 0
    for table in config.values():
        project = world.projects[table["project"]]
        env = table.get("staging_environment", "staging")
        in_window = [
            d
            for d in project.deployments
            if d.environment.name == env and start <= d.created_at <= end
        ]
        bound["deployment_list"] += pages(len(in_window))
        for d in in_window:
            pipeline = d.deployable.pipeline
            if pipeline.id in cut_off_downstream:
                continue
            deployments += 1
            if d.status == "success":
                bound["compare"] += 1
            bound["pipeline_jobs"] += pages(len([j for j in pipeline.jobs() if not j.bridge]))
            bound["pipeline_bridges"] += pages(len([j for j in pipeline.jobs() if j.bridge]))
    promotions = len(expect["promotions"])
    total = sum(bound.values())
    # check: the MR's own objects, and per service the release's
    # orchestration pipeline and deployment pipeline (jobs + bridges each), one compare, one
    # page of deployments and one of orchestration pipelines.
    check_total = 0
    for path, iid in mrs:
        mr = world.projects[path].mrs[iid]
        hotfix = next(h for h in plan.hotfixes if (h.project, h.iid) == (path, iid))
        flows = 2 if hotfix.kind in ("smoke_failed_reverted", "rollback") else 1
        check_total += 2 + pages(len(mr.notes)) + pages(len(mr.label_events))
        check_total += len(hotfix.services) * (flows * (2 + 2 + 1) + 2)
    return {
        "total": total,
        "per_promotion": total / promotions,
        "by_family": dict(bound.most_common()),
        "check_per_promotion": check_total / promotions,
        "promotions": promotions,
        "mrs": len(mrs),
        "deployments": deployments,
        "orchestration_pipelines": len(orch_pipelines),
        "orchestration_pipelines_played": len(played),
        "how": BOUND_HOW,
    }


# -- rendering (in a worker process per size) -------------------------------------------------
def fill_store(source_db: Path, db: Path, count: int) -> dict[str, Any]:
    """A store with one service (`big`) of `count` promotions: copies of the compliant
    results of a sweep (`source_db`), each its own MR. Falls back to every result when the
    sweep found none compliant."""
    from auditor.findings import Verdict
    from auditor.store import EvidenceStore

    with EvidenceStore(source_db) as source:
        run = source.runs()[0]
        results = list(source.report(run.id).promotions)
        url = run.gitlab_url or "http://127.0.0.1"
    compliant = [r for r in results if r.verdict == Verdict.COMPLIANT]
    pool = compliant or results
    db.unlink(missing_ok=True)
    with EvidenceStore(db) as store:
        run_id = store.begin_run(
            window_from=datetime(2026, 11, 2, tzinfo=UTC),
            window_to=datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC),
            services=["big"],
            config_sha256="0" * 64,
            rulebook_sha256="0" * 64,
            tool_version="bench",
            gitlab_url=url,
        )
        for n in range(count):
            result = pool[n % len(pool)]
            mr = dataclasses.replace(result.mr, iid=100000 + n, title=f"{result.mr.title} #{n}")
            store.record_promotion(run_id, dataclasses.replace(result, service="big", mr=mr))
        store.finish_run(run_id, status="complete", requests=0, coverage={}, summary={})
    return {"run_id": run_id, "all_compliant": bool(compliant)}


def _render_worker(db: str, run_id: int, pdf: bool) -> None:
    from auditor.report.html import build_service_pages, render_service
    from auditor.report.pdf import LocalOnlyFetcher, render_pdf
    from auditor.store import EvidenceStore

    start = time.perf_counter()
    with EvidenceStore(Path(db)) as store:
        (page,) = build_service_pages(store, run_id)
        html = render_service(page)
    out: dict[str, Any] = {
        "html_seconds": time.perf_counter() - start,
        "html_peak_rss_bytes": rss_of(resource.getrusage(resource.RUSAGE_SELF)),
        "html_bytes": len(html.encode()),
    }
    if pdf:
        # what `auditor report` lays out: the print rendering of the same page, in which a
        # compliant promotion is one row (auditor/report/site.py)
        start = time.perf_counter()
        data = render_pdf(render_service(page, for_print=True), fetcher=LocalOnlyFetcher()) or b""
        out["pdf_seconds"] = time.perf_counter() - start
        out["pdf_peak_rss_bytes"] = rss_of(resource.getrusage(resource.RUSAGE_SELF))
        out["pdf_bytes"] = len(data)
        out["pdf_pages"] = pdf_pages(data)
    print(json.dumps(out))


def pdf_pages(data: bytes) -> int | None:
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    return len(PdfReader(io.BytesIO(data)).pages)


def render(source_db: Path, workdir: Path, count: int, pdf: bool) -> dict[str, Any]:
    db = workdir / f"render-{count}.db"
    filled = fill_store(source_db, db, count)
    argv = [sys.executable, str(Path(__file__).resolve()), "_render", str(db)]
    argv += [str(filled["run_id"]), "pdf" if pdf else "html"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    code, wall, usage = run_process(argv, env, workdir / f"render-{count}.json")
    if code != 0:
        err = (workdir / f"render-{count}.err").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"rendering {count} promotions failed ({code})\n{err}")
    row = json.loads((workdir / f"render-{count}.json").read_text())
    return {
        "promotions": count,
        "all_compliant": filled["all_compliant"],
        "pdf_measured": pdf,
        "process_peak_rss_bytes": rss_of(usage),
        **row,
    }


# -- the stages -------------------------------------------------------------------------------
def figure_from(stage: Stage, concurrency: int, latency: float, measured: bool, how: str) -> Figure:
    """A sweep's wall figure; `stage` is that sweep (measured) or the default-concurrency
    sweep its model starts from (computed)."""
    waiting = stage.requests * latency / DEFAULT_CONCURRENCY
    model = max(0.0, stage.wall_seconds - waiting) + stage.requests * latency / concurrency
    return Figure(
        seconds=stage.wall_seconds if measured else model,
        measured=measured,
        how=how,
        requests=stage.requests,
        concurrency=concurrency,
        latency=latency,
        latency_bound_seconds=stage.requests * latency / concurrency,
        model_seconds=model,
        auditor_cpu_seconds=stage.auditor_cpu_seconds if measured else None,
        peak_rss_bytes=stage.peak_rss_bytes if measured else None,
    )


MODEL_HOW = (
    "computed: the default-concurrency cold sweep's measured wall minus its latency bound "
    "(the time it did not spend waiting on latency), plus requests x latency / concurrency"
)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    profile = PROFILES["quick" if args.quick else "default"]
    promotions = args.promotions or profile["promotions"]
    noise = args.noise if args.noise is not None else profile["noise"]
    sizes = tuple(args.render_sizes or profile["renders"])
    budget = Budget(args.budget or profile["budget"])
    latency = args.latency
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "machine": dataclasses.asdict(machine()),
        "options": {
            "profile": "quick" if args.quick else "default",
            "promotions": promotions,
            "noise_pipelines": noise,
            "latency_seconds": latency,
            "rate_limit_per_minute": args.rate_limit,
            "render_sizes": list(sizes),
            "budget_seconds": budget.total,
        },
        "notes": [],
    }
    notes: list[str] = out["notes"]
    workdir = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    log(f"building synthetic_world({promotions}, noise_pipelines={noise}) in {workdir}")
    started = time.perf_counter()
    world = synthetic_world(promotions, noise_pipelines=noise)
    built = time.perf_counter() - started
    expect = world.expect  # type: ignore[attr-defined]
    mrs = sorted({(p["project"], p["iid"]) for p in expect["promotions"]})
    out["world"] = {
        "promotions": len(expect["promotions"]),
        "mrs": len(mrs),
        "services": len(world.services_config),  # type: ignore[attr-defined]
        "noise_pipelines": noise,
        "pipelines": len(world.pipelines),
        "jobs": len(world.jobs),
        "window": expect["window"],
        "build_seconds": built,
    }
    out["lower_bound"] = bound = lower_bound(world)
    served = Served(world, world.services_config, workdir)  # type: ignore[attr-defined]
    try:
        measure_sweeps(served, out, latency)
        measure_checks(served, out)
        measure_rate_limit(out, args.rate_limit, latency, workdir, notes)
        measure_renders(out, budget, sizes, workdir / "cold-4.db", workdir, notes)
        measure_bundle(served, out)
        measure_naive(served, out, budget, latency, final=False)
        measure_other_concurrency(served, out, budget, latency, notes)
        measure_naive(served, out, budget, latency, final=True)
    finally:
        served.stop()
        shutil.rmtree(world.root, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    out["requests"]["lower_bound_per_promotion"] = bound["per_promotion"]
    out["memory"] = {
        "largest_sweep_peak_rss_bytes": max(
            (f["peak_rss_bytes"] or 0)
            for f in out["sweep"].values()
            if isinstance(f, dict) and f.get("measured")
        ),
    }
    out["targets"] = [dataclasses.asdict(t) for t in targets(out)]
    out["elapsed_seconds"] = time.monotonic() - budget.start
    return out


def measure_sweeps(served: Served, out: dict[str, Any], latency: float) -> None:
    world = served.world
    db = served.workdir / "cold-4.db"
    c = DEFAULT_CONCURRENCY
    log(f"cold sweep, --concurrency {c}, {latency * 1000:.0f} ms latency")
    served.reset(latency)
    cold = auditor_run(served, sweep_args(world, db, c), "cold-4")
    promotions = out["world"]["promotions"]
    out["stages"] = {"sweep_cold_c4": dataclasses.asdict(cold)}
    out["requests"] = {
        "sweep_cold": {
            "total": cold.requests,
            "per_promotion": cold.requests / promotions,
            "by_family": cold.by_family,
        }
    }
    out["sweep"] = {
        f"c{c}": dataclasses.asdict(figure_from(cold, c, latency, True, "measured")),
    }
    log(f"  {cold.requests} requests in {cold.wall_seconds:.1f} s; unchanged rerun")
    served.reset(latency)
    rerun = auditor_run(served, sweep_args(world, db, c), "rerun-4")
    out["stages"]["sweep_rerun_c4"] = dataclasses.asdict(rerun)
    out["rerun"] = {
        "requests": rerun.requests,
        "wall_seconds": rerun.wall_seconds,
        "requests_fraction": rerun.requests / max(1, cold.requests),
        "wall_fraction": rerun.wall_seconds / max(1e-9, cold.wall_seconds),
        "by_family": rerun.by_family,
    }
    # Figures of a sweep that got the answers wrong would mean nothing: say so if it did.
    out["correctness"] = {
        name: verdict_mismatches(world, served.workdir / f"{name}.out")
        for name in ("cold-4", "rerun-4")
    }


def verdict_mismatches(world: World, report: Path) -> list[str]:
    """Promotions whose verdict in a sweep's JSON report differs from what the world
    expects (missing or extra ones included); empty when the sweep got them all right."""
    expected = {
        f"{p['project']}!{p['iid']} {p['service']}": p["verdict"]
        for p in world.expect["promotions"]  # type: ignore[attr-defined]
    }
    try:
        doc = json.loads(report.read_text(encoding="utf-8"))
        found = {
            f"{p['mr']['project']}!{p['mr']['iid']} {p['service']}": p["verdict"]
            for p in doc["promotions"]
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"the report could not be read: {exc}"]
    return [
        f"{key}: expected {expected.get(key)}, got {found.get(key)}"
        for key in sorted(set(expected) | set(found))
        if expected.get(key) != found.get(key)
    ]


def measure_bundle(served: Served, out: dict[str, Any]) -> None:
    """`auditor report --bundle` of the cold sweep's whole store: every service's HTML and
    PDF, the evidence files and the manifest, as its own process."""
    log("report --bundle of the cold sweep's store")
    db, folder = served.workdir / "cold-4.db", served.workdir / "bundle"
    args = ["report", "--db", str(db), "--out", str(folder), "--bundle"]
    stage = auditor_run(served, args, "bundle")
    files = [f for f in folder.rglob("*") if f.is_file()]
    out["bundle"] = {
        "wall_seconds": stage.wall_seconds,
        "peak_rss_bytes": stage.peak_rss_bytes,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "pdf_pages": sum(pdf_pages(f.read_bytes()) or 0 for f in files if f.suffix == ".pdf"),
    }


def measure_checks(served: Served, out: dict[str, Any]) -> None:
    """`check` of the newest, middle and oldest MR of the large world (0 latency: requests
    are what counts here), and of `by_the_book`'s MR in its own world."""
    hotfixes = served.world.plan.hotfixes  # type: ignore[attr-defined]
    picked = {"newest": hotfixes[-1], "middle": hotfixes[len(hotfixes) // 2], "oldest": hotfixes[0]}
    log("check of the newest, middle and oldest MR")
    served.reset(0.0)
    runs, _ = checks(served, [h.target for h in picked.values()], "checks-nmo")
    out["checks"] = {}
    for (name, hotfix), run in zip(picked.items(), runs, strict=True):
        out["checks"][name] = {**dataclasses.asdict(run), "merged": _merged(served.world, hotfix)}
    out["naive_runs"] = [dataclasses.asdict(r) for r in runs]
    log("check of by_the_book")
    module = load_module("by_the_book")
    book = Served(build_world(module), services_of(module), served.workdir)
    try:
        book.reset(0.0)
        (run,), _ = checks(book, module.TARGETS[:1], "checks-book")
    finally:
        book.stop()
        shutil.rmtree(book.world.root, ignore_errors=True)
    out["checks"]["by_the_book"] = dataclasses.asdict(run)


def _merged(world: World, hotfix: Any) -> str | None:
    mr = world.projects[hotfix.project].mrs[hotfix.iid]
    return mr.merged_at.isoformat() if mr.merged_at else None


def measure_naive(
    served: Served,
    out: dict[str, Any],
    budget: Budget,
    latency: float,
    final: bool,
) -> None:
    """The naive baseline: every MR audited on its own with `auditor check`, one after the
    other, sharing no reads (no store, no in-run memo). Measured at 0 latency on as many
    MRs as the budget allows (spread over the window), extrapolated to all of them when
    cut short; its wall at the run's latency is computed (sequential: latencies add up)."""
    hotfixes = served.world.plan.hotfixes  # type: ignore[attr-defined]
    targets = list(dict.fromkeys(h.target for h in hotfixes))
    done = {r["target"] for r in out["naive_runs"]}
    todo = [t for t in spread(targets) if t not in done]
    runs = [CheckRun(**r) for r in out["naive_runs"]]
    per_check = sum(r.wall_seconds for r in runs) / max(1, len(runs))
    # a first pass takes a tenth of the budget, the final pass whatever is left
    allowance = budget.left() - 10.0
    if not final:
        allowance = min(allowance - 30.0, 0.1 * budget.total)
    count = min(len(todo), max(0, int(allowance / max(per_check, 0.05))))
    if count:
        log(f"naive baseline: check of {count} more MRs, one by one")
        served.reset(0.0)
        more, _ = checks(served, todo[:count], f"naive-{'final' if final else 'first'}")
        runs += more
        out["naive_runs"] = [dataclasses.asdict(r) for r in runs]
    sampled = len(runs)
    scale = len(targets) / sampled
    requests = sum(r.requests for r in runs) * scale
    cpu = sum(r.auditor_cpu_seconds for r in runs) * scale
    wall = sum(r.wall_seconds for r in runs) * scale
    promotions = sum(r.promotions for r in runs) * scale
    fams: Counter[str] = Counter()
    for r in runs:
        fams.update(r.by_family)
    complete = sampled == len(targets)
    how = (
        "computed: the wall time of every MR's check at 0 latency (measured) + requests x "
        "latency (one after the other, so the latencies add up)"
        if complete
        else f"computed: checks of {sampled} of {len(targets)} MRs (spread over the window) "
        "measured at 0 latency and scaled up: their wall time + requests x latency"
    )
    seconds = wall + requests * latency
    out["sweep"]["naive"] = dataclasses.asdict(
        Figure(
            seconds=seconds,
            measured=False,
            how=how,
            requests=round(requests),
            concurrency=1,
            latency=latency,
            latency_bound_seconds=requests * latency,
            model_seconds=seconds,
            auditor_cpu_seconds=cpu,
        )
    )
    out["requests"]["check_cold"] = {
        "total": round(requests),
        "per_promotion": requests / max(1, promotions),
        "by_family_per_promotion": {
            k: v / max(1, sum(r.promotions for r in runs)) for k, v in fams.most_common()
        },
        "mrs_sampled": sampled,
        "mrs": len(targets),
        "extrapolated": not complete,
    }


def measure_other_concurrency(
    served: Served, out: dict[str, Any], budget: Budget, latency: float, notes: list[str]
) -> None:
    """Cold sweeps at --concurrency 16 and 1: measured when the model says they fit in the
    budget, else computed from the default-concurrency sweep's measured parts."""
    cold = Stage(**out["stages"]["sweep_cold_c4"])
    for c in (16, 1):
        model = figure_from(cold, c, latency, False, MODEL_HOW)
        if budget.fits(model.model_seconds * 1.2 + 5, keep=20.0):
            log(f"cold sweep, --concurrency {c}, {latency * 1000:.0f} ms latency")
            served.reset(latency)
            stage = auditor_run(
                served, sweep_args(served.world, served.workdir / f"cold-{c}.db", c), f"cold-{c}"
            )
            fig = figure_from(stage, c, latency, True, "measured")
            fig.model_seconds = model.model_seconds
            out["stages"][f"sweep_cold_c{c}"] = dataclasses.asdict(stage)
        else:
            fig = model
            notes.append(
                f"cold sweep at --concurrency {c}: computed, not measured (the model says "
                f"{model.model_seconds:.0f} s, {budget.left():.0f} s of the budget were left)"
            )
        out["sweep"][f"c{c}"] = dataclasses.asdict(fig)


def measure_rate_limit(
    out: dict[str, Any],
    limit: int,
    latency: float,
    workdir: Path,
    notes: list[str],
) -> None:
    """A cold sweep under an enforced limit of `limit` requests a minute, of a world sized
    so the sweep needs about 1.5 minutes' worth of requests (a full-size sweep would take
    far longer than the budget). The size is calibrated: guessed from the large world's
    requests per promotion, then corrected once from an unlimited sweep of the guess."""
    big = out["world"]
    per_promotion = out["requests"]["sweep_cold"]["per_promotion"]
    wanted = 1.5 * limit

    def sized(n: int) -> tuple[World, int]:
        n = max(5, min(big["promotions"], n))
        noise = round(big["noise_pipelines"] * n / big["promotions"])
        log(f"rate limit {limit}/min: synthetic_world({n}, noise_pipelines={noise})")
        return synthetic_world(n, noise_pipelines=noise), noise

    n = round(wanted / max(per_promotion, 1.0))
    world, noise = sized(n)
    served = Served(world, world.services_config, workdir)  # type: ignore[attr-defined]
    try:
        served.reset(0.0)
        trial = auditor_run(
            served, sweep_args(world, workdir / "calibrate.db", DEFAULT_CONCURRENCY), "calibrate"
        )
    finally:
        served.stop()
    too_few = trial.requests < 1.2 * limit and n < big["promotions"]
    if too_few or trial.requests > 2.5 * limit:  # too many: minutes over the budget
        n = math.ceil(n * wanted / max(1, trial.requests))
        shutil.rmtree(world.root, ignore_errors=True)
        world, noise = sized(n)
    served = Served(world, world.services_config, workdir)  # type: ignore[attr-defined]
    try:
        served.reset(latency, rate_limit=limit)
        stage = auditor_run(
            served, sweep_args(world, workdir / "ratelimited.db", DEFAULT_CONCURRENCY), "ratelimit"
        )
    finally:
        served.stop()
        shutil.rmtree(world.root, ignore_errors=True)
    n = len(world.expect["promotions"])  # type: ignore[attr-defined]
    answered = stage.requests - stage.statuses.get("429", 0)
    out["rate_limit"] = {
        "limit_per_minute": limit,
        "world_promotions": n,
        "world_noise_pipelines": noise,
        "requests": stage.requests,
        "responses_429": stage.statuses.get("429", 0),
        "wall_seconds": stage.wall_seconds,
        "bound_seconds": answered / limit * 60,
        "limit_reached": answered > limit,
        "latency_seconds": latency,
    }
    if n < big["promotions"]:
        notes.append(
            f"rate limit: a {n}-promotion world, not the full one ({big['promotions']}), so "
            "the figure fits the budget; the window starts when the sweep does (worst case)"
        )


def measure_renders(
    out: dict[str, Any],
    budget: Budget,
    sizes: Sequence[int],
    source_db: Path,
    workdir: Path,
    notes: list[str],
) -> None:
    """HTML and PDF of one service with each size of promotions, each in a worker process.
    Sizes up to MUST_RENDER always; a larger one is skipped (and so marked) when its
    projection, linear from the previous size, would not fit the budget or would need more
    than a third of this machine's memory."""
    rows: list[dict[str, Any]] = []
    memory = out["machine"]["memory_bytes"] or 8 * 1024 * MB
    keep = 20.0  # a render cannot be computed; the naive baseline can be scaled up
    for size in sizes:
        prev = rows[-1] if rows else None
        pdf = True
        # up to 200 promotions (the targets' size) always; beyond it only what fits
        if size > MUST_RENDER and (prev is None or not prev.get("measured")):
            notes.append(f"render of {size} promotions: not measured (nothing to project from)")
            rows.append({"promotions": size, "measured": False})
            continue
        if prev is not None and size > MUST_RENDER:
            grow = size / prev["promotions"]
            html_s = prev["html_seconds"] * grow
            html_rss = prev["html_peak_rss_bytes"] * grow
            if not budget.fits(html_s * 1.2 + 10, keep=keep) or html_rss > memory / 3:
                notes.append(
                    f"render of {size} promotions: not measured (projected {html_s:.0f} s "
                    f"HTML, {html_rss / MB:.0f} MB; {budget.left():.0f} s of the budget left)"
                )
                rows.append({"promotions": size, "measured": False})
                continue
            if "pdf_seconds" in prev:
                pdf_s = prev["pdf_seconds"] * grow
                pdf_rss = prev["pdf_peak_rss_bytes"] * grow
                fits = budget.fits((pdf_s + html_s) * 1.2 + 10, keep=keep)
                pdf = fits and pdf_rss < memory / 3
                if not pdf:
                    notes.append(
                        f"PDF of {size} promotions: not measured (projected {pdf_s:.0f} s, "
                        f"{pdf_rss / MB:.0f} MB, linear from {prev['promotions']}; "
                        f"{budget.left():.0f} s of the budget left)"
                    )
            else:
                pdf = False
        log(f"render {size} promotions (HTML{' and PDF' if pdf else ''})")
        rows.append({**render(source_db, workdir, size, pdf), "measured": True})
    out["renders"] = rows


# -- targets ----------------------------------------------------------------------------------
def _status(ok: bool | None) -> str:
    return "NOT MEASURED" if ok is None else ("MET" if ok else "MISSED")


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def targets(r: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    cold = r["requests"]["sweep_cold"]["total"]
    bound = r["lower_bound"]["total"]
    out.append(
        Target(
            "cold sweep requests within 2x the lower bound",
            f"{cold} ({cold / bound:.2f}x)",
            f"<= {2 * bound}",
            _status(cold <= 2 * bound),
        )
    )
    book = r["checks"]["by_the_book"]["requests"]
    out.append(Target("check by the book <= 15 requests", str(book), "<= 15", _status(book <= 15)))
    oldest = r["checks"]["oldest"]["requests"]
    out.append(
        Target(
            "check of the large world's oldest MR <= 30 requests",
            str(oldest),
            "<= 30",
            _status(oldest <= 30),
        )
    )
    c4 = r["sweep"][f"c{DEFAULT_CONCURRENCY}"]
    out.append(
        Target(
            "cold sweep wall within 1.5x the latency bound (default concurrency)",
            f"{_s(c4['seconds'])} ({c4['seconds'] / max(1e-9, c4['latency_bound_seconds']):.2f}x)",
            f"<= {_s(1.5 * c4['latency_bound_seconds'])}",
            _status(c4["seconds"] <= 1.5 * c4["latency_bound_seconds"]),
        )
    )
    naive = r["sweep"]["naive"]
    speedup = naive["seconds"] / max(1e-9, c4["seconds"])
    out.append(
        Target(
            "cold sweep >= 5x faster than naive (naive computed)",
            f"{speedup:.1f}x",
            ">= 5x",
            _status(speedup >= 5),
        )
    )
    rr = r["rerun"]
    out.append(
        Target(
            "unchanged rerun < 5% of cold requests",
            f"{rr['requests']} ({rr['requests_fraction']:.1%})",
            "< 5%",
            _status(rr["requests_fraction"] < 0.05),
        )
    )
    out.append(
        Target(
            "unchanged rerun < 10% of cold time",
            f"{_s(rr['wall_seconds'])} ({rr['wall_fraction']:.1%})",
            "< 10%",
            _status(rr["wall_fraction"] < 0.10),
        )
    )
    rl = r["rate_limit"]
    reached = rl["limit_reached"]
    share = rl["responses_429"] / max(1, rl["requests"])
    out.append(
        Target(
            "under the rate limit: 429s < 1% of requests",
            f"{rl['responses_429']} ({share:.1%})",
            "< 1%",
            _status(share < 0.01) if reached else "NOT MEASURED",
        )
    )
    out.append(
        Target(
            "under the rate limit: wall within 1.2x requests / limit",
            _s(rl["wall_seconds"]),
            f"<= {_s(1.2 * rl['bound_seconds'])}",
            _status(rl["wall_seconds"] <= 1.2 * rl["bound_seconds"]) if reached else "NOT MEASURED",
        )
    )
    renders = {row["promotions"]: row for row in r["renders"]}
    r200 = renders.get(200)
    if r200 and r200.get("pdf_seconds") is not None:
        out.append(
            Target(
                "PDF of a 200-promotion service < 10 s",
                _s(r200["pdf_seconds"]),
                "< 10 s",
                _status(r200["pdf_seconds"] < 10),
            )
        )
        out.append(
            Target(
                "PDF of a 200-promotion service < 500 MB",
                f"{r200['pdf_peak_rss_bytes'] / MB:.0f} MB",
                "< 500 MB",
                _status(r200["pdf_peak_rss_bytes"] < 500 * MB),
            )
        )
        pages_ = r200.get("pdf_pages")
        ok = None if pages_ is None or not r200["all_compliant"] else pages_ < 40
        out.append(
            Target("PDF of 200 compliant promotions < 40 pages", str(pages_), "< 40", _status(ok))
        )
    else:
        for name in ("< 10 s", "< 500 MB", "< 40 pages"):
            out.append(Target(f"PDF of a 200-promotion service {name}", "-", name, "NOT MEASURED"))
    bundle = r.get("bundle")
    out.append(
        Target(
            "report --bundle of the large world's store < 2 minutes",
            f"{_s(bundle['wall_seconds'])}, {_mb(bundle['peak_rss_bytes'])}" if bundle else "-",
            "< 120 s",
            _status(bundle["wall_seconds"] < 120 if bundle else None),
        )
    )
    growth = render_growth(r["renders"])
    last = growth[-1] if growth else None
    for kind in ("html", "pdf"):
        ratio = last and last.get(f"{kind}_time_ratio")
        ok = None if not ratio else ratio <= 1.2 * last["size_ratio"]
        shown = f"{ratio:.1f}x for {last['size_ratio']:.1f}x" if ratio else "-"
        span = f"{last['from']} -> {last['to']}" if last else ""
        out.append(
            Target(
                f"{kind.upper()} time grows linearly up to {max(renders)} promotions ({span})",
                shown,
                "<= 1.2x linear",
                _status(ok if last and last["to"] == max(renders) else None),
            )
        )
    return out


def render_growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time and memory ratios between consecutive measured sizes."""
    out = []
    measured = [row for row in rows if row.get("measured")]
    for a, b in zip(measured, measured[1:], strict=False):
        entry: dict[str, Any] = {
            "from": a["promotions"],
            "to": b["promotions"],
            "size_ratio": b["promotions"] / a["promotions"],
        }
        for kind in ("html", "pdf"):
            if a.get(f"{kind}_seconds") and b.get(f"{kind}_seconds"):
                entry[f"{kind}_time_ratio"] = b[f"{kind}_seconds"] / a[f"{kind}_seconds"]
                entry[f"{kind}_rss_ratio"] = (
                    b[f"{kind}_peak_rss_bytes"] / a[f"{kind}_peak_rss_bytes"]
                )
        out.append(entry)
    return out


# -- output -----------------------------------------------------------------------------------
@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    footnotes: list[str] = field(default_factory=list)


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.0f} MB"


def sections(r: dict[str, Any]) -> list[Section]:
    out = []
    lb = r["lower_bound"]
    cold = r["requests"]["sweep_cold"]
    check = r["requests"]["check_cold"]
    promos = r["world"]["promotions"]
    fams = sorted(
        set(cold["by_family"]) | set(check["by_family_per_promotion"]) | set(lb["by_family"]),
        key=lambda f: -cold["by_family"].get(f, 0),
    )
    rows = []
    for f in fams:
        rows.append(
            [
                f,
                f"{check['by_family_per_promotion'].get(f, 0):.2f}",
                f"{cold['by_family'].get(f, 0) / promos:.2f}",
                f"{lb['by_family'][f] / promos:.2f}" if f in lb["by_family"] else "-",
            ]
        )
    rows.append(
        [
            "total",
            f"{check['per_promotion']:.2f}",
            f"{cold['per_promotion']:.2f}",
            f"{lb['per_promotion']:.2f}",
        ]
    )
    sampled = (
        f"check: every MR checked on its own ({check['mrs_sampled']} of {check['mrs']} MRs run"
        + (", scaled up)" if check["extrapolated"] else ")")
    )
    out.append(
        Section(
            f"Requests per promotion, cold, by endpoint family ({promos} promotions, "
            f"{r['world']['mrs']} MRs)",
            ["family", "check", "sweep", "lower bound"],
            rows,
            [sampled, f"lower bound: {lb['how']}"],
        )
    )
    rows = []
    for key in ("c1", "c4", "c16", "naive"):
        f = r["sweep"][key]
        label = "naive (check per MR, sequential)" if key == "naive" else f"--concurrency {key[1:]}"
        rows.append(
            [
                label,
                str(f["requests"]),
                _s(f["seconds"]),
                "measured" if f["measured"] else "COMPUTED",
                _s(f["latency_bound_seconds"]),
                f"{f['seconds'] / max(1e-9, f['latency_bound_seconds']):.2f}x",
                _mb(f.get("peak_rss_bytes")),
            ]
        )
    rr = r["rerun"]
    rows.append(
        [
            "unchanged rerun (c4)",
            f"{rr['requests']} ({rr['requests_fraction']:.1%})",
            f"{_s(rr['wall_seconds'])} ({rr['wall_fraction']:.1%})",
            "measured",
            "-",
            "-",
            "-",
        ]
    )
    foot = [
        f"latency {r['options']['latency_seconds'] * 1000:.0f} ms per answer; latency bound = "
        "requests x latency / concurrency",
        MODEL_HOW,
    ]
    foot += [f"naive: {r['sweep']['naive']['how']}"]
    out.append(
        Section(
            "Sweep wall time",
            ["run", "requests", "wall", "how", "latency bound", "vs bound", "peak RSS"],
            rows,
            foot,
        )
    )
    rl = r["rate_limit"]
    out.append(
        Section(
            f"Under a rate limit of {rl['limit_per_minute']}/min",
            ["world", "requests", "429s", "wall", "answered requests / limit"],
            [
                [
                    f"{rl['world_promotions']} promotions",
                    str(rl["requests"]),
                    str(rl["responses_429"]),
                    _s(rl["wall_seconds"]),
                    _s(rl["bound_seconds"]),
                ]
            ],
            [] if rl["limit_reached"] else ["the sweep needed fewer requests than the limit"],
        )
    )
    rows = []
    for name in ("by_the_book", "newest", "middle", "oldest"):
        c = r["checks"][name]
        rows.append([name, c["target"], str(c["promotions"]), str(c["requests"])])
    out.append(
        Section(
            "auditor check, requests",
            ["MR", "target", "promotions", "requests"],
            rows,
            [f"lower bound for a check: {lb['check_per_promotion']:.1f} per promotion"],
        )
    )
    rows = []
    for row in r["renders"]:
        if not row.get("measured"):
            rows.append([str(row["promotions"]), "not measured", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                str(row["promotions"]),
                _s(row["html_seconds"]),
                _mb(row["html_peak_rss_bytes"]),
                _s(row.get("pdf_seconds")),
                _mb(row.get("pdf_peak_rss_bytes")),
                str(row.get("pdf_pages") or "-"),
            ]
        )
    foot = []
    for g in render_growth(r["renders"]):
        parts = [f"{g['from']} -> {g['to']} ({g['size_ratio']:.1f}x promotions):"]
        for kind in ("html", "pdf"):
            if f"{kind}_time_ratio" in g:
                parts.append(
                    f"{kind.upper()} time {g[f'{kind}_time_ratio']:.1f}x, "
                    f"memory {g[f'{kind}_rss_ratio']:.1f}x"
                )
        foot.append(" ".join(parts))
    out.append(
        Section(
            "Rendering one service (each size in its own process)",
            ["promotions", "HTML", "HTML peak RSS", "PDF", "PDF peak RSS", "PDF pages"],
            rows,
            foot,
        )
    )
    out.append(
        Section(
            "Targets",
            ["target", "figure", "bound", "status"],
            [[t["name"], t["figure"], t["bound"], t["status"]] for t in r["targets"]],
            [
                f"peak memory of the largest sweep: "
                f"{_mb(r['memory']['largest_sweep_peak_rss_bytes'])}",
                *(
                    [
                        f"report --bundle: {r['bundle']['files']} files, "
                        f"{r['bundle']['bytes'] / 1e6:.0f} MB, "
                        f"{r['bundle']['pdf_pages']} PDF pages over every service"
                    ]
                    if r.get("bundle")
                    else []
                ),
                *correctness_lines(r),
                *r["notes"],
            ],
        )
    )
    return out


def correctness_lines(r: dict[str, Any]) -> list[str]:
    out = []
    for name, wrong in r.get("correctness", {}).items():
        if wrong:
            shown = "; ".join(wrong[:3]) + (" ..." if len(wrong) > 3 else "")
            out.append(f"WARNING: sweep {name} got {len(wrong)} verdicts wrong: {shown}")
        else:
            out.append(f"sweep {name}: every verdict as the world expects")
    return out


def machine_line(r: dict[str, Any]) -> str:
    m = r["machine"]
    mem = f"{m['memory_bytes'] / 1024**3:.0f} GB" if m["memory_bytes"] else "? GB"
    return (
        f"{m['date']} on {m['platform']}, Python {m['python']}, {m['cpus_usable']} CPUs usable "
        f"({m['cpu_count']}), {mem}, load {m['load_average'][0]:.1f} at start; auditor "
        f"{m['auditor_commit']}; run took {r['elapsed_seconds']:.0f} s "
        f"({r['options']['profile']} profile)"
    )


def print_rich(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(machine_line(r), markup=False, highlight=False)
    for s in sections(r):
        table = Table(title=s.title, title_justify="left", show_lines=False)
        for h in s.headers:
            table.add_column(h, overflow="fold")
        for row in s.rows:
            style = {"MET": "green", "MISSED": "red"}.get(row[-1])
            table.add_row(*row, style=style)
        console.print(table)
        for note in s.footnotes:
            console.print(f"  {note}", markup=False, highlight=False)


def markdown(r: dict[str, Any]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"Last run: {machine_line(r)}.", ""]
    for s in sections(r):
        lines += [f"#### {s.title}", ""]
        lines.append("| " + " | ".join(s.headers) + " |")
        lines.append("|" + "|".join("---" for _ in s.headers) + "|")
        for row in s.rows:
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        lines.append("")
        for note in s.footnotes:
            lines.append(f"- {note}")
        if s.footnotes:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def update_doc(r: dict[str, Any], doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(DOC_START)
    _, _, tail = rest.partition(DOC_END)
    if not rest:
        raise SystemExit(f"bench: {doc} has no {DOC_START} marker")
    doc.write_text(f"{head}{DOC_START}\n{markdown(r)}{DOC_END}{tail}", encoding="utf-8")


# -- entry point ------------------------------------------------------------------------------
def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="a smaller world, for a smoke run")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    p.add_argument(
        "--markdown", action="store_true", help="print the figures section from --json; no run"
    )
    p.add_argument(
        "--update-doc", action="store_true", help=f"rewrite the figures section of {DOC.name}"
    )
    p.add_argument("--promotions", type=int, help="size of the large world")
    p.add_argument("--noise", type=int, help="noise pipelines of the large world")
    p.add_argument("--latency", type=float, default=LATENCY, help="seconds added per answer")
    p.add_argument("--rate-limit", type=int, default=RATE_LIMIT, help="requests per minute")
    p.add_argument(
        "--render-sizes", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 20,200,2000"
    )
    p.add_argument("--budget", type=float, help="seconds the whole run may take (about)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_checks"]:
        _checks_worker(argv[1], argv[2], argv[3:])
        return 0
    if argv[:1] == ["_render"]:
        _render_worker(argv[1], int(argv[2]), argv[3] == "pdf")
        return 0
    args = parse(argv)
    if args.markdown:
        results = json.loads(args.json.read_text(encoding="utf-8"))
        print(markdown(results), end="")
        if args.update_doc:
            update_doc(results)
        return 0
    results = run_bench(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print_rich(results)
    print(f"bench: wrote {args.json}", file=sys.stderr)
    if args.update_doc:
        update_doc(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
