"""The import layering of `auditor/`: no module imports from a layer above it (issue 9).

Issue 9 draws the flow as gitlab/collect -> evidence -> derive/checks -> findings -> store ->
report -> cli. That arrow is the direction the data travels, not the direction of imports: a
stage imports the *type* it hands on (the collector builds `evidence` values, the checks build
`findings` values), so those type modules sit below the stages that produce them. The map
below is therefore a graph of who may import whom: each layer names the layers directly
beneath it, and a module may import its own layer and anything reachable downward. Two layers
that do not reach each other (the GitLab adapters and the pure derivations, say) may not
import each other at all.

What counts as an import: every `import`/`from ... import` anywhere in the file, walked with
`ast` so function-level imports count (a lazy import is still a dependency, only a slower
one), and so do imports under `if TYPE_CHECKING:`. A type-only import still makes the lower
module know the upper one's design, which is what the layering forbids; today every
type-only import in `auditor/` already points downward, so counting them costs nothing.

Every module must be in the map, so a new module gets placed on purpose; a name in the map
that is no module any more fails too, so the map cannot rot.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"

# layer -> (modules or packages (a trailing `.*` takes a package's every module), the layers
# directly beneath it). Listed bottom-up.
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Plain building blocks that know nothing of GitLab, evidence or results: the settings,
    # the one timestamp parser/formatter, the MR identity, shipped data and the rule catalog.
    "foundation": (
        (
            "auditor",
            "auditor.config",
            "auditor.timestamps",
            "auditor.identity",
            "auditor.resources",
            "auditor.rulebook",
        ),
        (),
    ),
    # The typed values handed between stages: the evidence read from GitLab, the findings and
    # report the rules produce, the gaps a sweep could not read, and the release line's
    # drift, cut-offs and reverts a sweep finds, and a stored run as the store reads it back.
    # Pure data, no IO.
    "model": (
        (
            "auditor.evidence",
            "auditor.findings",
            "auditor.gaps",
            "auditor.release_line",
            "auditor.run_record",
        ),
        ("foundation",),
    ),
    # Pure readings of the evidence: derived facts, the lifecycle of a promotion and its
    # milestones, what a commit's text and a note's words say, commit ancestry. No GitLab,
    # no rules.
    "derive": (
        (
            "auditor.derive",
            "auditor.lifecycle",
            "auditor.ancestry",
            "auditor.lineage",
            "auditor.notes",
            "auditor.milestones",
        ),
        ("model",),
    ),
    # The rules: one pure module per rule, and the evaluation that runs them all.
    "checks": (("auditor.checks", "auditor.checks.*", "auditor.evaluate"), ("derive",)),
    # GitLab adapters: the read-only client and the typed source that turns GitLab's JSON into
    # evidence. They know the model and nothing of derivations or rules.
    "gitlab": (("auditor.gitlab", "auditor.gitlab.*"), ("model",)),
    # Reading GitLab for a promotion (collect) and for a window (discover): the adapters plus
    # the derivations needed to follow picks and deployments.
    "collect": (("auditor.collect", "auditor.discover"), ("gitlab", "derive")),
    # Use cases: check one MR, sweep a window, decide a sign-off, diagnose a GitLab.
    "run": (
        (
            "auditor.audit",
            "auditor.sweep",
            "auditor.signoff",
            "auditor.signoff_run",
            "auditor.doctor",
        ),
        ("collect", "checks"),
    ),
    # Persistence of runs, results and raw responses. It keeps raw GitLab responses (hence
    # gitlab) and knows no use case; a use case gets it handed in.
    # The store, one package split by concern (database, cache, runs).
    "store": (("auditor.store", "auditor.store.*"), ("model", "gitlab")),
    # Every writer of a report or page; reads results (and may read the store), never GitLab.
    "report": (("auditor.report", "auditor.report.*"), ("run", "store")),
    # The signed evidence bundle: a store's responses plus the JSON report, signed.
    "bundle": (("auditor.bundle", "auditor.signing"), ("report", "store")),
    # The store served read-only in Datasette: describes the store's tables, reads nothing
    # else (a sibling of the writers, not one of them).
    "browse": (("auditor.browse",), ("store",)),
    # The GitLab simulator: outside the product. It plays GitLab against the auditor, so it
    # must not share the auditor's code (only where shipped data lives).
    "simulator": (("auditor.simulator", "auditor.simulator.*"), ("foundation",)),
    # The command line on top: parsing, each command's output formats, progress display,
    # command-line dates, and the demo (which starts the simulator).
    "cli": (
        (
            "auditor.cli",
            "auditor.__main__",
            "auditor.formats",
            "auditor.dates",
            "auditor.progress",
        ),
        ("bundle", "browse", "simulator"),
    ),
}


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.module} line {self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every `auditor` import in the file, at any depth (functions, TYPE_CHECKING blocks).
    `from a import b` names `a.b` when that is a module, else `a`."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield Import(name, node.lineno, sub if sub in known else source)


def auditor_imports() -> list[Import]:
    modules = all_modules()
    known = set(modules)
    found = (imp for name, path in modules.items() for imp in imports_of(name, path, known))
    # one entry per (module, line, target): `from a import x, y` is one import of `a`
    return list(
        dict.fromkeys(i for i in found if i.target == "auditor" or i.target.startswith("auditor."))
    )


def layer_of(module: str) -> str | None:
    """The layer that names the module exactly, else the one whose `pkg.*` holds it."""
    for layer, (members, _) in LAYERS.items():
        if module in members:
            return layer
    for layer, (members, _) in LAYERS.items():
        for m in members:
            if m.endswith(".*") and module.startswith(m[:-1]):
                return layer
    return None


def reachable(layer: str) -> set[str]:
    """The layer and every layer beneath it."""
    seen = {layer}
    todo = [layer]
    while todo:
        for below in LAYERS[todo.pop()][1]:
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen


def upward(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        here, there = layer_of(imp.module), layer_of(imp.target)
        if here is None or there is None:
            continue  # reported by test_every_module_has_a_layer
        if there not in reachable(here):
            bad.append(f"{imp} ({here} may not import {there})")
    return bad


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in all_modules() if layer_of(m) is None)
    assert not unplaced, f"modules missing from LAYERS in {__file__}: {unplaced}"


def test_the_map_names_only_real_modules() -> None:
    modules = set(all_modules())
    stale = [
        m
        for members, _ in LAYERS.values()
        for m in members
        if (m[:-2] not in modules if m.endswith(".*") else m not in modules)
    ]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_the_layers_form_no_cycle() -> None:
    for layer, (_, below) in LAYERS.items():
        for b in below:
            assert layer not in reachable(b), f"{layer} and {b} reach each other"


def test_no_module_imports_from_a_layer_above_it() -> None:
    imports = auditor_imports()
    assert imports, "the walk found no imports at all: it is broken"
    bad = upward(imports)
    assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "source",
    [
        "from auditor.report.json_report import format_timestamp\n",
        "def f():\n    from auditor.report import json_report\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import auditor.report.html\n",
    ],
    ids=["top-level", "function-level", "type-only"],
)
def test_an_upward_import_is_named_with_its_line(tmp_path: Path, source: str) -> None:
    # The checker itself must be able to fail: the store importing a writer, in each form.
    known = set(all_modules())
    path = _write(tmp_path, "store", source)
    found = list(imports_of("auditor.store", path, known))
    bad = upward(found)
    assert len(bad) == 1
    assert bad[0].startswith(f"auditor.store line {source.count(chr(10))} imports auditor.report")
    assert bad[0].endswith("(store may not import report)")


def test_a_downward_import_passes(tmp_path: Path) -> None:
    path = _write(tmp_path, "table", "from auditor.timestamps import format_timestamp\n")
    found = list(imports_of("auditor.report.table", path, set(all_modules())))
    assert [str(i) for i in found] == ["auditor.report.table line 1 imports auditor.timestamps"]
    assert upward(found) == []


def test_siblings_do_not_import_each_other(tmp_path: Path) -> None:
    # derive and gitlab are both above the model and neither reaches the other: the pure
    # derivations may not read GitLab.
    path = _write(tmp_path, "derive", "from auditor.gitlab.source import GitLabSource\n")
    bad = upward(list(imports_of("auditor.derive", path, set(all_modules()))))
    assert bad == [
        "auditor.derive line 1 imports auditor.gitlab.source (derive may not import gitlab)"
    ]
