"""Progress for long runs: a rich bar per phase on a terminal, plain lines elsewhere (CI)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column


class PlainProgress:
    """One line per step on stderr: readable in CI logs, where bars are noise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.done: dict[str, int] = {}
        self.total: dict[str, int] = {}

    def phase(self, name: str, total: int) -> None:
        self.done[name], self.total[name] = 0, total
        print(f"auditor: {name}: {total} to do", file=self.stream, flush=True)

    def advance(self, name: str, note: str = "") -> None:
        self.done[name] = self.done.get(name, 0) + 1
        total = self.total.get(name, 0)
        print(
            f"auditor: {name} {self.done[name]}/{total} {note}".rstrip(),
            file=self.stream,
            flush=True,
        )


class RichProgress:
    """A bar per phase with its count, time taken and time left, on one 80-column line: a
    long note (an MR's path) is cut, never wrapped onto a second line."""

    def __init__(self, console: Console, clock: Callable[[], float] | None = None) -> None:
        self.bar = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            # rich estimates from the recent rate; until a step is done it shows -:--:--
            TimeRemainingColumn(),
            TextColumn("left"),
            TextColumn(
                "{task.fields[note]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
            ),
            console=console,
            transient=False,
            expand=True,
            get_time=clock,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def phase(self, name: str, total: int) -> None:
        self.tasks[name] = self.bar.add_task(name, total=total, note="")

    def advance(self, name: str, note: str = "") -> None:
        self.bar.update(self.tasks[name], advance=1, note=note)
