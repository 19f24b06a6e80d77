"""The rulebook (data) and the checks (code) agree, and the docs keep up with both."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from auditor.checks import CHECKS
from auditor.cli import app
from auditor.rulebook import load_rulebook

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def test_every_rule_has_a_check_and_every_check_a_rule() -> None:
    book = load_rulebook()
    assert [r.id for r in book.rules] == [f"SH{n:02d}" for n in range(1, 15)]
    assert set(CHECKS) == {r.id for r in book.rules}
    for rule in book.rules:
        module = sys.modules[CHECKS[rule.id].__module__]
        assert rule.id == module.RULE_ID
        assert module.__doc__ and module.__doc__.startswith(f"{rule.id} {rule.name}")


@pytest.mark.skipif(not (SHARED / "CONTRACT.md").is_file(), reason="shared/ not beside repo")
def test_rule_ids_and_names_are_the_contracts() -> None:
    contract = (SHARED / "CONTRACT.md").read_text()
    pairs = re.findall(r"^\| (SH\d\d) \| ([a-z-]+) \|", contract, re.MULTILINE)
    assert pairs == [(r.id, r.name) for r in load_rulebook().rules]


def test_readme_documents_every_rule_and_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for rule in load_rulebook().rules:
        assert f"{rule.id}" in readme and rule.name in readme, rule.id
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    commands.append("simulator serve")
    for name in commands:
        assert f"auditor {name}" in readme, name
    for code in range(5):
        assert f"| {code} |" in readme


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "auditor demo" in first_screen
    assert "pytest" in first_screen
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(
        r"^(python3 -m pip install -e '\.\[test\]' && python3 -m pytest.*)$",
        first_screen,
        re.MULTILINE,
    )
    assert test_command, "README must show the test command"
    assert test_command.group(1) in ci


def test_rulebook_is_valid_toml_with_required_fields() -> None:
    data = tomllib.loads((ROOT / "rules" / "staging-hotfix-release.toml").read_text())
    for rule in data["rule"]:
        assert {"id", "name", "runbook", "severity", "description"} <= set(rule)
        assert rule["severity"] in {"high", "medium", "low"}


def test_installed_wheel_finds_its_data_outside_the_checkout(tmp_path: Path) -> None:
    """rules/, reports/ and fixtures/ ship inside the wheel: the demo runs from anywhere."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    wheel = next(wheels.glob("auditor-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import auditor.resources as r, auditor.rulebook as b;"
        "assert '_data' in str(r.data_dir('fixtures')), r.data_dir('fixtures');"
        "print(len(b.load_rulebook().rules))"
    )
    out = subprocess.run(
        [str(py), "-c", code, str(target)], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "14"
