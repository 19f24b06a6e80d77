"""`auditor doctor`: can the auditor use this GitLab, with this config and this token?

One cheap GET per question (`per_page=1`), one line per answer: `ok`, `warn` or `fail`,
with what was found and, when it is not ok, what to do. The checks are decided here from
the probes' answers; the probing itself (python-gitlab over the read-only session) is
passed in, so this module never touches the network, never prints and never reads the
token (only the probe sends it, in its header).

Exit status: 0 when nothing failed (warnings allowed), 4 when GitLab cannot be used or a
read the audit needs is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from auditor.config import Service, Settings
from auditor.gitlab.probe import Probe

Prober = Callable[[str, dict[str, Any]], Probe]

# Scopes a read_api token needs nothing of; each is more power than the auditor uses.
NEEDED_SCOPE = "read_api"
# Scopes that let a token read the API at all.
READING_SCOPES = frozenset({"read_api", "api"})
# A token that lapses within this is worth a warning before a scheduled sweep fails.
EXPIRY_WARNING = timedelta(days=14)


class CheckStatus(StrEnum):
    ok = "ok"
    warn = "warn"
    fail = "fail"


@dataclass(frozen=True)
class Check:
    status: CheckStatus
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status.value:<5} {self.what}: {self.detail}"


def _ok(what: str, detail: str) -> Check:
    return Check(CheckStatus.ok, what, detail)


def _warn(what: str, detail: str) -> Check:
    return Check(CheckStatus.warn, what, detail)


def _fail(what: str, detail: str) -> Check:
    return Check(CheckStatus.fail, what, detail)


TOKEN_REJECTED = (
    "GitLab rejected the token (401): it is wrong, expired or revoked; "
    "set GITLAB_TOKEN to a valid token with the read_api scope"
)


def _refused(answer: Probe, project: str) -> str:
    """Why a read failed and what to do, for a read inside `project`."""
    if answer.status == 401:
        return TOKEN_REJECTED
    if answer.status == 403:
        return (
            f"permission denied (403); give the token's user Reporter access to {project} "
            "(or enable the feature in the project's settings)"
        )
    if answer.status == 404:
        return f"not found (404); the feature may be disabled in {project}'s settings"
    if answer.status is None:
        return f"no answer ({answer.reason}); check the network and [gitlab] timeout"
    return f"{answer.reason or f'HTTP {answer.status}'}; try again, or ask the GitLab admins"


def exit_code(checks: list[Check]) -> int:
    return 4 if any(c.status is CheckStatus.fail for c in checks) else 0


def summary(checks: list[Check]) -> str:
    count = {s: sum(c.status is s for c in checks) for s in CheckStatus}
    verdict = (
        "the auditor cannot use this GitLab as configured"
        if count[CheckStatus.fail]
        else "the auditor can read what it needs"
    )
    return (
        f"doctor: {count[CheckStatus.ok]} ok, {count[CheckStatus.warn]} warning(s), "
        f"{count[CheckStatus.fail]} failed; {verdict}"
    )


class Doctor:
    """The checks, in order; `run()` stops early when nothing more could be learned."""

    def __init__(self, settings: Settings, get: Prober, today: date) -> None:
        self.settings = settings
        self.get = get
        self.today = today

    def run(self) -> list[Check]:
        return list(self._checks())

    def _checks(self) -> Iterator[Check]:
        connectivity = self._connectivity()
        yield connectivity
        if connectivity.status is CheckStatus.fail:
            return
        token = self._token()
        yield token
        if token.status is CheckStatus.fail:
            return
        yield from self._projects()

    # -- GitLab itself ----------------------------------------------------------------------
    def _connectivity(self) -> Check:
        url = self.settings.url
        answer = self.get("/version", {})
        if answer.status is None:
            return _fail(
                "connectivity",
                f"GitLab at {url} cannot be reached ({answer.reason}); check [gitlab] url, "
                "the network and any proxy",
            )
        if answer.status == 401:
            return _fail("token", TOKEN_REJECTED)
        if answer.status == 404:
            return _fail(
                "connectivity",
                f"{url} answers, but not with GitLab's API at /api/v4 (404); check [gitlab] url",
            )
        if answer.status == 403:
            # /version needs read_api or more: the token check below says which it lacks
            return _ok("connectivity", f"GitLab at {url} answers")
        if not answer.ok or not isinstance(answer.body, dict):
            return _fail(
                "connectivity",
                f"{url} does not answer like GitLab ({answer.reason or 'unexpected answer'}); "
                "check [gitlab] url and any proxy in between",
            )
        version = answer.body.get("version")
        shown = f"GitLab {version}" if isinstance(version, str) else "GitLab"
        return _ok("connectivity", f"{shown} at {url}")

    def _token(self) -> Check:
        answer = self.get("/personal_access_tokens/self", {})
        if answer.status == 401:
            return _fail("token", TOKEN_REJECTED)
        if answer.status == 403:
            return _fail(
                "token",
                "the token may not use the API (403: it lacks the read_api scope); "
                "create a token with the read_api scope",
            )
        if answer.status == 404:
            return _warn(
                "token",
                "GitLab does not say this token's scopes (404: GitLab before 15.5, or not a "
                "personal, project or group access token); make sure it has only read_api",
            )
        if not answer.ok or not isinstance(answer.body, dict):
            return _warn(
                "token",
                f"its scopes cannot be read ({answer.reason or 'unexpected answer'}); "
                "make sure it has only read_api",
            )
        body = answer.body
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            return _warn(
                "token", "GitLab's answer names no scopes; make sure the token has only read_api"
            )
        name = body.get("name")
        label = repr(name) if isinstance(name, str) and name else "it"
        if body.get("revoked") is True or body.get("active") is False:
            return _fail("token", f"{label} is revoked or inactive; create a new read_api token")
        shown = ", ".join(scopes) or "none"
        if not READING_SCOPES.intersection(scopes):
            return _fail(
                "token",
                f"{label} has scopes {shown}, none of which can read the API; "
                "create a token with the read_api scope",
            )
        notes: list[str] = []
        extra = [s for s in scopes if s != NEEDED_SCOPE]
        if extra:
            notes.append(
                f"it has more than read_api ({', '.join(extra)}); the auditor only reads, "
                "so create a token with only read_api"
            )
        expires = _date(body.get("expires_at"))
        if expires is not None and expires - self.today <= EXPIRY_WARNING:
            notes.append(f"it expires on {expires.isoformat()}; renew it before the next sweep")
        expiry = f", expires {expires.isoformat()}" if expires else ", never expires"
        if notes:
            return _warn("token", f"{label} with scopes {shown}: " + "; ".join(notes))
        return _ok("token", f"{label} with scopes {shown}{expiry}")

    # -- projects ---------------------------------------------------------------------------
    def _projects(self) -> Iterator[Check]:
        by_project: dict[str, list[Service]] = {}
        for svc in self.settings.services.values():
            by_project.setdefault(svc.project, []).append(svc)
        for path, services in by_project.items():
            yield from self._service_project(path, services)
        orchestration = self.settings.orchestration_project
        if orchestration not in by_project:
            yield from self._orchestration_project(orchestration)
        else:
            # its project line and pipelines/jobs were checked with its services
            yield _ok(
                f"{orchestration} (orchestration)", "checked above with the services built there"
            )

    def _project(self, path: str, role: str) -> tuple[Check, str | None]:
        """The project line, and the id to read it by (None when it cannot be read)."""
        answer = self.get(f"/projects/{quote(path, safe='')}", {})
        what = f"{path} ({role})"
        if answer.status == 404:
            return _fail(
                what,
                "not found, or not visible to the token's user (404); check the path in "
                "auditor.toml and that the user has Reporter access",
            ), None
        if not answer.ok or not isinstance(answer.body, dict):
            return _fail(what, _refused(answer, path)), None
        pid = answer.body.get("id")
        branch = answer.body.get("default_branch")
        detail = "readable" + (f" (default branch {branch})" if isinstance(branch, str) else "")
        return _ok(what, detail), str(pid) if isinstance(pid, int) else quote(path, safe="")

    def _list(self, pid: str, endpoint: str, **query: Any) -> Probe:
        return self.get(f"/projects/{pid}/{endpoint}", {"per_page": 1, **query})

    def _family(self, path: str, pid: str, what: str, endpoint: str) -> tuple[Check, Any]:
        answer = self._list(pid, endpoint)
        label = f"{path} {what}"
        if not answer.ok:
            return _fail(label, _refused(answer, path)), None
        if not isinstance(answer.body, list):
            return _fail(label, "GitLab's answer is not a list; check for a proxy in between"), None
        return _ok(label, "readable"), answer.body

    def _service_project(self, path: str, services: list[Service]) -> Iterator[Check]:
        names = ", ".join(s.name for s in services)
        head, pid = self._project(path, f"service {names}")
        yield head
        if pid is None:
            return
        check, mrs = self._family(path, pid, "merge requests", "merge_requests")
        yield check
        if mrs:
            iid = mrs[0].get("iid") if isinstance(mrs[0], dict) else None
            if isinstance(iid, int):
                for what, endpoint in (
                    ("approvals", f"merge_requests/{iid}/approvals"),
                    ("notes", f"merge_requests/{iid}/notes"),
                    ("label events", f"merge_requests/{iid}/resource_label_events"),
                ):
                    answer = self._list(pid, endpoint)
                    label = f"{path} MR {what}"
                    yield (
                        _ok(label, f"readable (tried !{iid})")
                        if answer.ok
                        else _fail(label, _refused(answer, path))
                    )
        elif mrs is not None:
            yield _warn(
                f"{path} MR approvals, notes, label events",
                "not tried: the project has no merge requests yet",
            )
        for what, endpoint in (
            ("repository", "repository/commits"),
            ("pipelines", "pipelines"),
            ("jobs", "jobs"),
            ("deployments", "deployments"),
        ):
            yield self._family(path, pid, what, endpoint)[0]
        for svc in services:
            yield from self._service(svc, pid)

    def _service(self, svc: Service, pid: str) -> Iterator[Check]:
        path, policy = svc.project, svc.policy
        env = policy.staging_environment
        answer = self._list(pid, "environments", name=env)
        what = f"{svc.name} staging environment"
        if not answer.ok or not isinstance(answer.body, list):
            yield _fail(what, _refused(answer, path))
        elif not answer.body:
            yield _warn(
                what,
                f"{path} has no environment named {env!r}; check staging_environment for "
                f"{svc.name} (every promotion would stay unproven)",
            )
        else:
            yield _ok(what, f"{env!r} exists in {path}")
        branch = policy.release_branch
        answer = self.get(f"/projects/{pid}/repository/branches/{quote(branch, safe='')}", {})
        what = f"{svc.name} release branch"
        if answer.ok:
            yield _ok(what, f"{branch!r} exists in {path}")
        elif answer.status == 404:
            yield _warn(
                what, f"{path} has no branch {branch!r}; check release_branch for {svc.name}"
            )
        else:
            yield _fail(what, _refused(answer, path))

    def _orchestration_project(self, path: str) -> Iterator[Check]:
        head, pid = self._project(path, "orchestration")
        yield head
        if pid is None:
            return
        for what, endpoint in (("pipelines", "pipelines"), ("jobs", "jobs")):
            yield self._family(path, pid, what, endpoint)[0]


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def diagnose(settings: Settings, get: Prober, now: datetime) -> list[Check]:
    """Every check, in order: connectivity, token, then each project and service."""
    return Doctor(settings, get, now.date()).run()
