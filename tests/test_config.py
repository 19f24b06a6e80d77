"""auditor.toml, the environment and the python-gitlab config file -> Settings."""

from __future__ import annotations

import re
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


# -- every value checked -------------------------------------------------------------------
HEAD = '[gitlab]\nurl = "https://g.example"\norchestration_project = "evenergi/develop"\n'
SERVICE = '[services.vemo-core]\nproject = "evenergi/vemo-core"\n'


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    return load_settings(_write(tmp_path, text), {"GITLAB_TOKEN": "t", **(env or {})})


def _refused(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_new_policy_keys_default_and_override_per_service(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        HEAD
        + '[policy]\nlater_environments = ["prod*", "live"]\nfailure_words = ["broken"]\n'
        + SERVICE
        + '[services.charge-api]\nproject = "evenergi/charge-api"\n'
        + 'validation_words = ["looks good"]\npending_words = ["waiting"]\n'
        + 'later_environments = ["production/*"]\ncut_off_job = "cut-off {service}"\n',
    )
    core, charge = s.services["vemo-core"], s.services["charge-api"]
    assert core.policy.later_environments == ("prod*", "live")
    assert core.policy.failure_words == ("broken",)
    assert core.policy.validation_words is None and core.policy.pending_words is None
    assert charge.policy.later_environments == ("production/*",)
    assert charge.policy.failure_words == ("broken",)  # inherited from [policy]
    assert charge.policy.validation_words == ("looks good",)
    assert charge.policy.pending_words == ("waiting",)
    assert core.cut_off_job_name == "cut-off"
    assert charge.cut_off_job_name == "cut-off charge-api"


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    s = _load(tmp_path, HEAD + SERVICE)
    policy = s.services["vemo-core"].policy
    assert policy.later_environments == ("production*",)
    assert (policy.validation_words, policy.failure_words, policy.pending_words) == (
        None,
        None,
        None,
    )
    assert s.timeout == 30.0 and s.ssl_verify is True


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "3601", "true", '"30"'])
def test_timeout_must_be_a_sane_number_of_seconds(tmp_path: Path, value: str) -> None:
    text = HEAD + f"timeout = {value}\n" + SERVICE
    assert "[gitlab] timeout must be a number of seconds" in _refused(tmp_path, text)


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), ("3600", 3600.0), ("30", 30.0)])
def test_timeouts_in_range(tmp_path: Path, value: str, expected: float) -> None:
    assert _load(tmp_path, HEAD + f"timeout = {value}\n" + SERVICE).timeout == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"0m"', "between 1m and 90d"),
        ('"30s"', "between 1m and 90d"),
        ('"91d"', "between 1m and 90d"),
        ('"14w"', "between 1m and 90d"),
        ('"99999999999999999999d"', "too long"),
        ("24", "duration string"),
        ('"soon"', "not a duration"),
    ],
)
def test_grace_period_in_range(tmp_path: Path, value: str, words: str) -> None:
    message = _refused(tmp_path, HEAD + f"[policy]\ngrace_period = {value}\n" + SERVICE)
    assert words in message and "policy.grace_period" in message
    # and the same per service
    per_service = _refused(tmp_path, HEAD + SERVICE + f"grace_period = {value}\n")
    assert "services.vemo-core.grace_period" in per_service


@pytest.mark.parametrize(("value", "expected"), [("1m", 60), ("90d", 90 * 86400)])
def test_grace_period_bounds_are_allowed(tmp_path: Path, value: str, expected: int) -> None:
    s = _load(tmp_path, HEAD + f'[policy]\ngrace_period = "{value}"\n' + SERVICE)
    assert s.services["vemo-core"].policy.grace_period.total_seconds() == expected


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("release {svc", "not a valid template"),
        ("release {service", "not a valid template"),
        ("release }", "not a valid template"),
        ("{0}", "placeholder '{0}'"),
        ("release {}", "placeholder '{}'"),
        ("release {svc}", "placeholder '{svc}'"),
        ("release {service!r}", "placeholder '{service!r}'"),
        ("release {service:>20}", "placeholder '{service:>20}'"),
        ("release {service.upper}", "placeholder '{service.upper}'"),
        ("release", "must contain {service}"),
        ("", "non-empty job name"),
    ],
)
def test_release_job_template_is_well_formed(tmp_path: Path, template: str, words: str) -> None:
    message = _refused(tmp_path, HEAD + f'[policy]\nrelease_job = "{template}"\n' + SERVICE)
    assert words in message and "policy.release_job" in message


def test_release_job_template_with_literal_braces(tmp_path: Path) -> None:
    s = _load(tmp_path, HEAD + '[policy]\nrelease_job = "{{ci}} release {service}"\n' + SERVICE)
    assert s.services["vemo-core"].release_job_name == "{ci} release vemo-core"


@pytest.mark.parametrize("template", ["cut-off {svc", "{0}", "cut-off {name}"])
def test_cut_off_job_template_is_well_formed(tmp_path: Path, template: str) -> None:
    message = _refused(tmp_path, HEAD + SERVICE + f'cut_off_job = "{template}"\n')
    assert "services.vemo-core.cut_off_job" in message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('smoke_jobs = "smoke*"', "policy.smoke_jobs must be a list of non-empty strings"),
        ("smoke_jobs = [1]", "policy.smoke_jobs must be a list of non-empty strings"),
        ('smoke_jobs = ["smoke*", ""]', "policy.smoke_jobs must be a list of non-empty strings"),
        ("later_environments = []", "policy.later_environments must not be empty"),
        ("later_environments = [true]", "policy.later_environments must be a list"),
        ("validation_words = []", "policy.validation_words must not be empty"),
        ('failure_words = ["  "]', "policy.failure_words must be a list of non-empty strings"),
        ('pending_words = "waiting"', "policy.pending_words must be a list"),
        ('governed = "false"', "policy.governed must be true or false"),
        ("governed = 0", "policy.governed must be true or false"),
        ("release_branch = 3", "policy.release_branch must be a non-empty string"),
        ('staging_environment = ""', "policy.staging_environment must be a non-empty string"),
        ("validated_label = []", "policy.validated_label must be a non-empty string"),
    ],
)
def test_policy_value_types(tmp_path: Path, line: str, words: str) -> None:
    assert words in _refused(tmp_path, HEAD + f"[policy]\n{line}\n" + SERVICE)


def test_empty_smoke_jobs_is_allowed(tmp_path: Path) -> None:
    s = _load(tmp_path, HEAD + "[policy]\nsmoke_jobs = []\n" + SERVICE)
    assert s.services["vemo-core"].policy.smoke_jobs == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEAD + SERVICE + 'paths = "services/**"\n', "services.vemo-core.paths must be a list"),
        (HEAD + SERVICE + 'paths = ["ok/**", 3]\n', "services.vemo-core.paths must be a list"),
        (HEAD + '[services.vemo-core]\nproject = "vemo-core"\n', 'needs project = "group/name"'),
        (HEAD + "[services.vemo-core]\nproject = 42\n", 'needs project = "group/name"'),
        (HEAD + '[services]\nvemo-core = "evenergi/vemo-core"\n', "must be a table"),
        ('services = ["a"]\n' + HEAD, "[services.NAME]"),
        (HEAD + '[services."../x"]\nproject = "a/b"\n', "service name '../x'"),
        (
            HEAD.replace('"evenergi/develop"', '"develop"') + SERVICE,
            "orchestration_project must be a project path",
        ),
        (HEAD + "python_gitlab_section = 3\n" + SERVICE, "python_gitlab_section must be"),
        (HEAD + 'ssl_verify = "false"\n' + SERVICE, "ssl_verify must be true, false or"),
        (HEAD + "ssl_verify = 1\n" + SERVICE, "ssl_verify must be true, false or"),
        ('gitlab = "https://g"\n' + SERVICE, "[gitlab] must be a table"),
        ('policy = "strict"\n' + HEAD + SERVICE, "[policy] must be a table"),
    ],
)
def test_service_and_gitlab_values(tmp_path: Path, text: str, words: str) -> None:
    assert words in _refused(tmp_path, text)


def test_ssl_verify_takes_a_ca_bundle_path(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    s = _load(tmp_path, HEAD + f"ssl_verify = {str(bundle)!r}\n" + SERVICE)
    assert s.ssl_verify == str(bundle)
    assert _load(tmp_path, HEAD + "ssl_verify = false\n" + SERVICE).ssl_verify is False


# -- unknown names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            HEAD + "[polcy]\ngoverned = false\n" + SERVICE,
            "unknown table [polcy] (did you mean policy?)",
        ),
        (
            HEAD + SERVICE + "[service.x]\nproject = 'a/x'\n",
            "unknown table [service] (did you mean services?)",
        ),
        (
            HEAD + "[extras]\nx = 1\n" + SERVICE,
            "unknown table [extras] (valid: gitlab, policy, services)",
        ),
        ('url = "https://g"\n' + HEAD + SERVICE, "unknown key 'url' (valid: gitlab"),
        (
            HEAD + 'urll = "https://h"\n' + SERVICE,
            "unknown key 'urll' in [gitlab] (did you mean url?)",
        ),
        (
            HEAD + "timout = 5\n" + SERVICE,
            "unknown key 'timout' in [gitlab] (did you mean timeout?)",
        ),
        (
            HEAD + '[policy]\ngrace_perod = "2h"\n' + SERVICE,
            "unknown key 'grace_perod' in [policy] (did you mean grace_period?)",
        ),
        (
            HEAD + SERVICE + "governd = false\n",
            "unknown key 'governd' in [services.vemo-core] (did you mean governed?)",
        ),
        (
            HEAD + SERVICE + 'pathz = ["a/**"]\n',
            "unknown key 'pathz' in [services.vemo-core] (did you mean paths?)",
        ),
        (HEAD + SERVICE + "zzz = 1\n", "unknown key 'zzz' in [services.vemo-core] (valid: project"),
    ],
)
def test_unknown_tables_and_keys_are_refused_with_the_nearest_name(
    tmp_path: Path, text: str, words: str
) -> None:
    message = _refused(tmp_path, text)
    assert words in message, message
    assert message.startswith(str(tmp_path / "auditor.toml") + ": ")


def test_the_token_refusal_comes_first(tmp_path: Path) -> None:
    message = _refused(tmp_path, HEAD + 'private_token = "glpat-in-file-secret"\n' + SERVICE)
    assert "tokens do not belong in auditor.toml" in message
    assert "glpat-in-file-secret" not in message


# -- encodings -------------------------------------------------------------------------------
def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "auditor.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + SERVICE).encode("utf-8"))
    assert load_settings(path, {"GITLAB_TOKEN": "t"}).orchestration_project == "evenergi/develop"


@pytest.mark.parametrize(
    ("encoding", "words"),
    [("utf-16", "not UTF-8 (UTF-16)"), ("latin-1", "not UTF-8 (byte 0xe9 at offset")],
)
def test_a_config_that_is_not_utf8_is_one_clear_line(
    tmp_path: Path, encoding: str, words: str
) -> None:
    path = tmp_path / "auditor.toml"
    path.write_bytes((HEAD + SERVICE + 'validated_label = "Validé"\n').encode(encoding))
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_settings(path, {"GITLAB_TOKEN": "t"})


# -- the GitLab URL --------------------------------------------------------------------------
SECRET = "glpat-in-url-secret-987"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"https://oauth2:{SECRET}@gitlab.example.com", "contains credentials"),
        (f"https://{SECRET}@gitlab.example.com", "contains credentials"),
        (f"https://gitlab.example.com/?private_token={SECRET}", "must not have a query"),
        (f"https://gitlab.example.com/#{SECRET}", "must not have a query"),
        ("https://gitlab.example.com/?", "must not have a query"),
        (f"ftp://gitlab.example.com/{SECRET}", "must start with http:// or https://"),
        (f"gitlab.example.com/{SECRET}", "must start with http:// or https://"),
        ("https://", "has no host name"),
        (f"https://gitlab.example.com:{SECRET}/", "not a valid URL"),
        ("https://gitlab.example.com/my gitlab", "must not contain spaces"),
    ],
)
def test_url_refused_without_repeating_it(tmp_path: Path, url: str, words: str) -> None:
    in_file = _refused(tmp_path, HEAD.replace("https://g.example", url) + SERVICE)
    assert words in in_file and "[gitlab] url" in in_file and SECRET not in in_file
    no_url = HEAD.replace('url = "https://g.example"\n', "") + SERVICE
    for variable in ("GITLAB_URL", "CI_SERVER_URL"):
        from_env = _refused(tmp_path, no_url, {variable: url})
        assert words in from_env and f"${variable}" in from_env and SECRET not in from_env


def test_url_with_credentials_from_the_python_gitlab_config(tmp_path: Path) -> None:
    cfg = tmp_path / "python-gitlab.cfg"
    cfg.write_text(f"[work]\nurl = https://me:{SECRET}@work.example\nprivate_token = x\n")
    text = HEAD.replace('url = "https://g.example"\n', 'python_gitlab_section = "work"\n')
    message = _refused(tmp_path, text + SERVICE, {"PYTHON_GITLAB_CFG": str(cfg)})
    assert "python-gitlab section [work]" in message and "contains credentials" in message
    assert SECRET not in message


def test_a_url_with_a_path_is_kept_without_its_trailing_slash(tmp_path: Path) -> None:
    s = _load(tmp_path, HEAD.replace("https://g.example", "https://h.example/gitlab/") + SERVICE)
    assert s.url == "https://h.example/gitlab"


def test_bad_durations_never_overflow() -> None:
    with pytest.raises(ConfigError, match="too long"):
        parse_duration("99999999999999999999w")
