"""Building blocks for worlds shaped like the runbook's organisation.

An orchestration project (`evenergi/develop`) whose pipelines hold one manual trigger job
`NN release <service>` per service and a manual `cut-off` job; service projects with a
`release` branch, a `staging` environment, and downstream pipelines that deploy and then
run smoke checks. Scenario worlds start from `standard_org` and tell their story with
`release_flow`, the MR verbs and the git verbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from auditor.simulator.world import SimDeployment, SimJob, SimPipeline, SimProject, User, World

ORCHESTRATION = "evenergi/develop"
MONDAY = datetime.fromisoformat("2026-11-16T08:00:00+00:00")
NOW = datetime.fromisoformat("2026-11-26T12:00:00+00:00")

DEFAULT_SERVICES = {"vemo-core": "evenergi/vemo-core", "charge-api": "evenergi/charge-api"}


@dataclass
class Org:
    world: World
    orch: SimProject
    projects: dict[str, SimProject]  # service name -> project
    dev: User
    reviewer: User
    rm: User
    environments: dict[str, str] = field(default_factory=dict)  # service -> environment


@dataclass
class Flow:
    pipeline: SimPipeline
    release_jobs: dict[str, SimJob]
    cut_off: SimJob
    downstream: dict[str, SimPipeline] = field(default_factory=dict)
    deploy_jobs: dict[str, SimJob] = field(default_factory=dict)
    deployments: dict[str, SimDeployment] = field(default_factory=dict)
    smoke_jobs: dict[str, SimJob] = field(default_factory=dict)

    @property
    def finished_at(self) -> datetime:
        times = [
            j.finished_at
            for j in [*self.smoke_jobs.values(), *self.deploy_jobs.values()]
            if j.finished_at
        ]
        return max(times) if times else self.pipeline.created_at


def standard_org(
    now: datetime = NOW,
    services: dict[str, str] | None = None,
    environments: dict[str, str] | None = None,
) -> Org:
    """Projects with history, `release` cut from main on Monday and deployed to staging."""
    world = World(now)
    dev = world.user("dana.dev", "Dana Developer")
    reviewer = world.user("rafael.review", "Rafael Reviewer")
    rm = world.user("maria.release", "Maria Release-Manager")
    services = services or DEFAULT_SERVICES
    orch = world.project(ORCHESTRATION)
    orch.commit(
        "main",
        "Add orchestration pipeline",
        {".gitlab-ci.yml": "stages: [release]\n"},
        rm,
        MONDAY - timedelta(days=30),
    )
    projects: dict[str, SimProject] = {}
    for name, path in services.items():
        project = world.project(path)
        if not project.repo.resolve("main"):
            start = MONDAY - timedelta(days=20)
            project.commit(
                "main", "Initial commit", {"README.md": f"# {project.name}\n"}, dev, start
            )
            for n in range(3):
                project.commit(
                    "main",
                    f"Feature work {n + 1}",
                    {f"src/feature_{n}.py": f"VALUE = {n}\n"},
                    dev,
                    start + timedelta(days=n + 1),
                )
        projects[name] = project
    org = Org(world, orch, projects, dev, reviewer, rm, environments or {})
    # last week's cut-off, then a week of work on main, then this Monday's cut-off: so the
    # Monday deployment has a predecessor and its commits read as cut-off context
    cut_off(org, MONDAY - timedelta(days=7))
    for name, project in {p.path: p for p in projects.values()}.items():
        project.commit(
            "main",
            f"Weekly work on {name.rsplit('/', 1)[-1]}",
            {"src/weekly.py": "WEEK = 46\n"},
            dev,
            MONDAY - timedelta(days=3),
        )
    cut_off(org, MONDAY)
    return org


def environment_of(org: Org, service: str) -> str:
    return org.environments.get(service, "staging")


def cut_off(org: Org, at: datetime, by: User | None = None, deploy: bool = True) -> Flow:
    """The weekly cut-off: `release` rebuilt from main everywhere, every service released."""
    by = by or org.rm
    for project in {p.path: p for p in org.projects.values()}.values():
        project.rebuild_branch("release", project.default_branch)
    return release_flow(org, list(org.projects) if deploy else [], at, by=by, cut_off_played=True)


def release_flow(
    org: Org,
    services: str | list[str],
    at: datetime,
    *,
    by: User | None = None,
    cut_off_played: bool = False,
    deploy_status: str = "success",
    smoke_status: str | None = "success",
    deploy_sha: str | None = None,
    release_status: str | None = None,
    cut_off_name: str = "cut-off",
    smoke_in_child: bool = False,
    smoke_allow_failure: bool = False,
) -> Flow:
    """An orchestration pipeline created at `at` in which `services`' release jobs are
    played (the others stay `manual`), each deploying to staging and running smoke.

    `smoke_in_child` runs the smoke job in a child pipeline the deploying pipeline triggers
    (a `smoke suite` trigger job); `smoke_allow_failure` marks it `allow_failure: true`;
    `smoke_status="manual"` leaves a manual smoke job nobody played."""
    by = by or org.rm
    played = [services] if isinstance(services, str) else list(services)
    world = org.world
    pipeline = org.orch.pipeline("main", by, at, source="web")
    jobs: dict[str, SimJob] = {}
    for n, name in enumerate(org.projects, start=1):
        job_name = f"{n:02d} release {name}"
        if name in played:
            status = release_status or ("success" if deploy_status == "success" else "failed")
            jobs[name] = world.add_job(
                pipeline,
                job_name,
                "release",
                status,
                at=at + timedelta(minutes=2),
                user=by,
                bridge=True,
            )
        else:
            jobs[name] = world.add_job(pipeline, job_name, "release", "manual", bridge=True)
    cut = world.add_job(
        pipeline,
        cut_off_name,
        "cut-off",
        "success" if cut_off_played else "manual",
        at=at + timedelta(minutes=1) if cut_off_played else None,
        user=by,
    )
    flow = Flow(pipeline, jobs, cut)
    for name in played:
        deploy_downstream(
            org,
            flow,
            name,
            at + timedelta(minutes=3),
            by=by,
            deploy_status=deploy_status,
            smoke_status=smoke_status,
            deploy_sha=deploy_sha,
            smoke_in_child=smoke_in_child,
            smoke_allow_failure=smoke_allow_failure,
        )
    return flow


def deploy_downstream(
    org: Org,
    flow: Flow,
    name: str,
    start: datetime,
    *,
    by: User | None = None,
    deploy_status: str = "success",
    smoke_status: str | None = "success",
    deploy_sha: str | None = None,
    smoke_in_child: bool = False,
    smoke_allow_failure: bool = False,
) -> SimDeployment:
    """The release bridge's downstream pipeline in the service project: build, deploy to
    staging, then the smoke check (in the pipeline, or in a child pipeline it triggers)."""
    by = by or org.rm
    world = org.world
    project = org.projects[name]
    down = project.pipeline("release", by, start, source="pipeline", sha=deploy_sha)
    flow.release_jobs[name].downstream = down
    world.add_job(down, "build", "build", "success", at=start)
    env = environment_of(org, name)
    deploy = world.add_job(
        down,
        f"deploy {env}",
        "deploy",
        deploy_status,
        at=start + timedelta(minutes=4),
        environment=env,
        user=by,
    )
    flow.downstream[name] = down
    flow.deploy_jobs[name] = deploy
    flow.deployments[name] = world.deploy(deploy)
    if smoke_status and deploy_status == "success":
        smoke_at = (deploy.finished_at or start) + timedelta(minutes=1)
        host = down
        if smoke_in_child:
            child = project.pipeline(
                "release", by, smoke_at, source="parent_pipeline", sha=down.sha
            )
            trigger = world.add_job(
                down,
                "smoke suite",
                "verify",
                _bridge_status(smoke_status, smoke_allow_failure),
                at=smoke_at,
                user=by,
                bridge=True,
            )
            trigger.downstream = child
            host = child
        flow.smoke_jobs[name] = world.add_job(
            host,
            "smoke staging",
            "verify",
            smoke_status,
            at=smoke_at,
            user=by,
            allow_failure=smoke_allow_failure,
        )
    return flow.deployments[name]


def _bridge_status(child: str, allow_failure: bool) -> str:
    """A `strategy: depend` trigger job mirrors its child pipeline's outcome."""
    if child == "manual":
        return "success"  # the child pipeline is `manual`; the bridge created it
    return "success" if allow_failure and child == "failed" else child


def rerun_release(
    org: Org,
    flow: Flow,
    service: str,
    at: datetime,
    *,
    by: User | None = None,
    deploy_status: str = "success",
    smoke_status: str | None = "success",
    **deploy: object,
) -> SimDeployment:
    """Retry the service's release job in the same orchestration pipeline (the earlier try
    is hidden unless include_retried): a new downstream pipeline deploys again."""
    by = by or org.rm
    old = flow.release_jobs[service]
    status = "success" if deploy_status == "success" else "failed"
    flow.release_jobs[service] = org.world.retry(old, status, at, user=by)
    return deploy_downstream(
        org,
        flow,
        service,
        at + timedelta(minutes=1),
        by=by,
        deploy_status=deploy_status,
        smoke_status=smoke_status,
        **deploy,  # type: ignore[arg-type]
    )


def deploy_environment(
    org: Org,
    service: str,
    environment: str,
    at: datetime,
    *,
    sha: str | None = None,
    status: str = "success",
    by: User | None = None,
) -> SimDeployment:
    """A deployment of the service's `release` (or `sha`) to another environment, such as
    production, by a pipeline of its own."""
    by = by or org.rm
    project = org.projects[service]
    pipeline = project.pipeline("release", by, at, source="web", sha=sha)
    job = org.world.add_job(
        pipeline, f"deploy {environment}", "deploy", status, at=at, environment=environment, user=by
    )
    return org.world.deploy(job)


def hotfix(
    org: Org,
    service: str,
    title: str,
    at: datetime,
    *,
    path: str | None = None,
    approve: bool = True,
    merge: bool = True,
    method: str = "merge",
):  # noqa: ANN201 - returns SimMR
    """A reviewed hotfix MR merged into main `at` (opened an hour before)."""
    project = org.projects[service]
    slug = "-".join(title.lower().split()[:3])
    file = path or f"src/{slug}.py"
    mr = project.merge_request(
        title, {file: f"# {title}\nFIXED = True\n"}, org.dev, at - timedelta(hours=1)
    )
    if approve:
        mr.approve(org.reviewer, at - timedelta(minutes=20))
    if merge:
        project.merge(mr, org.dev, at, method=method)
    return mr


def validate(org: Org, mr, service: str, at: datetime, label: bool = True) -> None:  # noqa: ANN001
    """What the runbook asks after the checks pass: a note naming the service, the label."""
    mr.note(
        f"Validated in staging for {service}: reproduced the original issue, the fix "
        f"holds and smoke checks are green.",
        org.rm,
        at,
    )
    if label:
        mr.label("Validated in Staging", org.rm, at + timedelta(minutes=2))


T0 = datetime.fromisoformat("2026-11-18T10:00:00+00:00")  # a Wednesday, mid-week
RULE_IDS = tuple(f"SH{n:02d}" for n in range(1, 15))


def expected(verdict: str, **statuses: str) -> dict[str, object]:
    """A scenario's expected verdict and every rule's status: pass unless named, SH13 and
    SH14 not_applicable unless named."""
    rules = {rid: "pass" for rid in RULE_IDS}
    rules["SH13"] = rules["SH14"] = "not_applicable"
    rules.update(statuses)
    return {"verdict": verdict, "rules": rules}


def validated_then_rolled_back(  # noqa: ANN201 - returns SimMR
    org: Org, service: str, title: str, *, remove_label: bool = True
):
    """Attempt 1 of a rollback day, from `T0`: picked, released, smoke green, noted and
    labelled; at 14:30 QA finds a bug, the failure is noted (and the label removed), the pick
    is reverted from `release`, the release job rerun and staging checked back on the
    previous build. A second pick, if any, is the world's own story."""
    project = org.projects[service]
    mr = hotfix(org, service, title, T0)
    pick = project.cherry_pick(mr, org.rm, T0 + timedelta(minutes=30))
    flow = release_flow(org, service, T0 + timedelta(minutes=40))
    validate(org, mr, service, flow.finished_at + timedelta(minutes=10))
    if remove_label:
        mr.label("Validated in Staging", org.rm, T0 + timedelta(hours=4, minutes=30), "remove")
    then = "Removed the label; reverting" if remove_label else "Reverting"
    mr.note(
        f"Staging validation failed for {service} after all: with the new timeout idle "
        f"chargers lose their OCPP heartbeat. {then} the pick from release.",
        org.rm,
        T0 + timedelta(hours=4, minutes=32),
    )
    project.revert(pick, org.rm, T0 + timedelta(hours=4, minutes=40))
    back = release_flow(org, service, T0 + timedelta(hours=4, minutes=50))
    mr.note(
        f"Reran `01 release {service}` without the hotfix: staging is back on the previous "
        "build and its smoke checks passed.",
        org.rm,
        back.finished_at + timedelta(minutes=5),
    )
    return mr
