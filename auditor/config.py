"""auditor.toml + environment + python-gitlab config file -> frozen settings.

Lookup order is the contract's: `--config PATH`, `$AUDITOR_CONFIG`, `./auditor.toml`.
The token is never read from auditor.toml: `$GITLAB_TOKEN`, `$GITLAB_PRIVATE_TOKEN`, or the
python-gitlab config section named by `python_gitlab_section`.

Everything is checked here, once, so that a typo cannot quietly change what is audited: an
unknown table or key is refused with the nearest valid name, every value has its type and
range, and a GitLab URL carrying credentials is refused without repeating them (it would
otherwise travel into every JSON report, the database, the HTML and the PDF).
"""

from __future__ import annotations

import configparser
import difflib
import math
import os
import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the user."""


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# A request that takes longer than an hour is a misconfiguration, not patience.
MAX_TIMEOUT = 3600.0
# Below a minute every promotion is judged before anyone could act; beyond a quarter
# a missing label would stay "in progress" past any audit.
GRACE_MIN = timedelta(minutes=1)
GRACE_MAX = timedelta(days=90)


def parse_duration(text: str) -> timedelta:
    """`36h`, `7d`, `2w`, `90m`, `30s` -> timedelta."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 24h, 7d)")
    try:
        return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    except OverflowError:
        raise ConfigError(f"duration too long: {text!r}") from None


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
    # environments after staging (globs): a failed hotfix must not move toward them
    later_environments: tuple[str, ...] = ("production*",)
    # words that tune how validation notes are read; None: the built-in vocabulary
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

    @property
    def cut_off_job_name(self) -> str:
        return self.policy.cut_off_job.format(service=self.name)


@dataclass(frozen=True)
class Settings:
    url: str
    token: str = field(repr=False)
    orchestration_project: str
    services: Mapping[str, Service]
    timeout: float = 30.0
    # True, False, or the path of a CA bundle (as requests and python-gitlab take it)
    ssl_verify: bool | str = True

    def services_for_project(self, project: str) -> list[Service]:
        return [s for s in self.services.values() if s.project == project]


TABLES = ("gitlab", "policy", "services")
GITLAB_KEYS = ("url", "orchestration_project", "timeout", "ssl_verify", "python_gitlab_section")
POLICY_KEYS = tuple(f.name for f in fields(Policy))
SERVICE_KEYS = ("project", "paths", *POLICY_KEYS)
_STRING_KEYS = ("release_branch", "staging_environment", "validated_label")
_PATTERN_LISTS = ("smoke_jobs", "later_environments")
_WORD_LISTS = ("validation_words", "failure_words", "pending_words")
# Service names become file names (SERVICE.html) and job names: keep them plain.
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# group/sub/name as GitLab spells a project path
_PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")


def _unknown(key: str, valid: Iterable[str], where: str, table: bool = False) -> ConfigError:
    """`unknown key 'x' in [where] (did you mean y?)`, naming the valid ones otherwise."""
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    shown = f"[{key}]" if table else repr(key)
    hint = f"did you mean {close[0]}?" if close else f"valid: {', '.join(valid)}"
    what = "table" if table else "key"
    return ConfigError(f"unknown {what} {shown}{where} ({hint})")


def _refuse_unknown(table: Mapping[str, object], valid: Iterable[str], where: str) -> None:
    valid = tuple(valid)
    for key in table:
        if key not in valid:
            raise _unknown(key, valid, f" in [{where}]")


def _string_list(value: object, where: str, what: str, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings ({what})")
    if not value and not allow_empty:
        raise ConfigError(f"{where} must not be empty ({what})")
    return tuple(value)


def _template(value: object, where: str, required: bool) -> str:
    """A job-name template whose only placeholder is `{service}`."""
    example = '"release {service}"' if required else '"cut-off"'
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty job name like {example}")
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ConfigError(
            f"{where} is not a valid template ({exc}); write {{service}} for the service "
            "name and {{ }} for literal braces"
        ) from None
    placeholders = [
        (name, conversion, spec) for _, name, spec, conversion in parts if name is not None
    ]
    for name, conversion, spec in placeholders:
        if name != "service" or conversion or spec:
            text = "{" + name + (f"!{conversion}" if conversion else "")
            text += (f":{spec}" if spec else "") + "}"
            raise ConfigError(
                f"{where} has placeholder {text!r}; the only placeholder is {{service}}"
            )
    if required and not placeholders:
        raise ConfigError(f"{where} must contain {{service}}, e.g. {example}")
    return value


def _grace(value: object, where: str) -> timedelta:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a duration string like '24h'")
    try:
        period = parse_duration(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not GRACE_MIN <= period <= GRACE_MAX:
        raise ConfigError(f"{where} must be between 1m and 90d, not {value!r}")
    return period


def _policy(base: Policy, table: Mapping[str, object], where: str) -> Policy:
    changes: dict[str, Any] = {}  # each value checked against its key above
    for key, value in table.items():
        if key not in POLICY_KEYS:
            continue
        at = f"{where}.{key}"
        if key == "grace_period":
            changes[key] = _grace(value, at)
        elif key == "smoke_jobs":
            changes[key] = _string_list(value, at, "glob patterns on job names", True)
        elif key == "later_environments":
            changes[key] = _string_list(value, at, "glob patterns on environment names", False)
        elif key in _WORD_LISTS:
            changes[key] = _string_list(value, at, "words looked for in notes", False)
        elif key == "governed":
            if not isinstance(value, bool):
                raise ConfigError(f"{at} must be true or false")
            changes[key] = value
        elif key == "release_job":
            changes[key] = _template(value, at, required=True)
        elif key == "cut_off_job":
            changes[key] = _template(value, at, required=False)
        else:
            assert key in _STRING_KEYS, key
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{at} must be a non-empty string")
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
    try:
        parser.read([p for p in candidates if p.is_file()], encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        # the parser's own message may quote a line of the file, and that line a token
        raise ConfigError(
            f"python-gitlab config cannot be read ({type(exc).__name__}); check its syntax"
        ) from None
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


def check_url(url: object, source: str) -> str:
    """The GitLab base URL, refused (without repeating it) when it is not a plain
    http(s) URL: credentials, a query or a fragment would be copied into every report."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{source} must be a URL like https://gitlab.example.com")
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(f"{source} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{source} must start with http:// or https://")
    if "@" in parts.netloc:
        raise ConfigError(
            f"{source} contains credentials (user:secret@host); remove them from the URL "
            "and set GITLAB_TOKEN instead"
        )
    if not parts.hostname:
        raise ConfigError(f"{source} has no host name")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ConfigError(
            f"{source} must not have a query (?...) or fragment (#...); give only the "
            "address of GitLab, e.g. https://gitlab.example.com"
        )
    if any(c.isspace() for c in text):
        raise ConfigError(f"{source} must not contain spaces")
    return text.rstrip("/")


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        kind = (
            "UTF-16"
            if raw.startswith((b"\xff\xfe", b"\xfe\xff"))
            else f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        )
        raise ConfigError(f"not UTF-8 ({kind}); save it as UTF-8") from None


def _table(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise ConfigError(
            f"[gitlab] timeout must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:.0f}, not {value!r}"
        )
    return float(value)


def _ssl_verify(value: object) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() and Path(value).is_file():
        return value
    raise ConfigError("[gitlab] ssl_verify must be true, false or the path of a CA bundle file")


class _NotAboutTheFile(ConfigError):
    """A problem with the environment rather than auditor.toml (its message names it)."""


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config; every problem is a ConfigError with one line."""
    env = os.environ if env is None else env
    try:
        text = _decode(path.read_bytes())
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return _settings(data, env)
    except _NotAboutTheFile:
        raise
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _settings(data: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    for key, value in data.items():
        if key not in TABLES:
            raise _unknown(key, TABLES, "", table=isinstance(value, dict))

    gitlab = _table(data, "gitlab")
    if "token" in gitlab or "private_token" in gitlab:
        raise ConfigError("tokens do not belong in auditor.toml; set GITLAB_TOKEN instead")
    _refuse_unknown(gitlab, GITLAB_KEYS, "gitlab")
    url: object = None
    source = ""
    for key in ("GITLAB_URL", "CI_SERVER_URL"):
        if env.get(key):
            url, source = env[key], f"${key}"
            break
    token = env.get("GITLAB_TOKEN") or env.get("GITLAB_PRIVATE_TOKEN")
    section = gitlab.get("python_gitlab_section")
    if section is not None:
        if not isinstance(section, str) or not section.strip():
            raise ConfigError("[gitlab] python_gitlab_section must be a section name")
        try:
            cfg_url, cfg_token = _python_gitlab_section(section, env)
        except ConfigError as exc:
            raise _NotAboutTheFile(str(exc)) from None
        if cfg_url:
            url, source = cfg_url, f"the url of python-gitlab section [{section}]"
        token = token or cfg_token
    if "url" in gitlab:
        url, source = gitlab["url"], "[gitlab] url"
    if not url:
        raise ConfigError("no GitLab URL ([gitlab] url, or GITLAB_URL)")
    try:
        base_url = check_url(url, source)
    except ConfigError as exc:
        if source == "[gitlab] url":
            raise
        raise _NotAboutTheFile(str(exc)) from None
    if not token:
        raise _NotAboutTheFile(
            "no GitLab token: set GITLAB_TOKEN to a token with the read_api scope"
        )
    orchestration = gitlab.get("orchestration_project")
    if not orchestration or not isinstance(orchestration, str):
        raise ConfigError("[gitlab] orchestration_project is required")
    if not _PROJECT_PATH.match(orchestration):
        raise ConfigError('[gitlab] orchestration_project must be a project path like "group/name"')

    policy_table = _table(data, "policy")
    _refuse_unknown(policy_table, POLICY_KEYS, "policy")
    base = _policy(Policy(), policy_table, "policy")

    services_table = data.get("services", {})
    if not isinstance(services_table, dict) or not services_table:
        raise ConfigError("at least one [services.NAME] table is required")
    services: dict[str, Service] = {}
    for name, table in services_table.items():
        where = f"services.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"[{where}] must be a table")
        if not _SERVICE_NAME.match(name):
            raise ConfigError(f"service name {name!r} must be letters, digits, '.', '_' or '-'")
        _refuse_unknown(table, SERVICE_KEYS, where)
        project = table.get("project")
        if not isinstance(project, str) or not _PROJECT_PATH.match(project):
            raise ConfigError(f'[{where}] needs project = "group/name"')
        paths = _string_list(
            table.get("paths", []), f"{where}.paths", "glob patterns on file paths", True
        )
        services[name] = Service(
            name=name, project=project, policy=_policy(base, table, where), paths=paths
        )
    return Settings(
        url=base_url,
        token=token,
        orchestration_project=orchestration,
        services=services,
        timeout=_timeout(gitlab.get("timeout", 30)),
        ssl_verify=_ssl_verify(gitlab.get("ssl_verify", True)),
    )
