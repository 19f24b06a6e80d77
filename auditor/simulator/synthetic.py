"""Busier worlds than one scenario: the verbs a realistic week needs, and a seeded generator
of large synthetic worlds for benchmarks and for the `sweep` tests.

The scenario verbs in `world.py` and `flows.py` tell one promotion's story; a week of an
organisation also has what a sweep must see through: the previous week's cut-off (so the
week's first deployment has something to be compared with), feature work merged to main and
never picked, open MRs, orchestration pipelines where nobody played anything, CI pipelines on
`main`, and a commit pushed straight to `release` (drift). Those verbs live here, so the
scenario modules stay as they are.

`synthetic_world()` plans a world first, without git (`plan_synthetic`), and then builds it.
The plan alone gives every MR's iid and expected verdict, so a world module can name its
TARGETS and EXPECTED at import time, before anything is built.

Worlds built here (fixtures/worlds/week.py, synthetic ones) record what a sweep of their
window must find as `world.expect`; a promotion belongs to the window when the staging
deployment its release job made does (cut-off deployments are the cut-off's):

    {"window": {"from": ISO, "to": ISO},
     "promotions": [{"project", "iid", "service", "verdict"}],
     "drift": [{"project", "service", "sha", "title"}],
     "cut_offs": [{"project", "pipeline_id", "job_id"}],
     "reverts": [{"project", "sha", "reverts_mr"}]}
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.simulator.flows import (
    NOW,
    ORCHESTRATION,
    Flow,
    Org,
    cut_off,
    expected,
    hotfix,
    release_flow,
)
from auditor.simulator.world import (
    PickStyle,
    SimJob,
    SimMR,
    SimPipeline,
    SimProject,
    User,
    World,
)

LABEL = "Validated in Staging"
Expect = dict[str, Any]


# -- verbs for realistic worlds ----------------------------------------------------------------
def iso(at: datetime) -> str:
    """UTC, second precision, `Z`: how the contract writes timestamps."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_expect(start: datetime, end: datetime) -> Expect:
    return {
        "window": {"from": iso(start), "to": iso(end)},
        "promotions": [],
        "drift": [],
        "cut_offs": [],
        "reverts": [],
    }


def bare_org(
    now: datetime,
    services: dict[str, str],
    environments: dict[str, str] | None = None,
    history_from: datetime | None = None,
) -> Org:
    """The org of `flows.standard_org` (same people, same orchestration project) with a
    history on main but no cut-off yet: the world decides when `release` is first cut.

    `standard_org` cuts `release` at MONDAY 08:00 as the first deployment ever; a week
    audited from that Monday then starts with a deployment that has no predecessor, which
    no real org has. Worlds built from here cut the previous week first.
    """
    world = World(now)
    dev = world.user("dana.dev", "Dana Developer")
    reviewer = world.user("rafael.review", "Rafael Reviewer")
    rm = world.user("maria.release", "Maria Release-Manager")
    start = history_from or now - timedelta(days=40)
    orch = world.project(ORCHESTRATION)
    orch.commit(
        "main", "Add orchestration pipeline", {".gitlab-ci.yml": "stages: [release]\n"}, rm, start
    )
    by_project: dict[str, list[str]] = {}
    for name, path in services.items():
        by_project.setdefault(path, []).append(name)
    projects: dict[str, SimProject] = {}
    for path, names in by_project.items():
        project = world.project(path)
        project.commit("main", "Initial commit", {"README.md": f"# {project.name}\n"}, dev, start)
        # A monorepo keeps each service in its own folder next to shared code in lib/.
        files: dict[str, str | None] = {"src/app.py": f"SERVICE = {names[0]!r}\n"}
        if len(names) > 1:
            files = {f"services/{n}/app.py": f"SERVICE = {n!r}\n" for n in names}
            files["lib/common.py"] = "SHARED = True\n"
        project.commit("main", "Service skeleton", files, dev, start + timedelta(days=1))
        for name in names:
            projects[name] = project
    return Org(world, orch, projects, dev, reviewer, rm, environments or {})


def feature_mr(
    org: Org,
    project: SimProject,
    title: str,
    path: str,
    at: datetime,
    author: User,
    *,
    merge: bool = True,
) -> SimMR:
    """Everyday work: an MR into main, reviewed and merged at `at` (or left open). It is
    never picked; the next cut-off takes it to staging."""
    mr = project.merge_request(
        title, {path: f"# {title}\nENABLED = True\n"}, author, at - timedelta(hours=1)
    )
    if merge:
        mr.approve(org.reviewer, at - timedelta(minutes=30))
        project.merge(mr, author, at)
    return mr


def idle_pipeline(org: Org, at: datetime, by: User, sha: str | None = None) -> SimPipeline:
    """An orchestration pipeline somebody created and left: every job still `manual`.

    Jobs are made directly rather than with `World.add_job`, which re-derives the pipeline
    status from every job of the world on each call; benchmark worlds create thousands
    (and pass `sha`, the orchestration project's main, to spare a git call each).
    """
    world = org.world
    pipeline = org.orch.pipeline("main", by, at, source="web", sha=sha)
    for n, name in enumerate(org.projects, start=1):
        _quick_job(world, pipeline, f"{n:02d} release {name}", "release", "manual", bridge=True)
    _quick_job(world, pipeline, "cut-off", "cut-off", "manual")
    pipeline.status = "manual"  # what refresh_status derives from only manual jobs
    return pipeline


def ci_pipeline(
    project: SimProject, at: datetime, by: User, sha: str, *, failed: bool = False
) -> SimPipeline:
    """A service project's pipeline on main (build and test): noise for a sweep."""
    world = project.world
    pipeline = project.pipeline("main", by, at, source="push", sha=sha)
    build = _quick_job(world, pipeline, "build", "build", "success", at)
    test = _quick_job(
        world, pipeline, "test", "test", "failed" if failed else "success", build.finished_at
    )
    pipeline.status = test.status
    pipeline.updated_at = test.finished_at or at
    return pipeline


def _quick_job(
    world: World,
    pipeline: SimPipeline,
    name: str,
    stage: str,
    status: str,
    at: datetime | None = None,
    *,
    bridge: bool = False,
) -> SimJob:
    """`World.add_job` without the status refresh (the caller sets the pipeline's)."""
    started = at if status not in ("manual", "created", "skipped") else None
    job = SimJob(
        id=world.next_id("job"),
        pipeline=pipeline,
        name=name,
        stage=stage,
        status=status,
        created_at=pipeline.created_at,
        started_at=started,
        finished_at=started + timedelta(minutes=3) if started else None,
        user=pipeline.user,
        bridge=bridge,
    )
    world.jobs[job.id] = job
    return job


def push_to_release(org: Org, service: str, title: str, path: str, by: User, at: datetime) -> str:
    """Drift: a commit pushed straight to `release`, with no MR behind it."""
    project = org.projects[service]
    return project.commit("release", title, {path: f"# {title}\nTUNED = True\n"}, by, at)


def record_validation(
    org: Org,
    mr: SimMR,
    services: Iterable[str],
    at: datetime,
    *,
    by: User | None = None,
    label: bool = True,
) -> None:
    """The runbook's last steps for one or more services: a note naming each, the label."""
    names = list(services)
    who = by or org.rm
    listed = " and ".join(names) if len(names) < 3 else ", ".join(names)
    mr.note(
        f"Validated in staging for {listed}: reproduced the original issue, the fix holds "
        "and smoke checks are green.",
        who,
        at,
    )
    if label:
        mr.label(LABEL, who, at + timedelta(minutes=2))


def cut_off_record(flow: Flow) -> dict[str, Any]:
    return {"project": ORCHESTRATION, "pipeline_id": flow.pipeline.id, "job_id": flow.cut_off.id}


def revert_record(project: SimProject, sha: str, mr: SimMR) -> dict[str, Any]:
    return {"project": project.path, "sha": sha, "reverts_mr": f"{project.path}!{mr.iid}"}


# -- the synthetic generator: a plan first ---------------------------------------------------
SERVICE_POOL: list[tuple[str, str]] = [
    ("vemo-core", "evenergi/vemo-core"),
    ("charge-api", "evenergi/charge-api"),
    ("billing", "evenergi/billing"),
    ("fleet-api", "evenergi/fleet"),
    ("fleet-worker", "evenergi/fleet"),
    ("tariffs", "evenergi/tariffs"),
    ("notify", "evenergi/notify"),
    ("auth", "evenergi/auth"),
]

# What a promotion's story was, and so what every rule says about it (all older than the
# grace period). SH04 fails on top of these when a drift commit rode along.
KIND_RULES: dict[str, dict[str, str]] = {
    "by_the_book": {},
    "label_early": {"SH12": "fail"},
    "never_approved": {"SH02": "fail"},
    "no_validation": {"SH11": "fail", "SH12": "fail"},
    "smoke_failed_labelled": {"SH10": "fail", "SH12": "fail", "SH13": "fail"},
    "smoke_failed_reverted": {
        "SH10": "warn",
        "SH12": "not_applicable",
        "SH13": "pass",
        "SH14": "pass",
    },
    "rollback": {"SH14": "pass"},
}
KIND_WEIGHTS = {
    "by_the_book": 74,
    "label_early": 5,
    "never_approved": 4,
    "no_validation": 3,
    "smoke_failed_labelled": 4,
    "smoke_failed_reverted": 5,
    "rollback": 5,
}
# Their own release flow's smoke result or a revert belong to one MR: released alone.
ALONE_KINDS = {"smoke_failed_labelled", "smoke_failed_reverted", "rollback"}
STYLE_WEIGHTS: dict[str, int] = {"ui": 70, "cli_x": 12, "ui_old": 8, "ui_new_mr": 6, "local": 4}

# A slot is one release of one service (or of both monorepo services for a shared fix):
# picks at t..t+6m, orchestration pipeline at t+10m (deployed t+17..t+20, smoke until
# t+24), validation at t+30..t+40, rollbacks and reruns until t+70. Slots are 90 min apart
# and never overlap, so one promotion's validation window holds no other's deployment.
SLOT_TIMES = [timedelta(hours=h, minutes=m) for h, m in [(9, 30), (11, 0), (12, 30), (14, 0)]]
SLOT_TIMES += [timedelta(hours=h, minutes=m) for h, m in [(15, 30), (17, 0)]]
SLOT_SPAN = (timedelta(minutes=-45), timedelta(minutes=80))
SLOTS_PER_WEEK = 20  # of the 30 a working week has: realistic gaps
CUT_OFF_AT = timedelta(hours=8)  # every Monday

VERBS = ["Fix", "Handle", "Guard against", "Correct", "Retry on", "Stop"]
THINGS = [
    "session timeout",
    "tariff rounding",
    "invoice totals",
    "heartbeat gaps",
    "meter value parsing",
    "refund currency",
    "charger reconnects",
    "VAT for reverse charge",
    "token refresh",
    "webhook retries",
    "queue backlog",
    "null connector id",
    "duplicate sessions",
    "time zone offsets",
    "stale price cache",
]
WHERE = ["on night rates", "after failover", "for fleet accounts", "in exports", "under load"]


@dataclass
class PlannedHotfix:
    """One hotfix MR and how its promotion went."""

    project: str
    iid: int
    title: str
    path: str
    services: tuple[str, ...]
    kind: str
    style: str
    method: str
    pick_mr_iid: int | None = None  # the `cherry-pick-<sha>` MR a ui_new_mr pick opens

    @property
    def target(self) -> str:
        return f"{self.project}!{self.iid}"


@dataclass
class Slot:
    """One release: picks, the orchestration pipeline, validation (and any rollback)."""

    at: datetime
    services: tuple[str, ...]
    hotfixes: list[PlannedHotfix]
    drift: str | None = None  # title of a commit pushed straight to release first


@dataclass
class Noise:
    at: datetime
    what: str  # "idle" | "ci" | "feature" | "open"
    project: str = ""
    iid: int = 0
    title: str = ""


@dataclass
class Plan:
    now: datetime
    services: dict[str, str]  # service -> project path
    window: tuple[datetime, datetime]
    cut_offs: list[datetime]  # every Monday from the week before the window
    slots: list[Slot]
    noise: list[Noise]
    seed: int

    @property
    def hotfixes(self) -> list[PlannedHotfix]:
        return [h for s in self.slots for h in s.hotfixes]

    def monorepo(self, project: str) -> bool:
        return sum(1 for p in self.services.values() if p == project) > 1

    def expected(self, hotfix: PlannedHotfix) -> dict[str, dict[str, Any]]:
        """Per service, the verdict and every rule's status `auditor check` should give."""
        slot = next(s for s in self.slots if hotfix in s.hotfixes)
        rules = dict(KIND_RULES[hotfix.kind])
        if slot.drift:
            rules["SH04"] = "fail"
        failing = any(v == "fail" for v in rules.values())
        verdict = "non_compliant" if failing else "compliant"
        return {svc: expected(verdict, **rules) for svc in hotfix.services}

    def services_config(self) -> dict[str, dict[str, Any]]:
        """auditor.toml [services.*] tables: monorepo services get their own environment
        and the `paths` that tell them apart (lib/ is shared)."""
        out: dict[str, dict[str, Any]] = {}
        for name, path in self.services.items():
            table: dict[str, Any] = {"project": path}
            if self.monorepo(path):
                table["staging_environment"] = f"staging/{name}"
                table["paths"] = [f"services/{name}/**", "lib/**"]
            out[name] = table
        return out


def _monday(at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_synthetic(
    promotions: int = 200,
    services: int = 6,
    noise_pipelines: int = 1000,
    seed: int = 0,
    now: datetime = NOW,
) -> Plan:
    """Decide everything about a synthetic world without touching git.

    The window is the whole weeks before `now`'s week, as many as the promotions need at
    ~20 releases a week; every Monday has a cut-off at 08:00, the week before the window too.
    `promotions` counts (MR, service) pairs, as the sweep reports them.
    """
    if services < 1 or promotions < 1:
        raise ValueError("a synthetic world needs at least one service and one promotion")
    rng = random.Random(seed)
    pool = SERVICE_POOL + [(f"svc-{n}", f"evenergi/svc-{n}") for n in range(9, services + 1)]
    plan_services = dict(pool[:services])
    names = list(plan_services)
    monorepos = {p for p in plan_services.values() if list(plan_services.values()).count(p) > 1}

    # 1. The releases, in order, until the promotions are counted.
    titles: set[str] = set()
    serial = 0

    def title_for() -> str:
        # Unique titles: a local pick is recognised by its title (and patch).
        t = f"{rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(WHERE)}"
        if t in titles:
            t = f"{t} ({len(titles) + 1})"
        titles.add(t)
        return t

    contents: list[tuple[tuple[str, ...], list[tuple[str, str, tuple[str, ...], str]]]] = []
    count = 0
    while count < promotions:
        service = rng.choice(names)
        project = plan_services[service]
        left = promotions - count
        if project in monorepos and left >= 2 and rng.random() < 0.35:
            both = tuple(n for n in names if plan_services[n] == project)
            serial += 1
            contents.append((both, [("by_the_book", "ui", both, f"lib/hotfix_{serial}.py")]))
            count += len(both)
            continue
        first = _pick(rng, KIND_WEIGHTS)
        size = 1 if first in ALONE_KINDS else rng.choices([1, 2, 3], weights=[60, 25, 15])[0]
        size = min(size, left)
        batch: list[tuple[str, str, tuple[str, ...], str]] = []
        for n in range(size):
            kind = (
                first
                if n == 0
                else rng.choice(
                    ["by_the_book"] * 8 + ["label_early", "never_approved", "no_validation"]
                )
            )
            style = _pick(rng, STYLE_WEIGHTS)
            if style == "local" and size > 1:
                # SH04 traces the other commits of a deployment by trailer only, so a
                # trailer-less pick would fail its batch-mates: not the story planned here.
                style = "ui"
            serial += 1
            folder = f"services/{service}" if project in monorepos else "src"
            batch.append((kind, style, (service,), f"{folder}/hotfix_{serial}.py"))
        contents.append(((service,), batch))
        count += size

    # A few drift commits, on single-service projects only: in a monorepo the commit would
    # also reach the sibling's staging, or not, depending on what is released next.
    drift_count = max(1, round(promotions / 60))
    single = [i for i, (svcs, _) in enumerate(contents) if plan_services[svcs[0]] not in monorepos]
    riding: set[int] = set()
    alone: list[str] = []
    for _ in range(drift_count):
        ok = [
            i
            for i in single
            if i not in riding
            and all(k == "by_the_book" and s != "local" for k, s, _, _ in contents[i][1])
        ]
        if ok and rng.random() < 0.5:
            riding.add(rng.choice(ok))
        else:
            svc = rng.choice([n for n in names if plan_services[n] not in monorepos] or names)
            if plan_services[svc] in monorepos:
                continue  # every service is in a monorepo: no drift to plant
            alone.append(svc)
    releases: list[tuple[tuple[str, ...], list[Any], str | None]] = [
        (svcs, batch, "drift" if i in riding else None) for i, (svcs, batch) in enumerate(contents)
    ]
    for svc in alone:
        releases.insert(rng.randrange(len(releases) + 1), ((svc,), [], "drift"))

    # 2. Time: weeks of SLOTS_PER_WEEK releases, in the whole weeks before now's week.
    weeks = max(1, math.ceil(len(releases) / SLOTS_PER_WEEK))
    end_monday = _monday(now)
    first_monday = end_monday - timedelta(weeks=weeks)
    window = (first_monday, end_monday - timedelta(seconds=1))
    grid = [
        first_monday + timedelta(days=d + 7 * w) + t
        for w in range(weeks)
        for d in range(5)
        for t in SLOT_TIMES
    ]
    per_week = len(SLOT_TIMES) * 5
    times: list[datetime] = []
    for w in range(weeks):
        share = releases[w * SLOTS_PER_WEEK : (w + 1) * SLOTS_PER_WEEK]
        week_grid = grid[w * per_week : (w + 1) * per_week]
        times += sorted(rng.sample(week_grid, len(share)))

    drift_n = 0
    slots: list[Slot] = []
    for at, (svcs, batch, drift) in zip(times, releases, strict=True):
        project = plan_services[svcs[0]]
        planned = []
        for kind, style, hsvcs, path in batch:
            title = title_for()
            h = PlannedHotfix(
                project,
                0,  # iids are given in build order by _renumber
                title,
                path,
                hsvcs,
                kind,
                style,
                "squash" if rng.random() < 0.2 else "merge",
            )
            if style == "ui_new_mr":
                h.pick_mr_iid = 0
            planned.append(h)
        if drift:
            drift_n += 1
        slots.append(
            Slot(at, svcs, planned, f"Tune {svcs[0]} pool size ({drift_n})" if drift else None)
        )

    # 3. Noise, at times no release is happening: feature MRs merged and never picked
    # (about one per service a week), a few open MRs, idle orchestration pipelines and CI
    # pipelines on main. Kept out of release slots so ids grow with time everywhere.
    busy = [(s.at + SLOT_SPAN[0], s.at + SLOT_SPAN[1]) for s in slots]
    cut_offs = [first_monday - timedelta(weeks=1) + CUT_OFF_AT]
    cut_offs += [first_monday + timedelta(weeks=w) + CUT_OFF_AT for w in range(weeks)]
    if now >= end_monday + CUT_OFF_AT + timedelta(hours=1):
        cut_offs.append(end_monday + CUT_OFF_AT)
    busy += [(c - timedelta(minutes=5), c + timedelta(minutes=30)) for c in cut_offs]
    # Noise starts in the week before the window, so its cut-off has work to take along.
    noise_from = cut_offs[0] + timedelta(hours=1)
    span = (window[1] - noise_from).total_seconds()

    def free_time() -> datetime:
        while True:
            at = noise_from + timedelta(minutes=int(rng.random() * span / 60))
            if not any(a <= at <= b for a, b in busy):
                busy.append((at - timedelta(minutes=2), at + timedelta(minutes=10)))
                return at

    noise: list[Noise] = []
    features = [
        (free_time(), plan_services[rng.choice(names)], False) for _ in range(weeks * len(names))
    ]
    features += [(free_time(), plan_services[rng.choice(names)], True) for _ in range(weeks)]
    for at, project, is_open in sorted(features):
        serial += 1
        what = "open" if is_open else "feature"
        noise.append(Noise(at, what, project, 0, f"{rng.choice(FEATURES)} ({serial})"))
    idle = int(noise_pipelines * 0.4)
    for n in range(noise_pipelines):
        project = "" if n < idle else plan_services[rng.choice(names)]
        noise.append(Noise(free_time(), "idle" if n < idle else "ci", project))

    # MRs take their iids in the order they are created: re-number in build order.
    _renumber(plan_services, slots, noise)
    return Plan(now, plan_services, window, cut_offs, slots, noise, seed)


FEATURES = [
    "Add charger firmware inventory",
    "Paginate invoice exports",
    "Support tariff import v2",
    "Refactor session store",
    "Add fleet telemetry dashboard",
    "Speed up meter queries",
    "Bump OCPP library",
    "Add audit log to exports",
]


def _renumber(services: dict[str, str], slots: list[Slot], noise: list[Noise]) -> None:
    """Give MRs the iids `SimProject.merge_request` will: per project, in creation order.

    The build walks slots and noise merged by time; feature and open MRs are created when
    their time comes, a slot's hotfix MRs (and cherry-pick MRs) when the slot is built."""
    counters = {p: 0 for p in services.values()}

    def take(project: str) -> int:
        counters[project] += 1
        return counters[project]

    for _, item in _timeline(slots, noise):
        if isinstance(item, Slot):
            for h in item.hotfixes:
                h.iid = take(h.project)
                if h.pick_mr_iid is not None:
                    h.pick_mr_iid = take(h.project)
        elif item.what in ("feature", "open"):
            item.iid = take(item.project)


def _timeline(slots: list[Slot], noise: list[Noise]) -> list[tuple[datetime, Slot | Noise]]:
    items: list[tuple[datetime, Slot | Noise]] = [(s.at, s) for s in slots]
    items += [(n.at, n) for n in noise]
    return sorted(items, key=lambda x: x[0])


# -- building a plan -----------------------------------------------------------------------------
def synthetic_world(
    promotions: int = 200,
    services: int = 6,
    noise_pipelines: int = 1000,
    seed: int = 0,
    now: datetime = NOW,
) -> World:
    """A large, deterministic world: `promotions` (MR, service) promotions over whole weeks,
    weekly cut-offs, a realistic mix of verdicts, a few drift commits, and noise. The world
    carries `expect` (what a sweep of `expect["window"]` must find), `plan` and
    `services_config` (its auditor.toml service tables)."""
    return build_plan(plan_synthetic(promotions, services, noise_pipelines, seed, now))


def build_plan(plan: Plan) -> World:
    """Carry out a plan: every event in time order, so ids grow with time as in GitLab.

    Git dominates: about 26 git subprocesses per promotion (MR branch, commit, merge, pick,
    the verbs' rev-parses), ~95% of the time. Measured on 2 cores: 30 promotions with 100
    noise pipelines ~2.5 s, 200 promotions with 1000 noise pipelines ~15 s (1375 pipelines,
    5753 jobs). Noise pipelines cost no git call and almost no time.
    """
    rng = random.Random(plan.seed + 1)  # who did what; the plan's own draws stay apart
    environments = {
        name: f"staging/{name}" for name, path in plan.services.items() if plan.monorepo(path)
    }
    org = bare_org(
        plan.now, plan.services, environments, history_from=plan.cut_offs[0] - timedelta(days=21)
    )
    world = org.world
    devs = [org.dev] + [world.user(u) for u in ("tomas.dev", "lena.dev", "ana.dev")]
    releasers = [org.rm, world.user("olga.oncall", "Olga On-Call")]
    expect = new_expect(*plan.window)
    projects = {p.path: p for p in org.projects.values()}
    # main's head per project, kept here rather than asked of git for every CI pipeline
    heads = {path: p.head("main") for path, p in projects.items()}
    orch_head = org.orch.head("main")
    in_window = _within(plan.window)

    events: list[tuple[datetime, Any]] = [(c, "cut_off") for c in plan.cut_offs]
    events += _timeline(plan.slots, plan.noise)
    for at, item in sorted(events, key=lambda x: (x[0], isinstance(x[1], str))):
        if item == "cut_off":
            flow = cut_off(org, at)
            if in_window(at):
                expect["cut_offs"].append(cut_off_record(flow))
        elif isinstance(item, Slot):
            merged = _build_slot(org, plan, item, rng.choice(releasers), expect)
            if merged:
                heads[org.projects[item.services[0]].path] = merged
        elif item.what == "idle":
            idle_pipeline(org, at, rng.choice(devs + releasers), sha=orch_head)
        elif item.what == "ci":
            ci_pipeline(
                projects[item.project],
                at,
                rng.choice(devs),
                heads[item.project],
                failed=rng.random() < 0.05,
            )
        else:
            project = projects[item.project]
            folder = "lib" if plan.monorepo(item.project) else "src"
            mr = feature_mr(
                org,
                project,
                item.title,
                f"{folder}/feature_{item.iid}.py",
                at,
                rng.choice(devs),
                merge=item.what == "feature",
            )
            assert mr.iid == item.iid, (item, mr.iid)
            if mr.merge_commit_sha:
                heads[item.project] = mr.merge_commit_sha
    world.expect = expect  # type: ignore[attr-defined]
    world.plan = plan  # type: ignore[attr-defined]
    world.services_config = plan.services_config()  # type: ignore[attr-defined]
    return world


def _within(window: tuple[datetime, datetime]) -> Callable[[datetime], bool]:
    return lambda at: window[0] <= at <= window[1]


def _build_slot(org: Org, plan: Plan, slot: Slot, by: User, expect: Expect) -> str | None:
    """One release, told the way the slot's kinds say (times: see SLOT_TIMES). Answers
    main's new head when hotfixes were merged."""
    t = slot.at
    first = slot.services[0]
    project = org.projects[first]
    if slot.drift:
        sha = push_to_release(
            org, first, slot.drift, f"config/pool_{len(expect['drift'])}.py", org.dev, t - td(10)
        )
        expect["drift"].append(
            {"project": project.path, "service": first, "sha": sha, "title": slot.drift}
        )
    mrs: list[tuple[PlannedHotfix, SimMR, str]] = []
    for n, h in enumerate(slot.hotfixes):
        service = h.services[0]
        mr = hotfix(
            org,
            service,
            h.title,
            t - td(40 - 5 * n),
            path=h.path,
            approve=h.kind != "never_approved",
            method=h.method,
        )
        assert mr.iid == h.iid, (h, mr.iid)
        style: PickStyle = h.style  # type: ignore[assignment]
        when = t + td(2 * n)
        if style == "ui_new_mr":
            project.cherry_pick(mr, by, when - td(1), style="ui_new_mr")
            pick_mr = project.mrs[max(project.mrs)]
            assert pick_mr.iid == h.pick_mr_iid, (h, pick_mr.iid)
            pick_mr.approve(org.reviewer, when)
            project.merge(pick_mr, by, when)
            pick = pick_mr.sha or ""
        elif style == "local":
            pick = project.cherry_pick(mr, by, when, style="local", sha=mr.commit_shas[-1])
        else:
            pick = project.cherry_pick(mr, by, when, style=style)
        mrs.append((h, mr, pick))
    smoke = "failed" if any(h.kind.startswith("smoke_failed") for h in slot.hotfixes) else "success"
    flow = release_flow(org, list(slot.services), t + td(10), by=by, smoke_status=smoke)
    done = flow.finished_at
    for n, (h, mr, pick) in enumerate(mrs):
        at = done + td(6 + 4 * n)
        if h.kind == "label_early":
            started = flow.deploy_jobs[h.services[0]].started_at
            assert started is not None  # a deploy job the flow ran
            mr.label(LABEL, by, started + td(1))
            record_validation(org, mr, h.services, at, by=by, label=False)
        elif h.kind == "no_validation":
            pass
        elif h.kind == "smoke_failed_reverted":
            mr.note(f"Smoke failed on staging for {h.services[0]}; reverting the pick.", by, at)
            sha = project.revert(pick, by, at + td(4))
            expect["reverts"].append(revert_record(project, sha, mr))
            release_flow(org, h.services[0], at + td(12), by=by)
        else:
            record_validation(org, mr, h.services, at, by=by)
        if h.kind == "rollback":
            sha = project.revert(pick, by, done + td(25))
            expect["reverts"].append(revert_record(project, sha, mr))
            again = release_flow(org, h.services[0], done + td(30), by=by)
            mr.note(
                f"Rolled back on staging for {h.services[0]} (customer report); release job "
                "rerun and smoke checks green again.",
                by,
                again.finished_at + td(3),
            )
        for service, rules in plan.expected(h).items():
            expect["promotions"].append(
                {
                    "project": h.project,
                    "iid": h.iid,
                    "service": service,
                    "verdict": rules["verdict"],
                }
            )
    # flows.hotfix merges with a merge commit (also for "squash"): that is main's head now.
    return mrs[-1][1].merge_commit_sha if mrs else None


def td(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)
