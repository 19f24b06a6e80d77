"""The GitLab CI/CD components in templates/: their spec headers declare exactly the inputs
the jobs use, the jobs (inputs substituted) validate against GitLab's CI schema as vendored
by check-jsonschema, and their script lines, run through bash against the simulator, write
what the artifacts name and exit with the contract's codes."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.conftest import Served, serve

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
COMPONENTS = ["weekly-sweep", "mr-promotion"]
INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")
TYPES = {"string": str, "boolean": bool, "number": (int, float), "array": list}


@dataclass(frozen=True)
class Component:
    name: str
    spec: dict[str, Any]
    jobs_text: str

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return self.spec["spec"]["inputs"]


def parse(text: str, name: str = "test") -> Component:
    # a component is a spec header, `---`, then the jobs; GitLab reads them as two documents
    header, jobs = re.split(r"^---\s*$", text, maxsplit=1, flags=re.MULTILINE)
    spec = yaml.safe_load(header)
    assert set(spec) == {"spec"}, f"{name}: the header holds only spec:"
    return Component(name, spec, jobs)


def load(name: str) -> Component:
    return parse((TEMPLATES / f"{name}.yml").read_text(encoding="utf-8"), name)


def spec_problems(component: Component) -> list[str]:
    declared = set(component.inputs)
    used = set(INPUT.findall(component.jobs_text))
    problems = [f"input {n} used but not declared" for n in sorted(used - declared)]
    problems += [f"input {n} declared but never used" for n in sorted(declared - used)]
    for name, spec in component.inputs.items():
        if not spec.get("description"):
            problems.append(f"input {name} has no description")
        kind = spec.get("type", "string")
        if "default" not in spec:
            problems.append(f"input {name} has no default")
        elif not isinstance(spec["default"], TYPES[kind]):
            problems.append(f"input {name}: default {spec['default']!r} is not a {kind}")
        if "options" in spec and spec.get("default") not in spec["options"]:
            problems.append(f"input {name}: default not among its options")
        if "regex" in spec and not re.search(spec["regex"], str(spec.get("default"))):
            problems.append(f"input {name}: default does not match its regex")
    return problems


def _interpolate(value: Any, values: dict[str, Any]) -> Any:
    # as GitLab does on the loaded YAML: a value that is only `$[[ inputs.x ]]` takes the
    # input's typed value, an input inside a longer string is spliced in as text
    if isinstance(value, dict):
        return {_interpolate(k, values): _interpolate(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, values) for v in value]
    if isinstance(value, str):
        whole = INPUT.fullmatch(value.strip())
        if whole:
            return values[whole.group(1)]

        def text(m: re.Match[str]) -> str:
            v = values[m.group(1)]
            return ("true" if v else "false") if isinstance(v, bool) else str(v)

        return INPUT.sub(text, value)
    return value


def render(component: Component, **overrides: Any) -> dict[str, Any]:
    unknown = set(overrides) - set(component.inputs)
    assert not unknown, f"not inputs of {component.name}: {unknown}"
    values = {n: s.get("default") for n, s in component.inputs.items()} | overrides
    return _interpolate(yaml.safe_load(component.jobs_text), values)


def gitlab_ci_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("gitlab-ci.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = gitlab_ci_schema()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def only_job(document: dict[str, Any]) -> dict[str, Any]:
    (job,) = document.values()
    return job


# --- the spec header and the schema -------------------------------------------------------


@pytest.mark.parametrize("name", COMPONENTS)
def test_spec_declares_exactly_the_inputs_used(name: str) -> None:
    assert spec_problems(load(name)) == []


def test_spec_check_catches_undeclared_unused_and_mistyped_inputs() -> None:
    text = (TEMPLATES / "weekly-sweep.yml").read_text(encoding="utf-8")
    text = text.replace("$[[ inputs.cache_key ]]", "$[[ inputs.cache_name ]]")
    text = text.replace("default: false", "default: 'no'")
    text = text.replace("default: AUDITOR_GITLAB_TOKEN", "default: $AUDITOR_GITLAB_TOKEN")
    assert spec_problems(parse(text)) == [
        "input cache_name used but not declared",
        "input cache_key declared but never used",
        "input token_variable: default does not match its regex",
        "input allow_incomplete: default 'no' is not a boolean",
    ]


@pytest.mark.parametrize("name", COMPONENTS)
def test_header_and_jobs_validate_against_gitlab_ci_schema(
    name: str, validator: Draft7Validator
) -> None:
    component = load(name)
    assert schema_errors(validator, component.spec) == []
    jobs = render(component)
    assert schema_errors(validator, jobs) == []
    job = only_job(jobs)
    # YAML reads `echo "a: b"` unquoted as a mapping; every script line must stay a string
    assert all(isinstance(line, str) for line in job["before_script"] + job["script"])
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] in job["artifacts"]["paths"]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda job: job["artifacts"].__setitem__("when", "sometimes"),
        lambda job: job.__setitem__("scirpt", ["true"]),
        lambda job: job["script"].append({"echo auditor": "broken"}),
        lambda job: job["rules"][0].__setitem__("when", "whenever"),
    ],
    ids=["artifacts-when", "unknown-key", "script-mapping", "rules-when"],
)
def test_schema_rejects_a_broken_job(break_it: Any, validator: Draft7Validator) -> None:
    jobs = render(load("weekly-sweep"))
    break_it(only_job(jobs))
    assert schema_errors(validator, jobs)


def test_schema_rejects_an_unquoted_colon_in_a_script_line(validator: Draft7Validator) -> None:
    text = (TEMPLATES / "mr-promotion.yml").read_text(encoding="utf-8")
    broken = re.sub(r"^(    - )'(export .*)'$", r"\1\2", text, flags=re.MULTILINE)
    assert broken != text
    assert schema_errors(validator, render(parse(broken)))


def test_rules_run_the_sweep_on_schedules_and_the_check_on_labelled_mrs() -> None:
    weekly = only_job(render(load("weekly-sweep")))
    assert weekly["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    mr = only_job(render(load("mr-promotion")))
    labelled, unlabelled = mr["rules"]
    assert labelled["if"].startswith('$CI_PIPELINE_SOURCE == "merge_request_event" && ')
    assert unlabelled == {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"', "when": "never"}
    body = re.search(r"\$CI_MERGE_REQUEST_LABELS =~ /(.*)/$", labelled["if"]).group(1)
    # $CI_MERGE_REQUEST_LABELS is the comma-separated list of the MR's labels
    for labels, match in [
        ("Validated in Staging", True),
        ("hotfix,Validated in Staging,backend", True),
        ("Not Validated in Staging", False),
        ("Validated in Staging later", False),
        ("hotfix", False),
    ]:
        assert bool(re.search(body, labels)) is match, labels


# --- the script lines, run through bash against the simulator ----------------------------


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    # stands for the install step: `auditor` runs this interpreter on the code under test
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "auditor"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m auditor "$@"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def run_job(
    job: dict[str, Any], cwd: Path, bin_dir: Path, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITLAB_", "CI_", "AUDITOR_")) and k != "NO_COLOR"
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env |= {"CI_PROJECT_PATH": "evenergi/vemo-core", "CI_MERGE_REQUEST_IID": "1"} | variables
    # the runner's bash executor runs the lines as one script under `set -eo pipefail`
    script = "\n".join(job.get("before_script", []) + job["script"])
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Served]:
    yield from serve("by_the_book", tmp_path)


def mr_job(world: Served, **overrides: Any) -> dict[str, Any]:
    return only_job(
        render(
            load("mr-promotion"),
            install="true",
            config=str(world.config),
            extra_args=f"--now {world.world.now.isoformat()}",
            **overrides,
        )
    )


def test_mr_job_passes_by_the_book_and_writes_its_junit(
    book: Served, tmp_path: Path, bin_dir: Path
) -> None:
    job = mr_job(book)
    cwd = tmp_path / "job"
    done = run_job(job, cwd, bin_dir, {"AUDITOR_GITLAB_TOKEN": book.world.token})
    assert done.returncode == 0, done.stderr
    junit = cwd / job["artifacts"]["reports"]["junit"]
    text = junit.read_text(encoding="utf-8")
    assert "<testsuite" in text and 'failures="0"' in text
    assert book.world.token not in done.stdout + done.stderr + text
    assert "every promotion of this MR is compliant" in done.stdout


@pytest.mark.parametrize(("world", "code"), [("cut_off_instead", 1), ("environment_unreadable", 3)])
def test_mr_job_fails_on_a_violation_or_an_incomplete_audit(
    world: str, code: int, tmp_path: Path, bin_dir: Path
) -> None:
    for served_world in serve(world, tmp_path):
        job = mr_job(served_world)
        done = run_job(
            job, tmp_path / "job", bin_dir, {"AUDITOR_GITLAB_TOKEN": served_world.world.token}
        )
        assert done.returncode == code, done.stderr
        junit = (tmp_path / "job" / job["artifacts"]["reports"]["junit"]).read_text()
        # a rule that failed is a <failure>, one that could not be established an <error>
        assert ("<failure" if code == 1 else "<error") in junit
        allowed = run_job(
            mr_job(served_world, allow_incomplete=True),
            tmp_path / "job2",
            bin_dir,
            {"AUDITOR_GITLAB_TOKEN": served_world.world.token},
        )
        # allow_incomplete lets exit 3 through, never a violation
        assert allowed.returncode == (1 if code == 1 else 0), allowed.stderr


def test_token_comes_from_the_variable_the_input_names(
    book: Served, tmp_path: Path, bin_dir: Path
) -> None:
    job = mr_job(book, token_variable="HOTFIX_AUDIT_TOKEN")
    missing = run_job(job, tmp_path / "a", bin_dir, {"AUDITOR_GITLAB_TOKEN": book.world.token})
    assert missing.returncode != 0
    assert "HOTFIX_AUDIT_TOKEN: is not set" in missing.stderr
    assert book.world.token not in missing.stdout + missing.stderr
    wrong = run_job(job, tmp_path / "b", bin_dir, {"HOTFIX_AUDIT_TOKEN": "not-the-token"})
    assert wrong.returncode == 4, wrong.stderr
    right = run_job(job, tmp_path / "c", bin_dir, {"HOTFIX_AUDIT_TOKEN": book.world.token})
    assert right.returncode == 0, right.stderr


def weekly_job(world: Served, **overrides: Any) -> dict[str, Any]:
    return only_job(
        render(
            load("weekly-sweep"),
            install="true",
            config=str(world.config),
            window="--from 2026-11-16 --to 2026-11-22",
            extra_args=f"--now {world.world.now.isoformat()}",
            **overrides,
        )
    )


def test_weekly_job_writes_reports_store_and_junit(
    book: Served, tmp_path: Path, bin_dir: Path
) -> None:
    job = weekly_job(book)
    cwd = tmp_path / "job"
    done = run_job(job, cwd, bin_dir, {"AUDITOR_GITLAB_TOKEN": book.world.token})
    assert done.returncode == 0, done.stderr
    paths = job["artifacts"]["paths"]
    reports, db, junit = (cwd / p for p in paths)
    assert (reports / "index.html").is_file()
    assert (reports / "vemo-core.pdf").is_file()
    assert db.is_file() and db.name == "auditor.db"
    assert job["cache"]["paths"] == [paths[1]]
    text = junit.read_text(encoding="utf-8")
    assert junit.name == job["artifacts"]["reports"]["junit"]
    assert "<testsuite" in text and "vemo-core" in text and 'failures="0"' in text
    assert book.world.token not in done.stdout + done.stderr + text


def test_weekly_job_fails_on_a_violation_and_still_writes_its_junit(
    tmp_path: Path, bin_dir: Path
) -> None:
    # the `week` world: charge-api!3 and billing!3 are non_compliant
    for world in serve("week", tmp_path):
        job = weekly_job(world, allow_incomplete=True)
        cwd = tmp_path / "job"
        done = run_job(job, cwd, bin_dir, {"AUDITOR_GITLAB_TOKEN": world.world.token})
        assert done.returncode == 1, done.stderr
        assert "<failure" in (cwd / job["artifacts"]["reports"]["junit"]).read_text()


def test_weekly_job_writes_no_stale_junit_when_gitlab_cannot_be_used(
    book: Served, tmp_path: Path, bin_dir: Path
) -> None:
    job = weekly_job(book)
    cwd = tmp_path / "job"
    first = run_job(job, cwd, bin_dir, {"AUDITOR_GITLAB_TOKEN": book.world.token})
    assert first.returncode == 0, first.stderr
    # next week the token is rejected: the store still holds last week's finished run,
    # which must not be published as this week's test report
    again = run_job(job, cwd, bin_dir, {"AUDITOR_GITLAB_TOKEN": "revoked"})
    assert again.returncode == 4, again.stderr
    assert not (cwd / job["artifacts"]["reports"]["junit"]).exists()


def test_readme_lists_every_input_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### As a GitLab CI/CD component", 1)[1].split("\n## ", 1)[0]
    shared = re.search(r"^\| (`stage`.*?) \| as above \| as above \|$", section, re.MULTILINE)
    assert shared, "the mr-promotion table's row of inputs shared with weekly-sweep"
    weekly = load("weekly-sweep").inputs
    for name in COMPONENTS:
        assert f"component: $CI_SERVER_FQDN/tools/auditor/{name}@" in section
        for key, spec in load(name).inputs.items():
            default = spec["default"]
            shown = json.dumps(default) if default in ("", True, False) else default
            if f"| `{key}` | `{shown}` |" in section:
                continue
            assert f"`{key}`" in shared.group(1), f"{name}: input {key} not in the README"
            assert weekly[key] == spec, f"{name}: {key} is not as in weekly-sweep"
