"""auditor.toml + environment + python-gitlab config file -> frozen settings.

Lookup order is the contract's: `--config PATH`, `$AUDITOR_CONFIG`, `./auditor.toml`.
The token is never read from auditor.toml: `$GITLAB_TOKEN`, `$GITLAB_PRIVATE_TOKEN`, or the
python-gitlab config section named by `python_gitlab_section`.
"""

from __future__ import annotations

import configparser
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the user."""


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`36h`, `7d`, `2w`, `90m`, `30s` -> timedelta."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 24h, 7d)")
    return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


@dataclass(frozen=True)
class Policy:
    release_branch: str = "release"
    staging_environment: str = "staging"
    validated_label: str = "Validated in Staging"
    release_job: str = "release {service}"
    cut_off_job: str = "cut-off"
    smoke_jobs: tuple[str, ...] = ("smoke*", "acceptance*")
    governed: bool = True
    grace_period: timedelta = timedelta(hours=24)
    # environments after staging: a hotfix that failed validation must not reach them
    later_environments: tuple[str, ...] = ("production*",)
    # how validation notes are read; None keeps the built-in vocabulary (auditor.notes)
    validation_words: tuple[str, ...] | None = None
    failure_words: tuple[str, ...] | None = None
    pending_words: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Service:
    name: str
    project: str
    policy: Policy = field(default_factory=Policy)
    paths: tuple[str, ...] = ()

    @property
    def release_job_name(self) -> str:
        return self.policy.release_job.format(service=self.name)


@dataclass(frozen=True)
class Settings:
    url: str
    token: str = field(repr=False)
    orchestration_project: str
    services: Mapping[str, Service]
    timeout: float = 30.0
    ssl_verify: bool = True

    def services_for_project(self, project: str) -> list[Service]:
        return [s for s in self.services.values() if s.project == project]


_POLICY_KEYS = {f.name for f in fields(Policy)}
_WORD_KEYS = ("validation_words", "failure_words", "pending_words")


def _policy(base: Policy, table: Mapping[str, object], where: str) -> Policy:
    changes: dict[str, object] = {}
    for key, value in table.items():
        if key not in _POLICY_KEYS:
            continue
        if key == "grace_period":
            if not isinstance(value, str):
                raise ConfigError(f"{where}.grace_period must be a duration string like '24h'")
            changes[key] = parse_duration(value)
        elif key in ("smoke_jobs", "later_environments", *_WORD_KEYS):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{where}.{key} must be a list of non-empty strings")
            changes[key] = tuple(value)
        elif key == "governed":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.governed must be true or false")
            changes[key] = value
        else:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.{key} must be a non-empty string")
            changes[key] = value
    return replace(base, **changes)


def find_config(explicit: Path | None, env: Mapping[str, str]) -> Path:
    if explicit is not None:
        path = explicit
    elif env.get("AUDITOR_CONFIG"):
        path = Path(env["AUDITOR_CONFIG"])
    else:
        path = Path("auditor.toml")
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path} (pass --config PATH or set AUDITOR_CONFIG)"
        )
    return path


def _python_gitlab_section(section: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    candidates = (
        [Path(env["PYTHON_GITLAB_CFG"])]
        if env.get("PYTHON_GITLAB_CFG")
        else [Path("/etc/python-gitlab.cfg"), Path.home() / ".python-gitlab.cfg"]
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([p for p in candidates if p.is_file()])
    if not parser.has_section(section):
        raise ConfigError(f"python-gitlab config has no section [{section}]")
    url = parser.get(section, "url", fallback=None)
    token = parser.get(section, "private_token", fallback=None) or parser.get(
        section, "oauth_token", fallback=None
    )
    if token and token.startswith("helper:"):
        raise ConfigError(
            f"python-gitlab section [{section}] uses a token helper; set GITLAB_TOKEN instead"
        )
    return url, token


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config; every problem is a ConfigError with one line."""
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None

    gitlab = data.get("gitlab", {})
    if not isinstance(gitlab, dict):
        raise ConfigError(f"{path}: [gitlab] must be a table")
    if "token" in gitlab or "private_token" in gitlab:
        raise ConfigError(f"{path}: tokens do not belong in auditor.toml; set GITLAB_TOKEN instead")
    url = gitlab.get("url") or env.get("GITLAB_URL") or env.get("CI_SERVER_URL")
    token = env.get("GITLAB_TOKEN") or env.get("GITLAB_PRIVATE_TOKEN")
    section = gitlab.get("python_gitlab_section")
    if section:
        cfg_url, cfg_token = _python_gitlab_section(str(section), env)
        url = gitlab.get("url") or cfg_url or url
        token = token or cfg_token
    if not url:
        raise ConfigError(f"{path}: no GitLab URL ([gitlab] url, or GITLAB_URL)")
    if not re.match(r"^https?://", str(url)):
        raise ConfigError(f"{path}: GitLab url must start with http:// or https://")
    if not token:
        raise ConfigError("no GitLab token: set GITLAB_TOKEN to a token with the read_api scope")
    orchestration = gitlab.get("orchestration_project")
    if not orchestration or not isinstance(orchestration, str):
        raise ConfigError(f"{path}: [gitlab] orchestration_project is required")

    policy_table = data.get("policy", {})
    if not isinstance(policy_table, dict):
        raise ConfigError(f"{path}: [policy] must be a table")
    unknown = set(policy_table) - _POLICY_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown [policy] key {sorted(unknown)[0]!r}")
    base = _policy(Policy(), policy_table, "policy")

    services_table = data.get("services", {})
    if not isinstance(services_table, dict) or not services_table:
        raise ConfigError(f"{path}: at least one [services.NAME] table is required")
    services: dict[str, Service] = {}
    for name, table in services_table.items():
        where = f"services.{name}"
        if not isinstance(table, dict) or not isinstance(table.get("project"), str):
            raise ConfigError(f'{path}: [{where}] needs project = "group/name"')
        unknown = set(table) - _POLICY_KEYS - {"project", "paths"}
        if unknown:
            raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} in [{where}]")
        paths = table.get("paths", [])
        if not isinstance(paths, list):
            raise ConfigError(f"{path}: {where}.paths must be a list")
        services[name] = Service(
            name=name,
            project=table["project"],
            policy=_policy(base, table, where),
            paths=tuple(paths),
        )
    timeout = gitlab.get("timeout", 30)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{path}: [gitlab] timeout must be a positive number of seconds")
    return Settings(
        url=str(url).rstrip("/"),
        token=token,
        orchestration_project=orchestration,
        services=services,
        timeout=float(timeout),
        ssl_verify=bool(gitlab.get("ssl_verify", True)),
    )
