"""The command line: composition root and exit codes, no audit logic.

Exit codes are the contract's: 0 compliant, 1 a violation, 2 usage or configuration,
3 incomplete/in progress/not promoted, 4 GitLab unusable. Errors are one line on stderr;
`--debug` shows the traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from auditor import __version__
from auditor.config import ConfigError, Settings, find_config, load_settings
from auditor.findings import Report, Verdict, exit_code
from auditor.formats import Format, Formats
from auditor.timestamps import format_minute, parse

if TYPE_CHECKING:
    from rich.console import Console

    from auditor.release_line import SweepExtras
    from auditor.signoff import SignoffContext
    from auditor.store import EvidenceStore
    from auditor.sweep import SweepResult

T = TypeVar("T")

# `-h` as well as `--help`, as glab and gh take it; subcommands inherit it from the app's
# context, the simulator group is given it too in case it is ever run on its own
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

# typer re-exports click's BadParameter but not its parent UsageError, and newer typers
# vendor click (typer._click), so neither `click.UsageError` nor `click.Context` need be the
# classes typer uses: the overrides below take typer's context as `Any`.
_UsageError: type[Any] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError")


class OneLineErrors(TyperGroup):
    """click's usage errors (a missing argument, an unknown option or command, a bad value)
    as one line, `auditor: error: ...`, exit 2, like every other bad input; click would print
    the usage line, a hint and the error on three. Help for a bare group is left alone."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            raise
        message = exc.format_message().rstrip(".")
        where = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
        typer.echo(f"auditor: error: {message[:1].lower()}{message[1:]}{where}", err=True)
        raise typer.Exit(2) from None


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    # plain help, as gh and glab print it: a flag shows no value, an option its METAVAR
    rich_markup_mode=None,
    add_completion=True,
    context_settings=HELP_OPTIONS,
    help="Prove from GitLab's records whether hotfixes reached staging by the runbook.",
)
simulator_app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
    help="A simulated GitLab, for trying the "
    "auditor (or any GitLab client) without a GitLab of your own.",
)
app.add_typer(simulator_app, name="simulator")


# Shell completion (`auditor --install-completion`): typer calls these with the word being
# typed. They must never fail or print: a completion that raises breaks the user's shell line.
def _completing(values: Callable[[], Iterable[str]]) -> Callable[..., list[str]]:
    def complete(incomplete: str) -> list[str]:
        try:
            return [value for value in values() if value.startswith(incomplete)]
        except Exception:  # noqa: BLE001 - no config, a broken one: nothing to offer
            return []

    return complete


def _complete_service(ctx: typer.Context, incomplete: str) -> list[str]:
    """The [services] names of the config: no token is needed to suggest them, nor a valid
    config. The app's callback does not run while completing, so --config is read here."""
    import tomllib

    def services() -> list[str]:
        explicit = ctx.find_root().params.get("config")
        data = tomllib.loads(find_config(explicit, os.environ).read_text(encoding="utf-8"))
        return list(data.get("services", {}))

    return _completing(services)(incomplete)


def _rule_ids() -> list[str]:
    from auditor.rulebook import load_rulebook

    return [rule.id for rule in load_rulebook().rules]


def _world_names() -> list[str]:
    from auditor.simulator.worlds import available_worlds

    return available_worlds()


# The moment the audit is as of (grace periods, "now" in reports), for reproducible runs.
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        metavar="WHEN",
        help="Audit as of this moment (ISO 8601, e.g. 2026-11-26T12:00:00Z) instead of the "
        "wall clock; for reproducible runs.",
    ),
]


# The evidence store, for every command that reads or writes it.
DbOption = Annotated[Path, typer.Option("--db", metavar="PATH", help="The evidence store.")]
DEFAULT_DB = Path("auditor.db")


class PlainUsage(TyperCommand):
    """A command whose usage line and help show a required argument bare (`check [OPTIONS]
    TARGET`, `TARGET  The MR as...`), as click, gh and glab do, where typer wraps it in
    braces (`{target}`) and adds its Python type (`TARGET <str>`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((re.sub(r" <[^>]*>$", "", record[0]), record[1]))
            else:
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _State:
    config: Path | None = None
    debug: bool = False
    quiet: bool = False
    no_color: bool = False


state = _State()


def _info(line: str) -> None:
    """An informational line on stderr (skipped services, files written), which --quiet
    silences; errors and what could not be established are never silenced."""
    if not state.quiet:
        typer.echo(f"auditor: {line}", err=True)


def _console(stderr: bool = False) -> Console:
    """A rich console that, under --no-color or NO_COLOR (https://no-color.org), writes no
    ANSI styling at all: rich's own no_color keeps bold and underline."""
    from rich.console import Console

    plain = state.no_color or os.environ.get("NO_COLOR", "") != ""
    return Console(stderr=stderr, no_color=plain or None, color_system=None if plain else "auto")


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"auditor: error: {message}", err=True)
    return typer.Exit(code)


def _guarded(fn: Callable[[], T]) -> T:
    """Map every expected failure to its one-line message and exit code."""
    try:
        return fn()
    except typer.Exit:
        raise
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        expected = _expected_failure(exc)
        if expected is not None:
            raise _fail(*expected) from None
        if state.debug:
            traceback.print_exc()
        raise _fail(
            f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)", 70
        ) from None


# (module, exception class, message prefix, exit code) of the failures a user can act on.
_EXPECTED_FAILURES = (
    ("auditor.store", "StoreError", "", 2),
    ("auditor.bundle", "BundleError", "", 2),
    ("auditor.gitlab.source", "GitLabUnusable", "", 4),
    ("auditor.gitlab.client", "ReadOnlyViolation", "internal error, nothing was sent: ", 4),
)


def _expected_failure(exc: Exception) -> tuple[str, int] | None:
    """The message and exit code of an expected failure, or None for a bug.

    Only a module already imported can have raised its exceptions, so they are looked up in
    `sys.modules` rather than imported: `history` must not load python-gitlab, nor `check`
    sqlite-utils, merely to name an exception (startup time is a feature of a CLI)."""
    for module_name, class_name, prefix, code in _EXPECTED_FAILURES:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return f"{prefix}{exc}", code
    return None


def _configured(settings: Settings, names: Iterable[str]) -> None:
    """Refuse a --service that auditor.toml does not configure (exit 2)."""
    for name in names:
        if name not in settings.services:
            known = ", ".join(sorted(settings.services))
            raise ConfigError(f"unknown service {name!r} (configured: {known})")


def _parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(f"--now must be an ISO 8601 date-time, not {text!r}") from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="auditor.toml to use (else $AUDITOR_CONFIG, else ./auditor.toml).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress or informational lines on stderr; errors and what could not "
            "be established are still shown.",
        ),
    ] = False,
    no_color: Annotated[
        bool,
        typer.Option(
            "--no-color", help="No colours or other styling in the output (as does $NO_COLOR)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.config = config
    state.debug = debug
    state.quiet = quiet
    state.no_color = no_color


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None


def _cannot_create_in(folder: Path) -> str | None:
    """Why no file can be created in `folder`, or None when one can. Trying is the only
    honest test: permission bits say nothing about root, ACLs or a read-only mount."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".auditor-write-check-")
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(name)
    return None


def check_output_paths(
    output: Path | None = None,
    out: Path | None = None,
    *,
    output_flag: str = "--output",
    out_flag: str = "--out",
) -> None:
    """Refuse, before any GitLab request, an `output` file or `out` folder that could not
    be written, so that an audit is never computed only to be lost."""
    if output is not None:
        if output.is_dir():
            raise ConfigError(f"{output_flag} {output} is a directory; give a file name")
        folder = output.parent
        if not folder.exists():
            raise ConfigError(
                f"{output_flag} {output}: folder {folder} does not exist; create it first"
            )
        if not folder.is_dir():
            raise ConfigError(f"{output_flag} {output}: {folder} is not a folder")
        if output.exists():
            try:
                with output.open("ab"):
                    pass
            except OSError as exc:
                raise ConfigError(
                    f"{output_flag} {output} cannot be written ({exc.strerror})"
                ) from None
        elif (why := _cannot_create_in(folder)) is not None:
            raise ConfigError(f"{output_flag} {output}: cannot write in {folder} ({why})")
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out_flag} {out} exists and is not a folder")
        # a missing --out folder is created, with its parents: the nearest existing one
        # must take it
        existing = out
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError(f"{out_flag} {out}: {existing} is not a folder")
        if (why := _cannot_create_in(existing)) is not None:
            raise ConfigError(f"{out_flag} {out}: cannot write in {existing} ({why})")


def _format_option(formats: Formats[Any], lead: str = "") -> Any:
    """A command's `--format`: its help and shell completion from the command's registry."""
    return typer.Option(
        "--format",
        metavar="FORMAT",
        help=formats.help(lead),
        autocompletion=_completing(lambda: formats.names),
    )


def _write(formats: Formats[T], name: str, value: T, output: Path | None) -> None:
    """`value` in format `name`: to --output, else drawn on a terminal where the format
    has a terminal form, else as text on stdout."""
    chosen = formats.check_output(name, output)
    if chosen.to_file is not None:
        assert output is not None  # check_output refuses a file-only format without it
        chosen.to_file(value, output)
    elif chosen.to_terminal is not None and output is None and sys.stdout.isatty():
        chosen.to_terminal(value, _console())
    else:
        _emit(formats.text(name, value), output)


# -- each command's formats (see auditor/formats.py); writers import their module lazily --


def _print_table(report: Report, console: Console) -> None:
    from auditor.report.table import print_table

    print_table(report, console)


def _report_in(module: str) -> Callable[[Report], str]:
    """`render` of `auditor.report.<module>`, imported when first used: `check --format
    json` must not pay for rich, nor `history` for any of them."""

    def text(report: Report) -> str:
        render: Callable[[Report], str] = importlib.import_module(f"auditor.report.{module}").render
        return render(report)

    return text


CHECK_FORMATS: Formats[Report] = Formats(
    Format(
        "table",
        "for people (colours and links on a terminal)",
        render=_report_in("table"),
        to_terminal=_print_table,
    ),
    Format("json", "the contract's auditor.report/v1 document", render=_report_in("json_report")),
    Format("junit", "a test case per rule, for CI test reports", render=_report_in("junit")),
    Format("markdown", "to paste into an MR note", render=_report_in("markdown")),
)


def _sweep_text(result: SweepResult) -> str:
    from auditor.report import sweep_summary

    return sweep_summary.render(result)


def _sweep_terminal(result: SweepResult, console: Console) -> None:
    from auditor.report import sweep_summary

    sweep_summary.print_summary(result, console)


def _sweep_json(result: SweepResult) -> str:
    from auditor.report.json_report import render as render_json

    return render_json(result.report, result.extras())


SWEEP_FORMATS: Formats[SweepResult] = Formats(
    Format("table", "a summary for people", render=_sweep_text, to_terminal=_sweep_terminal),
    Format("json", "the contract's document plus drift, cut-offs, gaps", render=_sweep_json),
)


@dataclass(frozen=True)
class _Listing:
    """What `history` lists: the runs, or the promotions (rows as the store gives them)."""

    runs: bool
    rows: Sequence[Any]


def _listing_in(fmt: str) -> Callable[[_Listing], str]:
    def text(listing: _Listing) -> str:
        from auditor.report import history as history_report

        if listing.runs:
            return history_report.render_runs(listing.rows, fmt)
        return history_report.render_promotions(listing.rows, fmt)

    return text


HISTORY_FORMATS: Formats[_Listing] = Formats(
    Format("table", "for people", render=_listing_in("table")),
    Format("json", "every stored field of each row", render=_listing_in("json")),
    Format("csv", "one row per line, for a spreadsheet", render=_listing_in("csv")),
)


@dataclass(frozen=True)
class _StoredRun:
    """A stored run's results and sweep extras, as `report` exports them."""

    report: Report
    extras: SweepExtras


def _json_export(run: _StoredRun) -> str:
    from auditor.report.json_report import render as render_json

    return render_json(run.report, run.extras)


def _junit_export(run: _StoredRun) -> str:
    from auditor.report import junit

    return junit.render(run.report, run.extras.gaps)


def _junit_services_export(run: _StoredRun) -> str:
    from auditor.report.junit_services import render as render_junit_services

    return render_junit_services(run.report, run.extras.gaps)


def _csv_export(run: _StoredRun) -> str:
    from auditor.report.csv_export import promotions_csv

    return promotions_csv(run.report, run.extras.gaps)


def _csv_findings_export(run: _StoredRun) -> str:
    from auditor.report.csv_export import findings_csv

    return findings_csv(run.report, run.extras.gaps)


def _markdown_export(run: _StoredRun) -> str:
    from auditor.report import markdown

    return markdown.render(run.report, run.extras.gaps)


def _table_export(run: _StoredRun) -> str:
    from auditor.report import table

    return table.render(run.report, gaps=run.extras.gaps)


# Every export of a stored run shows the run's gaps (as errors in JUnit, rows in CSV, a
# section in Markdown and the table).
EXPORT_FORMATS: Formats[_StoredRun] = Formats(
    Format("json", "the contract's document plus drift, cut-offs, gaps", render=_json_export),
    Format("junit", "a test case per rule", render=_junit_export),
    Format("junit-services", "a test case per service", render=_junit_services_export),
    Format("csv", "a row per promotion", render=_csv_export),
    Format("csv-findings", "a row per finding", render=_csv_findings_export),
    Format("markdown", "to paste into an issue or MR", render=_markdown_export),
    Format("table", "for people", render=_table_export),
)


def _signoff_json(ctx: SignoffContext) -> str:
    import json

    from auditor.signoff import to_dict

    return json.dumps(to_dict(ctx), indent=2) + "\n"


def _signoff_markdown(ctx: SignoffContext) -> str:
    from auditor.report.signoff_markdown import render_signoff_markdown

    return render_signoff_markdown(ctx)


def _signoff_html(ctx: SignoffContext) -> str:
    from auditor.report.signoff_page import render_signoff_html

    return render_signoff_html(ctx, ctx.gitlab_url)


def _signoff_pdf(ctx: SignoffContext, output: Path) -> None:
    from auditor.report.pdf import render_pdf

    render_pdf(_signoff_html(ctx), output)


SIGNOFF_FORMATS: Formats[SignoffContext] = Formats(
    Format("markdown", "the page, with a sign-off block to fill in", render=_signoff_markdown),
    Format("json", "the decision and everything it rests on", render=_signoff_json),
    Format("html", "the page, self-contained", render=_signoff_html),
    Format("pdf", "the page to file (needs --output)", to_file=_signoff_pdf),
)


@app.command(cls=PlainUsage)
def check(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="The MR as PROJECT!IID (evenergi/vemo-core!42) or its URL on the "
            "configured GitLab (https://gitlab.example.com/evenergi/vemo-core/-/merge_requests/42).",
        ),
    ],
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Audit only this service (repeatable); default: every service built from PROJECT.",
            autocompletion=_complete_service,
        ),
    ] = None,
    fmt: Annotated[
        str,
        _format_option(CHECK_FORMATS),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option("--output", metavar="PATH", help="Write the report here instead of stdout."),
    ] = None,
    now: NowOption = None,
) -> None:
    """Audit the promotions of one merged hotfix MR against the runbook."""

    def run() -> int:
        from auditor.audit import check_mr, on_gitlab, parse_target, select_services
        from auditor.gitlab.client import ReadOnlySession, connect
        from auditor.gitlab.source import GitLabSource

        CHECK_FORMATS.check_output(fmt, output)
        parsed = parse_target(target)
        check_output_paths(output)
        settings = load_settings(find_config(state.config, os.environ))
        # an MR URL of another GitLab is refused here, before any request is made
        parsed = on_gitlab(parsed, settings.url)
        services = select_services(settings, parsed, service or [])
        session = ReadOnlySession()
        src = GitLabSource(connect(settings, session))
        report = check_mr(
            src,
            settings,
            parsed,
            services,
            _parse_now(now),
            explicit=bool(service),
            on_skip=_info,
        )
        _write(CHECK_FORMATS, fmt, report, output)
        return exit_code(report.promotions)

    raise typer.Exit(_guarded(run))


@app.command()
def sweep(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DURATION", help="A duration back from now: 7d, 36h (default 7d)."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="DATE", help="Window start: YYYY-MM-DD or ISO 8601."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="Window end, inclusive: YYYY-MM-DD or ISO 8601."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", metavar="ZONE", help="Time zone of --from/--to dates (default UTC)."
        ),
    ] = None,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Only this service (repeatable).",
            autocompletion=_complete_service,
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Write reports here.")
    ] = None,
    fmt: Annotated[
        str,
        _format_option(SWEEP_FORMATS),
    ] = "table",
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", metavar="N", min=1, max=32, help="Parallel requests to GitLab."
        ),
    ] = 4,
    now: NowOption = None,
) -> None:
    """Find and audit every promotion to staging in a window; keep the evidence."""

    def run() -> int:
        check_output_paths(out=out)
        from auditor.dates import parse_window
        from auditor.gitlab.client import ReadOnlySession, connect
        from auditor.gitlab.source import GitLabSource
        from auditor.progress import PlainProgress, RichProgress
        from auditor.store import EvidenceStore
        from auditor.sweep import Sweep

        SWEEP_FORMATS.get(fmt)
        settings = load_settings(find_config(state.config, os.environ))
        _configured(settings, service or [])
        names = list(dict.fromkeys(service or settings.services))
        at = _parse_now(now)
        window = parse_window(since, start, end, timezone, at)
        store = EvidenceStore(db)
        err = _console(stderr=True)
        with store, store.exclusive("sweep"):
            session = ReadOnlySession()
            src = GitLabSource(connect(settings, session), cache=store, session=session)
            if state.quiet:  # the sweep's own default reports no progress
                result = Sweep(src, session, settings, store, concurrency).run(window, names, at)
            elif err.is_terminal:
                with RichProgress(err) as progress:
                    result = Sweep(src, session, settings, store, concurrency, progress).run(
                        window, names, at
                    )
            else:
                result = Sweep(src, session, settings, store, concurrency, PlainProgress()).run(
                    window, names, at
                )
            if out is not None and result.run_id is not None:
                written = write_site(store, result.run_id, out, bundle=False)
                _info(f"wrote {len(written)} report files to {out}")
        _write(SWEEP_FORMATS, fmt, result, None)
        for gap in result.gaps:
            # stderr too, so a CI log shows what was not looked at whatever the format
            typer.echo(f"auditor: could not be established: {gap}", err=True)
        return result.exit_code()

    raise typer.Exit(_guarded(run))


@app.command()
def history(
    db: DbOption = DEFAULT_DB,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Only this service.",
            autocompletion=_complete_service,
        ),
    ] = None,
    verdict: Annotated[
        str | None,
        typer.Option(
            "--verdict",
            metavar="VERDICT",
            help="Only this verdict.",
            autocompletion=_completing(lambda: [v.value for v in Verdict]),
        ),
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="Only promotions where this rule failed or was unknown, e.g. SH07.",
            autocompletion=_completing(_rule_ids),
        ),
    ] = None,
    runs: Annotated[bool, typer.Option("--runs", help="List the runs instead.")] = False,
    fmt: Annotated[
        str,
        _format_option(HISTORY_FORMATS),
    ] = "table",
) -> None:
    """List past runs and promotions from the store, without touching GitLab."""

    def run() -> int:
        from auditor.store import EvidenceStore

        HISTORY_FORMATS.get(fmt)
        from auditor.rulebook import load_rulebook

        if verdict and verdict not in {v.value for v in Verdict}:
            known = ", ".join(v.value for v in Verdict)
            raise ConfigError(f"unknown verdict {verdict!r} (one of: {known})")
        rule_ids = [r.id for r in load_rulebook().rules]
        if rule and rule not in rule_ids:
            raise ConfigError(f"unknown rule {rule!r} (one of: {', '.join(rule_ids)})")
        if not db.is_file():
            raise ConfigError(f"no evidence store at {db} (run auditor sweep first, or --db)")
        store = EvidenceStore(db)
        with store:
            # the services of the store's runs, not of a config: history needs none
            swept = sorted({name for r in store.runs() for name in r.services})
            if service and service not in swept:
                known = f"swept: {', '.join(swept)}" if swept else f"{db} holds no runs yet"
                raise ConfigError(f"unknown service {service!r} ({known})")
            rows: Sequence[Any] = (
                store.runs()
                if runs
                else store.promotions(
                    service=service,
                    verdict=verdict,
                    rule=rule,
                    rule_status=("fail", "unknown") if rule else None,
                )
            )
            _write(HISTORY_FORMATS, fmt, _Listing(runs, rows), None)
        return 0

    raise typer.Exit(_guarded(run))


@app.command()
def browse(
    db: DbOption = DEFAULT_DB,
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="Port on 127.0.0.1 (0: any free one).")
    ] = 8001,
) -> None:
    """Serve the evidence store read-only in a browser (Datasette, on 127.0.0.1 only): every
    table explained, and canned queries (violations per week, drift, label failures, unknowns,
    the raw GitLab response behind a finding). Prints the URL when ready; Ctrl-C stops it.

    Example: auditor browse --db auditor.db --port 0
    """

    def run() -> int:
        from auditor import browse as browsing

        if not 0 <= port <= 65535:
            raise ConfigError(f"--port must be 0 to 65535, not {port}")

        def ready(url: str) -> None:
            typer.echo(url)
            sys.stdout.flush()

        try:
            browsing.serve(db, port, ready, debug=state.debug)
        except browsing.BrowseError as exc:
            raise ConfigError(str(exc)) from None
        return 0

    raise typer.Exit(_guarded(run))


# What `report --bundle` writes beside the HTML/PDF reports, for auditors and CI.
BUNDLE_EXPORTS = {
    "report.json": "json",
    "junit.xml": "junit",
    "junit-services.xml": "junit-services",
    "promotions.csv": "csv",
    "findings.csv": "csv-findings",
    "report.md": "markdown",
}


def _open_store(db: Path) -> EvidenceStore:
    from auditor.store import EvidenceStore

    if not db.is_file():
        raise ConfigError(f"no evidence store at {db} (run auditor sweep first, or --db)")
    return EvidenceStore(db)


def _pick_run(
    store: EvidenceStore,
    run_id: int | None,
    service: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> int:
    """--run, else the newest finished run with results, complete or incomplete (covering
    `service` and `window` when given). An incomplete run is not skipped for an older
    complete one: its gaps are shown and block, where an older run would silently miss
    whatever happened since."""
    runs = store.runs()
    if window is not None:
        runs = [r for r in runs if r.window_from <= window[0] and r.window_to >= window[1]]
        if not runs:
            raise ConfigError(
                f"no run in {store.path} covers {format_minute(window[0])} to "
                f"{format_minute(window[1])} UTC; sweep that window first"
            )
    if run_id is not None:
        if not any(r.id == run_id for r in runs):
            raise ConfigError(f"no run {run_id} in {store.path} (see auditor history --runs)")
        return run_id
    from auditor.store import RESULT_STATUSES

    for r in runs:  # newest first
        if r.status in RESULT_STATUSES and (service is None or service in r.services):
            return r.id
    covering = f" covering {service}" if service else ""
    raise ConfigError(f"no finished run in {store.path}{covering}; run auditor sweep first")


def _chosen_run(store: EvidenceStore, rid: int, window: tuple[datetime, datetime] | None) -> str:
    """Which run a report is of, and why: the newest finished one (covering the window
    asked for), and whether that run's window is wider than asked (the report is the run's,
    whole)."""
    run = store.run(rid)
    start, end = run.window_from, run.window_to
    line = (
        f"report of run {rid} ({format_minute(start)} to {format_minute(end)} UTC, "
        f"{run.status}): the newest finished run"
    )
    if window is None:
        return line
    line += " covering the window asked for"
    if start < window[0] or end > window[1]:
        line += "; its window is wider, and the report covers all of it"
    return line


def write_site(store: EvidenceStore, run_id: int, out: Path, bundle: bool) -> list[Path]:
    """HTML and PDF per service plus index.html; with `bundle`, the exports, the raw
    evidence and a manifest of every file's SHA-256 as well."""
    from auditor.bundle import write_bundle
    from auditor.report.site import write_reports

    written = write_reports(store, run_id, out)
    if bundle:
        loaded = store.load(run_id)
        stored = _StoredRun(loaded.report, loaded.extras)
        for name, kind in BUNDLE_EXPORTS.items():
            (out / name).write_text(EXPORT_FORMATS.text(kind, stored), encoding="utf-8")
            written.append(out / name)
        written.append(write_bundle(store, run_id, out))
    return written


def _signing_key(path: Path) -> Any:
    from auditor.signing import SigningError, load_private

    try:
        return load_private(path)
    except SigningError as exc:
        raise ConfigError(str(exc)) from None


def _sign_bundle(out: Path, key: Any, digest: str, rid: int, gitlab_url: str) -> None:
    """Write DIR/manifest.sig.json last, once the manifest it names is final."""
    from auditor.signing import SIGNATURE, keyid, sign, statement
    from auditor.timestamps import format_timestamp

    kid = keyid(key.key.public_key())
    signer = key.signer or f"key {kid[:8]}"
    signed_at = format_timestamp(datetime.now(UTC))
    doc = statement(
        digest,
        run_id=rid,
        gitlab_url=gitlab_url,
        tool_version=__version__,
        signed_at=signed_at,
        signer=signer,
    )
    with (out / SIGNATURE).open("xb") as fh:
        fh.write(sign(key, doc))
    typer.echo(f"auditor: signed by {signer} (key {kid[:8]}…) at {signed_at}", err=True)


@app.command()
def keygen(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Write the private key here (mode 0600, never overwritten) and the public "
            "key to PATH.pub.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="WHO", help="The key's holder, named in every signature it makes."
        ),
    ] = None,
) -> None:
    """Make an Ed25519 key pair for signing evidence bundles (report --bundle --sign)."""

    def run() -> int:
        from auditor.signing import SigningError, generate

        try:
            public, kid = generate(out, name)
        except SigningError as exc:
            raise ConfigError(str(exc)) from None
        typer.echo(f"wrote {out} (private, keep it secret) and {public} (key {kid})")
        return 0

    raise typer.Exit(_guarded(run))


def _write_reports(
    store: EvidenceStore, rid: int, out: Path, bundle: bool, signing_key: Any, gitlab_url: str
) -> None:
    """`report --out DIR [--bundle [--sign KEY]]`: the pages, the bundle and its signature."""
    if bundle and out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is not empty; a bundle needs a new directory")
    written = write_site(store, rid, out, bundle)
    _info(f"wrote {len(written)} files to {out}")
    if bundle:
        from auditor.bundle import MANIFEST, file_sha256

        digest = file_sha256(out / MANIFEST)[0]
        # printed so that a later rewrite of the manifest itself is detectable:
        # auditor verify DIR --manifest-sha256 <this>
        typer.echo(f"auditor: {MANIFEST} sha256 {digest}", err=True)
        if signing_key is not None:
            _sign_bundle(out, signing_key, digest, rid, gitlab_url)


@app.command()
def report(
    db: DbOption = DEFAULT_DB,
    run_id: Annotated[
        int | None,
        typer.Option(
            "--run",
            metavar="N",
            help="Run id (default: the newest finished run, complete or incomplete).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Write index.html and each service's HTML and PDF report here.",
        ),
    ] = None,
    bundle: Annotated[
        bool,
        typer.Option(
            "--bundle",
            help="With --out: also the exports, the "
            "raw GitLab evidence and manifest.json (SHA-256 of every file).",
        ),
    ] = False,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            metavar="KEY",
            help="With --bundle: sign manifest.json with this Ed25519 private key "
            "(auditor keygen), writing manifest.sig.json.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        _format_option(EXPORT_FORMATS, "Without --out, an export to stdout. "),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", metavar="PATH", help="Write the export here instead of stdout."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Instead of --run: the newest finished run whose window covers --from..--to.",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="DATE", help="Window end, inclusive.")
    ] = None,
) -> None:
    """Reports of a stored sweep run; never touches GitLab."""

    def run() -> int:
        check_output_paths(output, out)
        if out is None and bundle:
            raise ConfigError("--bundle goes with --out DIR")
        if sign_key is not None and not bundle:
            raise ConfigError("--sign goes with --out DIR --bundle")
        # The key is read before anything is written: a bad key leaves no half a bundle.
        signing_key = _signing_key(sign_key) if sign_key is not None else None
        if out is not None and fmt is not None:
            raise ConfigError("use --out DIR for the reports or --format for one export")
        chosen = fmt or "json"
        EXPORT_FORMATS.check_output(chosen, output)
        window = None
        if start or end:
            if run_id is not None:
                raise ConfigError("use --run or --from/--to, not both")
            from auditor.dates import parse_window

            chosen_window = parse_window(None, start, end, None, datetime.now(UTC))
            window = (chosen_window.start, chosen_window.end)
        with _open_store(db) as store:
            rid = _pick_run(store, run_id, window=window)
            if run_id is None:
                _info(_chosen_run(store, rid, window))
            loaded = store.load(rid)
            stored, extras = loaded.report, loaded.extras
            if out is None:
                _write(EXPORT_FORMATS, chosen, _StoredRun(stored, extras), output)
            else:
                _write_reports(store, rid, out, bundle, signing_key, stored.gitlab_url)
        gaps = extras.gaps
        for gap in gaps:
            typer.echo(f"auditor: run {rid} could not establish: {gap}", err=True)
        # from the store, GitLab is not used here: a gap of any kind is "not shown" (3)
        code = exit_code(stored.promotions)
        return code if code == 1 or not gaps else 3

    raise typer.Exit(_guarded(run))


@app.command(cls=PlainUsage)
def verify(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A bundle written by auditor report --out DIR --bundle."
        ),
    ],
    manifest_sha256: Annotated[
        str | None,
        typer.Option(
            "--manifest-sha256",
            metavar="HEX",
            help="Also require manifest.json to have this SHA-256.",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            metavar="PUB",
            help="Require manifest.sig.json to be a valid signature by this public key "
            "(PATH.pub from auditor keygen).",
        ),
    ] = None,
) -> None:
    """Check every file of an evidence bundle against its manifest: exit 0 only if all match."""

    def run() -> int:
        from auditor.bundle import MANIFEST, file_sha256
        from auditor.bundle import verify as verify_bundle

        if not directory.is_dir():
            raise ConfigError(f"{directory} is not a directory")
        from auditor.signing import SIGNATURE

        public_key = None
        if key is not None:
            from auditor.signing import SigningError, load_public

            try:
                public_key = load_public(key)
            except SigningError as exc:
                raise ConfigError(str(exc)) from None
        result = verify_bundle(directory)
        problems = result.problems()
        manifest = directory / MANIFEST
        signed_line = None
        signature = directory / SIGNATURE
        if public_key is not None:
            from auditor.signing import SignatureInvalid, check

            if signature.is_symlink() or not signature.is_file():
                problems.insert(0, f"not signed: no {SIGNATURE} in {directory}")
            elif not manifest.is_file() or manifest.is_symlink():
                problems.insert(0, f"signature: no {MANIFEST} to check it against")
            else:
                try:
                    signed = check(signature.read_bytes(), public_key, file_sha256(manifest)[0])
                    signed_line = (
                        f"signed by {signed.signer} (key {signed.keyid[:8]}…) at "
                        f"{signed.signed_at}: {MANIFEST} sha256 {signed.manifest_sha256}"
                    )
                except SignatureInvalid as exc:
                    problems.insert(0, str(exc))
        elif signature.is_file():
            _info(f"{SIGNATURE} present but not checked (give --key PUB to check it)")
        if (
            manifest_sha256
            and manifest.is_file()
            and not manifest.is_symlink()
            and file_sha256(manifest)[0] != manifest_sha256.strip().lower()
        ):
            problems.insert(0, f"changed: {MANIFEST} (not the SHA-256 given)")
        for line in problems:
            typer.echo(f"auditor: {line}", err=True)
        if problems:
            typer.echo(
                f"auditor: {directory}: {len(problems)} problem(s); do not rely on it", err=True
            )
            return 1
        if signed_line:
            typer.echo(signed_line)
        typer.echo(
            f"{directory}: all {result.checked} files match the manifest (run {result.run_id})"
        )
        return 0

    raise typer.Exit(_guarded(run))


@app.command()
def signoff(
    service: Annotated[
        str,
        typer.Option(
            "--service",
            metavar="NAME",
            help="The service to sign off, as in auditor.toml.",
            autocompletion=_complete_service,
        ),
    ],
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Promotions since (default: the last cut-off the run saw).",
        ),
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            metavar="SHA",
            help="Sign off this release commit: only the promotions and drift it carries.",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    run_id: Annotated[
        int | None,
        typer.Option(
            "--run",
            metavar="N",
            help="Run id (default: the newest finished run covering the service).",
        ),
    ] = None,
    fmt: Annotated[
        str,
        _format_option(SIGNOFF_FORMATS),
    ] = "markdown",
    output: Annotated[
        Path | None,
        typer.Option("--output", metavar="PATH", help="Write the page here instead of stdout."),
    ] = None,
    now: NowOption = None,
) -> None:
    """A release manager's sign-off page for one service: what is on staging now, every
    promotion since the last cut-off, and what blocks sign-off."""

    def run() -> int:
        check_output_paths(output)
        from auditor.gitlab.client import ReadOnlySession, connect
        from auditor.gitlab.source import GitLabSource
        from auditor.signoff import signoff_exit_code
        from auditor.signoff_run import AuditedRun, sign_off

        SIGNOFF_FORMATS.check_output(fmt, output)
        # 40 hex digits for SHA-1 repositories, 64 for SHA-256 ones; 7 is git's short form
        if release is not None and not re.fullmatch(r"[0-9a-fA-F]{7,64}", release):
            raise ConfigError(
                f"--release must be a commit SHA (7 to 64 hex digits), not {release!r}"
            )
        settings = load_settings(find_config(state.config, os.environ))
        _configured(settings, [service])
        from auditor.store import RESULT_STATUSES, redact_url

        with _open_store(db) as store:
            rid = _pick_run(store, run_id, service)
            loaded = store.load(rid)
        row = loaded.info
        seen = None if row.coverage is None else row.coverage.staging_seen.get(service)
        audited = AuditedRun(
            id=rid,
            status=row.status,
            finished=row.status in RESULT_STATUSES,
            gitlab_url=row.gitlab_url,
            window_end=row.window_to,
            staging_seen=int(seen) if isinstance(seen, int) else None,
            report=loaded.report,
            extras=loaded.extras,
        )
        ctx = sign_off(
            audited,
            GitLabSource(connect(settings, ReadOnlySession())),
            settings,
            service=service,
            configured_url=redact_url(settings.url),
            now=_parse_now(now),
            since=_parse_now(start) if start else None,
            release=release,
        )
        _write(SIGNOFF_FORMATS, fmt, ctx, output)
        return signoff_exit_code(ctx)

    raise typer.Exit(_guarded(run))


@app.command()
def doctor(
    now: NowOption = None,
) -> None:
    """Check that the auditor can use GitLab as configured: connectivity, the token and its
    scopes, and read access to every configured project. Read-only; one line per check;
    exit 0 when nothing failed (warnings allowed), 4 when something the audit needs failed."""

    def run() -> int:
        from auditor import doctor as checks
        from auditor.gitlab.client import ReadOnlySession, connect
        from auditor.gitlab.probe import probe

        settings = load_settings(find_config(state.config, os.environ))
        gl = connect(settings, ReadOnlySession())
        found = checks.diagnose(
            settings, lambda path, query: probe(gl, path, query), _parse_now(now)
        )
        for check in found:
            typer.echo(check.line())
        typer.echo(checks.summary(found))
        return checks.exit_code(found)

    raise typer.Exit(_guarded(run))


@simulator_app.command("serve")
def simulator_serve(
    world: Annotated[
        str,
        typer.Option(
            "--world",
            metavar="NAME",
            help="A world name under fixtures/worlds or a path to a world module.",
            autocompletion=_completing(_world_names),
        ),
    ] = "demo",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="Port on 127.0.0.1 (0: any free one).")
    ] = 0,
) -> None:
    """Serve a simulated GitLab world on 127.0.0.1; prints `URL TOKEN` when ready."""

    def run() -> int:
        import time

        from auditor.simulator.server import SimulatorServer
        from auditor.simulator.worlds import WorldNotFound, build_world, load_module

        try:
            built = build_world(load_module(world))
        except WorldNotFound as exc:
            raise ConfigError(str(exc)) from None
        server = SimulatorServer(built, port=port)
        try:
            url = server.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on port {port}: {exc.strerror}") from None
        typer.echo(f"{url} {built.token}")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
        return 0

    raise typer.Exit(_guarded(run))


def _shell_line(*words: object) -> str:
    """A command line as a person would type it: every word quoted for a POSIX shell where
    it needs it (`!` in `group/name!1` would otherwise be history expansion in bash)."""
    import shlex

    return " ".join(shlex.quote(str(word)) for word in words)


@app.command()
def demo(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Where the demo's auditor.toml, evidence store and HTML/PDF reports go.",
        ),
    ] = Path("auditor-demo"),
) -> None:
    """Audit a bundled simulated GitLab: three MRs checked, then a week swept into a store
    and its reports written. No GitLab of your own needed. Each step is shown as the
    command that does it, which works when typed (with the demo world served again, as the
    demo says at its end)."""

    def run() -> int:
        from auditor.audit import check_mr, parse_target
        from auditor.dates import parse_window
        from auditor.gitlab.client import ReadOnlySession, connect
        from auditor.gitlab.source import GitLabSource
        from auditor.report import sweep_summary
        from auditor.report.table import print_table
        from auditor.simulator.flows import MONDAY
        from auditor.simulator.server import SimulatorServer
        from auditor.simulator.worlds import build_world, config_toml, load_module, services_of
        from auditor.store import EvidenceStore
        from auditor.sweep import Sweep

        check_output_paths(out=out)
        console = _console()

        def show(*words: object) -> None:
            # soft_wrap: a command is never broken or cut at the terminal's width
            console.print(f"$ {_shell_line('auditor', *words)}", markup=False, soft_wrap=True)

        module = load_module("demo")
        console.print("[bold]auditor demo[/]: building a simulated GitLab (evenergi/*) ...")
        world = build_world(module)
        at = f"{world.now:%Y-%m-%dT%H:%M:%SZ}"
        with SimulatorServer(world) as server:
            url = server.start() if not getattr(server, "url", None) else server.url
            out.mkdir(parents=True, exist_ok=True)
            # kept in DIR, so that the commands shown below can be typed as they are
            cfg = out / "auditor.toml"
            cfg.write_text(config_toml(url, services_of(module)), encoding="utf-8")
            settings = load_settings(cfg, {"GITLAB_TOKEN": world.token})
            console.print(f"simulated GitLab at {url}; {cfg}:", markup=False)
            console.print(cfg.read_text(), markup=False, highlight=False)
            for text in module.TARGETS:
                target = parse_target(text)
                services = [s.name for s in settings.services_for_project(target.project)]
                src = GitLabSource(connect(settings, ReadOnlySession()))
                report = check_mr(src, settings, target, services, world.now)
                console.rule(f"check {text}")
                show("--config", cfg, "check", text, "--now", at)
                print_table(report, console)

            db = out / "auditor.db"
            start = f"{MONDAY:%Y-%m-%dT%H:%M:%SZ}"
            # the window the command shown would sweep, so that both are the same
            window = parse_window(None, start, at, None, world.now)
            console.rule("sweep the week")
            show("--config", cfg, "sweep", "--from", start, "--to", at, "--db", db, "--now", at)
            with EvidenceStore(db) as store, store.exclusive("sweep"):
                # the simulator stops with the demo: its reports say so and link nowhere
                store.mark_simulated(url)
                session = ReadOnlySession()
                source = GitLabSource(connect(settings, session), cache=store, session=session)
                result = Sweep(source, session, settings, store).run(
                    window, list(settings.services), world.now
                )
                sweep_summary.print_summary(result, console)
                if result.run_id is not None:
                    written = write_site(store, result.run_id, out, bundle=False)
                    console.print(
                        f"reports: {len(written)} files; open {out / 'index.html'}", markup=False
                    )
        port = url.rsplit(":", 1)[1].rstrip("/")
        console.rule("try it yourself")
        console.print("From the store, without GitLab:", markup=False)
        show("history", "--db", db)
        show("report", "--db", db, "--format", "markdown")
        console.print(
            "The simulated GitLab stopped with the demo. To run the commands above again, "
            "serve the same world at the same address in another terminal:",
            markup=False,
        )
        show("simulator", "serve", "--world", "demo", "--port", port)
        console.print("and set GITLAB_TOKEN to the token it prints after the URL.", markup=False)
        return 0

    raise typer.Exit(_guarded(run))


def main() -> None:
    # One name however it is started (`auditor`, `python -m auditor`): usage lines, hints
    # and the shell completion script (its `_AUDITOR_COMPLETE` variable) depend on it.
    app(prog_name="auditor")


if __name__ == "__main__":
    main()
