"""The command line's everyday habits, as in glab and gh: an MR's URL as the target,
`-h`, every filter validated, `--quiet`, `--no-color` and NO_COLOR, and a demo whose
printed commands work when typed."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import Target, on_gitlab, parse_target
from auditor.cli import app
from auditor.config import ConfigError
from tests.conftest import Served, one_error_line, serve


# -- 1. an MR's URL as the target ---------------------------------------------------------
@pytest.mark.parametrize(
    "suffix",
    [
        "",
        "/",
        "/diffs",
        "/commits",
        "#note_1",
        "/diffs#note_1",
        "?tab=pipelines",
        "/diffs?view=parallel#note_1",
    ],
)
def test_mr_url_gives_the_same_audit_as_project_iid(by_the_book: Served, suffix: str) -> None:
    code, expected = by_the_book.check_json("evenergi/vemo-core!1")
    url = f"{by_the_book.url}/evenergi/vemo-core/-/merge_requests/1{suffix}"
    by_the_book.server.reset_counts()
    got_code, got = by_the_book.check_json(url)
    assert (got_code, got["promotions"]) == (code, expected["promotions"])
    assert got["promotions"][0]["mr"]["project"] == "evenergi/vemo-core"
    assert got["promotions"][0]["verdict"] == "compliant"


def test_mr_url_with_service_filter(by_the_book: Served) -> None:
    url = f"{by_the_book.url}/evenergi/vemo-core/-/merge_requests/1"
    code, got = by_the_book.check_json(url, "--service", "vemo-core")
    assert code == 0 and [p["service"] for p in got["promotions"]] == ["vemo-core"]
    result = by_the_book.run("check", url, "--service", "charge-api")
    one_error_line(result, 2, "charge-api", "evenergi/vemo-core")


def test_mr_url_of_another_host_is_refused_before_any_request(
    by_the_book: Served, tmp_path: Path
) -> None:
    port = by_the_book.url.rsplit(":", 1)[1]
    # the same server under another name: a request would be recorded, and must not be
    for other in (
        f"http://localhost:{port}",
        f"https://127.0.0.1:{port}",
        "https://gitlab.other.example",
    ):
        url = f"{other}/evenergi/vemo-core/-/merge_requests/1"
        result = by_the_book.run("check", url, "--format", "json")
        one_error_line(result, 2, other, "not on the configured GitLab", by_the_book.url)
        assert result.stdout == ""
    assert by_the_book.server.requests == []
    # another GitLab that is really there is not asked either
    (tmp_path / "elsewhere").mkdir()
    for elsewhere in serve("by_the_book", tmp_path / "elsewhere"):
        url = f"{elsewhere.url}/evenergi/vemo-core/-/merge_requests/1"
        one_error_line(by_the_book.run("check", url), 2, elsewhere.url)
        assert elsewhere.server.requests == [] and by_the_book.server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "{url}/evenergi/vemo-core/-/issues/1",
        "{url}/evenergi/vemo-core/-/merge_requests/0",
        "{url}/evenergi/vemo-core/-/merge_requests/1x",
        "{url}/vemo-core/-/merge_requests/1",
        "{url}/-/merge_requests/1",
        "{url}",
    ],
)
def test_malformed_mr_url_is_a_usage_error(by_the_book: Served, url: str) -> None:
    result = by_the_book.run("check", url.format(url=by_the_book.url))
    one_error_line(result, 2, "merge_requests/IID")
    assert by_the_book.server.requests == []


def test_mr_url_with_credentials_is_refused_without_repeating_them(by_the_book: Served) -> None:
    host = by_the_book.url.split("://", 1)[1]
    url = f"http://oauth2:glpat-in-url-777@{host}/evenergi/vemo-core/-/merge_requests/1"
    result = by_the_book.run("check", url)
    one_error_line(result, 2, "credentials")
    assert "glpat-in-url-777" not in result.output
    assert by_the_book.server.requests == []


def test_on_gitlab_matches_origin_and_strips_a_served_path() -> None:
    t = parse_target("https://GitLab.Example.com:443/group/sub/proj/-/merge_requests/42/diffs")
    assert t == Target("group/sub/proj", 42, "https://gitlab.example.com:443")
    assert on_gitlab(t, "https://gitlab.example.com") == Target("group/sub/proj", 42)
    served = parse_target("https://example.com/gitlab/group/proj/merge_requests/7")
    assert on_gitlab(served, "https://example.com/gitlab") == Target("group/proj", 7)
    with pytest.raises(ConfigError, match="not under the configured GitLab"):
        on_gitlab(
            parse_target("https://example.com/a/b/-/merge_requests/1"), "https://example.com/gitlab"
        )
    with pytest.raises(ConfigError, match="not on the configured GitLab"):
        on_gitlab(t, "https://gitlab.example.com:8443")
    with pytest.raises(ConfigError, match="not on the configured GitLab"):
        on_gitlab(t, "http://gitlab.example.com")
    plain = parse_target("group/proj!3")
    assert on_gitlab(plain, "https://anything.example") is plain


# -- 2. -h, and the usage line --------------------------------------------------------------
COMMANDS = [
    [],
    ["check"],
    ["sweep"],
    ["history"],
    ["browse"],
    ["report"],
    ["verify"],
    ["keygen"],
    ["signoff"],
    ["doctor"],
    ["demo"],
    ["simulator"],
    ["simulator", "serve"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "app")
def test_short_help_is_the_same_as_help(command: list[str]) -> None:
    runner = CliRunner()
    long = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    short = runner.invoke(app, [*command, "-h"], env={"COLUMNS": "100"})
    assert long.exit_code == 0 and "Usage" in long.output, long.output
    assert (short.exit_code, short.output) == (0, long.output)
    assert "-h" in long.output  # and it says so


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "app")
def test_help_shows_flags_bare_and_values_by_name(command: list[str]) -> None:
    """Issue 10: `--debug <bool>`, `--help <bool>`, `--service <list[str]>`. A flag takes no
    value, and an option's value is named for what it is (PATH, DATE, NAME), as gh does."""
    text = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"}).output
    assert not re.search(r"<(bool|str|int|path|list\[str\])", text, re.IGNORECASE), text
    for line in text.splitlines():
        option = re.match(r"\s+(?:-\w, )?(--[a-z0-9-]+)(?: ([A-Z][A-Z0-9_]*))?", line)
        if option and option.group(1) in ("--help", "--debug", "--quiet", "--no-color"):
            assert option.group(2) is None, line


def test_usage_line_names_the_arguments() -> None:
    runner = CliRunner()
    usage = runner.invoke(app, ["check", "-h"], env={"COLUMNS": "100"}).output
    line = next(line for line in usage.splitlines() if "Usage:" in line)
    assert line.split()[-3:] == ["check", "[OPTIONS]", "TARGET"], line
    assert "verify [OPTIONS] DIR" in runner.invoke(app, ["verify", "-h"]).output
    # a missing argument is named as the usage line names it
    missing = runner.invoke(app, ["check"])
    one_error_line(missing, 2, "missing argument", "'TARGET'", "check -h")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["check"], ("missing argument 'TARGET'", "check -h")),
        (["check", "a/b!1", "--nope"], ("no such option: --nope", "check -h")),
        (["nosuch"], ("no such command 'nosuch'",)),
        (["sweep", "--concurrency", "lots"], ("'--concurrency'", "sweep -h")),
        (["sweep", "--concurrency", "99"], ("'--concurrency'",)),
        (["demo", "extra"], ("unexpected extra argument", "extra", "demo -h")),
        (["history", "--db"], ("'--db' requires an argument",)),
        (["simulator", "nosuch"], ("no such command 'nosuch'", "simulator -h")),
        (["--config"], ("'--config' requires an argument",)),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_usage_error_is_one_line_like_every_other_bad_input(
    args: list[str], words: tuple[str, ...]
) -> None:
    """click prints the usage line, a hint and `Error: ...`; the contract's bad input is one
    `auditor: error:` line and exit 2, whichever part of the command line is wrong."""
    result = CliRunner().invoke(app, args, env={"AUDITOR_CONFIG": ""})
    one_error_line(result, 2, *words)
    assert "Usage:" not in result.output


def test_a_bare_group_still_shows_its_help() -> None:
    for args in ([], ["simulator"]):
        result = CliRunner().invoke(app, args)
        assert "Usage:" in result.output and "auditor: error" not in result.output


# -- 3. every filter validated ----------------------------------------------------------------
def _swept(
    served: Served, tmp_path: Path, *extra: str, options: tuple[str, ...] = ()
) -> tuple[Path, object]:
    """A sweep of the world's week into tmp_path/auditor.db; `options` go before the
    command (--quiet, --no-color)."""
    db = tmp_path / "auditor.db"
    now = served.world.now.isoformat()
    week = ("--from", "2026-11-16", "--to", "2026-11-22")
    result = served.run(*options, "sweep", *week, "--db", str(db), "--now", now, *extra)
    assert result.exit_code in (0, 1, 3), result.output
    return db, result


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rule", "SH99"], ["unknown rule 'SH99'", "SH01", "SH14"]),
        (["--rule", "SH00"], ["unknown rule 'SH00'", "SH01", "SH14"]),
        (["--rule", "release-job-ran"], ["unknown rule", "SH06"]),
        (["--service", "nosuch"], ["unknown service 'nosuch'", "vemo-core"]),
        (["--verdict", "green"], ["unknown verdict 'green'", "compliant", "not_promoted"]),
    ],
)
def test_history_refuses_an_unknown_filter_value_naming_the_known_ones(
    by_the_book: Served, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    db, _ = _swept(by_the_book, tmp_path)
    result = CliRunner().invoke(app, ["history", "--db", str(db), *args])
    one_error_line(result, 2, *words)
    assert result.stdout == ""


def test_history_accepts_the_known_filter_values(by_the_book: Served, tmp_path: Path) -> None:
    db, _ = _swept(by_the_book, tmp_path)
    runner = CliRunner()
    for args in (["--service", "vemo-core"], ["--rule", "SH07"], ["--verdict", "compliant"]):
        result = runner.invoke(app, ["history", "--db", str(db), "--format", "json", *args])
        assert result.exit_code == 0, result.output
    rows = json.loads(
        runner.invoke(app, ["history", "--db", str(db), "--format", "json", "--service",
                            "vemo-core"]).stdout
    )  # fmt: skip
    assert rows and {r["service"] for r in rows} == {"vemo-core"}


def test_history_service_filter_on_an_empty_store(tmp_path: Path) -> None:
    from auditor.store import EvidenceStore

    db = tmp_path / "empty.db"
    with EvidenceStore(db):
        pass
    result = CliRunner().invoke(app, ["history", "--db", str(db), "--service", "vemo-core"])
    one_error_line(result, 2, "unknown service 'vemo-core'", "holds no runs")


# -- 4. --quiet, --no-color and NO_COLOR -------------------------------------------------------
def test_quiet_sweep_writes_no_progress_lines(by_the_book: Served, tmp_path: Path) -> None:
    runs = {}
    for name, options in (("loud", ()), ("quiet", ("--quiet",)), ("q", ("-q",))):
        (tmp_path / name).mkdir()
        site = str(tmp_path / name / "site")
        _, runs[name] = _swept(by_the_book, tmp_path / name, "--out", site, options=options)
    loud = runs["loud"]
    assert "auditor: discover" in loud.stderr and "report files to" in loud.stderr
    for quiet in (runs["quiet"], runs["q"]):
        assert quiet.stderr == "", quiet.stderr
        # the result itself is not silenced (only its duration may differ)
        assert _untimed(quiet.stdout) == _untimed(loud.stdout)


def _untimed(text: str) -> str:
    return re.sub(r"\b\d+(\.\d+)?s\b", "Ns", text)


def test_quiet_keeps_errors_and_silences_skipped_services(tmp_path: Path) -> None:
    for served in serve("monorepo_paths", tmp_path):
        now = served.world.now.isoformat()
        result = served.run("--quiet", "check", "evenergi/vemo!1", "--format", "json", "--now", now)
        assert result.exit_code in (0, 1, 3) and result.stderr == "", result.stderr
        assert [p["service"] for p in json.loads(result.stdout)["promotions"]] == ["vemo-core"]
        one_error_line(served.run("--quiet", "check", "evenergi/vemo!1x"), 2, "PROJECT!IID")


def _on_a_terminal(served: Served, *args: str, env: dict[str, str] | None = None) -> str:
    """What the CLI writes to stdout when stdout is a terminal (a pseudo-terminal here):
    only there does it draw rich tables, with styles."""
    import os
    import subprocess
    import sys

    main, child = os.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ |= {"GITLAB_TOKEN": served.world.token, "COLUMNS": "140", "TERM": "xterm-256color"}
    environ |= {"PYTHONPATH": str(Path(__file__).resolve().parents[1])} | (env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "--config", str(served.config), *args],
        stdout=child,
        stderr=subprocess.PIPE,
        env=environ,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    proc.wait(timeout=120)
    assert proc.returncode in (0, 1, 3), proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_and_NO_COLOR_leave_no_ansi_escapes(by_the_book: Served) -> None:
    check = ("check", "evenergi/vemo-core!1", "--now", by_the_book.world.now.isoformat())
    styled = _on_a_terminal(by_the_book, *check)
    assert "\x1b[" in styled and "COMPLIANT" in styled  # a terminal gets styles by default
    for text in (
        _on_a_terminal(by_the_book, *check, env={"NO_COLOR": "1"}),
        _on_a_terminal(by_the_book, "--no-color", *check),
    ):
        assert "COMPLIANT" in text and "SH14" in text
        assert "\x1b" not in text, repr(text[:300])


# -- 5. --now documented; the demo's commands work as printed ---------------------------------
@pytest.mark.parametrize("command", ["check", "sweep", "signoff", "doctor"])
def test_now_is_documented(command: str) -> None:
    text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
    assert "--now" in text and "Audit as of this moment (ISO 8601" in " ".join(text.split())


def test_every_command_the_demo_prints_works_as_typed(tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    demo = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert demo.exit_code == 0, demo.output
    printed = [line[2:] for line in demo.stdout.splitlines() if line.startswith("$ auditor ")]
    commands = [shlex.split(line) for line in printed]
    assert [c[0] for c in commands] == ["auditor"] * len(commands)
    kinds = [next(w for w in c[1:] if not w.startswith("-") and "/" not in w) for c in commands]
    assert kinds.count("check") == 3 and {"sweep", "history", "report", "simulator"} <= set(kinds)
    serve = next(c for c in commands if "serve" in c)
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", *serve[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url, token = proc.stdout.readline().split()
        # the world served again where the demo's auditor.toml points
        assert f'url = "{url}"' in (tmp_path / "demo" / "auditor.toml").read_text()
        env = {"GITLAB_TOKEN": token, "AUDITOR_CONFIG": "", "NO_COLOR": ""}
        for words in commands:
            if words is serve:
                continue
            result = CliRunner().invoke(app, words[1:], env=env)
            assert result.exit_code in (0, 1, 3), (shlex.join(words), result.output)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- 6. shell completion -------------------------------------------------------------------------
def _auditor_env(**extra: str) -> dict[str, str]:
    """The environment for running the installed `auditor` (or this checkout's) in bash."""
    root = str(Path(__file__).resolve().parent.parent)
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": root,
        "AUDITOR_CONFIG": "",
        **extra,
    }


@pytest.fixture(scope="module")
def completion_script() -> str:
    """What `auditor --show-completion bash` prints, for bash to source."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    # Without the variable typer detects the shell from the process tree (shellingham), which
    # under a test runner may hold no shell at all; with it, `--show-completion` takes one.
    shown = subprocess.run(
        [sys.executable, "-m", "auditor", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env=_auditor_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
        timeout=60,
        check=True,
    )
    assert "complete " in shown.stdout and "_AUDITOR_COMPLETE" in shown.stdout, shown.stdout
    # `python -m auditor` completes as `auditor` would: the script calls the command by name
    return shown.stdout


def _complete(script: str, cwd: Path, *words: str) -> list[str]:
    """Bash's answer when TAB is pressed after `words` (the last one being typed)."""
    shim = cwd / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "auditor").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m auditor "$@"\n')
    (shim / "auditor").chmod(0o755)
    quoted = " ".join(shlex.quote(w) for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ));"
        ' _auditor_completion auditor; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = _auditor_env()
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", program], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_values(completion_script: str, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        '[gitlab]\nurl = "https://gitlab.example.com"\norchestration_project = "o/p"\n'
        '[services.vemo-core]\nproject = "e/v"\n[services.vemo-billing]\nproject = "e/b"\n'
        '[services.charge-api]\nproject = "e/c"\n'
    )
    ask = functools.partial(_complete, completion_script, tmp_path)
    assert ask("auditor", "hi") == ["history"]
    assert {"check", "sweep", "report", "simulator"} <= set(ask("auditor", ""))
    assert "--verdict" in ask("auditor", "history", "--")
    # values: the config's services (no token needed), the rule catalog, the formats
    assert ask("auditor", "--config", str(config), "sweep", "--service", "vemo") == [
        "vemo-core",
        "vemo-billing",
    ]
    assert ask("auditor", "--config", str(config), "check", "a/b!1", "--service", "") == [
        "vemo-core",
        "vemo-billing",
        "charge-api",
    ]
    assert ask("auditor", "history", "--rule", "SH1") == [f"SH1{n}" for n in range(5)]
    assert ask("auditor", "report", "--format", "csv") == ["csv", "csv-findings"]
    assert "in_progress" in ask("auditor", "history", "--verdict", "")
    assert "by_the_book" in ask("auditor", "simulator", "serve", "--world", "by_")


def test_completion_without_a_usable_config_offers_nothing_and_stays_quiet(
    completion_script: str, tmp_path: Path
) -> None:
    (tmp_path / "broken.toml").write_text("[services\n")
    for config in ("missing.toml", str(tmp_path / "broken.toml")):
        assert _complete(completion_script, tmp_path, "auditor", "--config", config,
                         "sweep", "--service", "") == []  # fmt: skip


# -- 7. startup: heavy libraries only where used -------------------------------------------------
HEAVY = ("pandas", "numpy", "matplotlib", "weasyprint", "datasette", "cryptography")


def _imported(*args: str, env: dict[str, str]) -> set[str]:
    """Every module a run of `auditor ARGS` imported (python -X importtime), a proxy for its
    startup time that a busy machine cannot make flaky."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "auditor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", done.stderr, re.MULTILINE)
    assert names, done.stderr
    return set(names)


def test_history_and_check_start_without_the_heavy_libraries(
    by_the_book: Served, tmp_path: Path
) -> None:
    """Issue 10: every command spent 1.3-3.6 s before doing anything, most of it importing
    pandas through sqlite-utils. `history` needs neither GitLab nor pandas; `check` needs
    neither the store nor the report libraries."""
    db, _ = _swept(by_the_book, tmp_path)
    history = _imported("history", "--db", str(db), env=_auditor_env())
    assert "sqlite_utils" in history  # it did read the store
    assert not {*HEAVY, "gitlab", "jinja2"} & history, sorted({*HEAVY, "gitlab"} & history)

    env = _auditor_env(GITLAB_TOKEN=by_the_book.world.token)
    now = ("--now", by_the_book.world.now.isoformat())
    check = _imported("--config", str(by_the_book.config), "check", "evenergi/vemo-core!1", *now,
                      env=env)  # fmt: skip
    assert "gitlab" in check  # it did ask GitLab
    assert not {*HEAVY, "sqlite_utils", "jinja2"} & check


def test_the_store_still_maps_numpy_values_when_numpy_came_first(tmp_path: Path) -> None:
    """The store imports sqlite-utils without pandas and numpy (see `_import_sqlite_utils`),
    and must leave both importable afterwards: reports and CSV exports use them."""
    program = (
        "import auditor.store, sys\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
        "import numpy, pandas\n"
        "print(pandas.DataFrame({'a': [numpy.int64(1)]}).to_csv(index=False).split())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=_auditor_env(),
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['a', '1']"
