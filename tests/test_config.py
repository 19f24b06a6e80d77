"""auditor.toml, the environment and the python-gitlab config file -> Settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from auditor.config import ConfigError, find_config, load_settings, parse_duration

BASE = """
[gitlab]
orchestration_project = "evenergi/develop"

[policy]
grace_period = "36h"
smoke_jobs = ["e2e*"]

[services.vemo-core]
project = "evenergi/vemo-core"

[services.vemo-worker]
project = "evenergi/vemo"
governed = false
staging_environment = "staging/worker"
paths = ["services/worker/**"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.toml"
    path.write_text(text)
    return path


def test_policy_defaults_and_per_service_overrides(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, '[gitlab]\nurl = "https://g.example/"\n' + BASE[9:]), {"GITLAB_TOKEN": "t"}
    )
    assert s.url == "https://g.example"
    core, worker = s.services["vemo-core"], s.services["vemo-worker"]
    assert core.policy.grace_period == timedelta(hours=36)
    assert core.policy.smoke_jobs == ("e2e*",)
    assert core.policy.staging_environment == "staging"
    assert core.release_job_name == "release vemo-core"
    assert worker.policy.governed is False and core.policy.governed is True
    assert worker.policy.staging_environment == "staging/worker"
    assert worker.policy.grace_period == timedelta(hours=36)
    assert worker.paths == ("services/worker/**",)
    assert [x.name for x in s.services_for_project("evenergi/vemo")] == ["vemo-worker"]


def test_url_from_environment_in_the_contracts_order(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    env = {"GITLAB_TOKEN": "t", "GITLAB_URL": "https://a.example", "CI_SERVER_URL": "https://b"}
    assert load_settings(path, env).url == "https://a.example"
    env.pop("GITLAB_URL")
    assert load_settings(path, env).url == "https://b"


def test_token_from_gitlab_private_token_and_never_in_repr(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, BASE), {"GITLAB_PRIVATE_TOKEN": "glpat-secret", "GITLAB_URL": "https://g"}
    )
    assert s.token == "glpat-secret"
    assert "glpat-secret" not in repr(s)


def test_python_gitlab_config_section(tmp_path: Path) -> None:
    cfg = tmp_path / "python-gitlab.cfg"
    cfg.write_text(
        "[global]\ndefault = work\n\n[work]\nurl = https://work.example\n"
        "private_token = glpat-from-cfg\n"
    )
    path = _write(
        tmp_path, BASE.replace("[gitlab]\n", '[gitlab]\npython_gitlab_section = "work"\n')
    )
    s = load_settings(path, {"PYTHON_GITLAB_CFG": str(cfg)})
    assert (s.url, s.token) == ("https://work.example", "glpat-from-cfg")
    # the environment's token wins over the file's
    assert load_settings(path, {"PYTHON_GITLAB_CFG": str(cfg), "GITLAB_TOKEN": "t"}).token == "t"
    with pytest.raises(ConfigError, match=r"no section \[home\]"):
        load_settings(
            _write(
                tmp_path, BASE.replace("[gitlab]\n", '[gitlab]\npython_gitlab_section = "home"\n')
            ),
            {"PYTHON_GITLAB_CFG": str(cfg)},
        )


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, from_env = tmp_path / "a.toml", tmp_path / "b.toml"
    explicit.write_text(BASE)
    from_env.write_text(BASE)
    assert find_config(explicit, {"AUDITOR_CONFIG": str(from_env)}) == explicit
    assert find_config(None, {"AUDITOR_CONFIG": str(from_env)}) == from_env
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        find_config(None, {})
    (tmp_path / "auditor.toml").write_text(BASE)
    assert find_config(None, {}) == Path("auditor.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h24", "1.5h", "-3d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)
