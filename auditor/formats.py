"""One table of output formats per command: validation, help, completion and dispatch.

A command declares its `Formats` once (each format's name, a one-line description and its
writer); `--format`'s help text, the error for an unknown name, the shell completion list
and the choice of writer all read that table, so they cannot disagree.

A writer is lazy: the table is built when the CLI is imported, so a writer imports its
report module only when called (`auditor check --format json` does not pay for rich).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from auditor.config import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


@dataclass(frozen=True)
class Format(Generic[T]):
    """One output format: text (`render`), or a file only (`to_file`, e.g. a PDF)."""

    name: str
    description: str
    render: Callable[[T], str] | None = None
    to_file: Callable[[T, Path], None] | None = None
    # on an interactive terminal, with no --output: drawn with rich instead of `render`
    to_terminal: Callable[[T, Console], None] | None = None

    def __post_init__(self) -> None:
        if (self.render is None) == (self.to_file is None):
            raise ValueError(f"format {self.name}: give exactly one of render and to_file")

    @property
    def needs_output(self) -> bool:
        return self.render is None


class Formats(Generic[T]):
    """A command's formats, in the order its help lists them."""

    def __init__(self, *formats: Format[T], flag: str = "--format") -> None:
        self._formats = {f.name: f for f in formats}
        if len(self._formats) != len(formats):
            raise ValueError("a format name appears twice")
        self.flag = flag

    def __iter__(self) -> Iterator[Format[T]]:
        return iter(self._formats.values())

    def __contains__(self, name: object) -> bool:
        return name in self._formats

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._formats)

    def help(self, lead: str = "") -> str:
        """`--format`'s help: every format with its description, in order."""
        listed = "; ".join(f"{f.name}: {f.description}" for f in self)
        return f"{lead}{listed}."

    def get(self, name: str) -> Format[T]:
        """The format `name`; ConfigError (exit 2) naming every format otherwise. A format
        that only writes files needs `--output`, which `check_output` checks."""
        try:
            return self._formats[name]
        except KeyError:
            raise ConfigError(f"{self.flag} must be one of {', '.join(self.names)}") from None

    def check_output(self, name: str, output: Path | None) -> Format[T]:
        found = self.get(name)
        if found.needs_output and output is None:
            raise ConfigError(f"{self.flag} {name} needs --output PATH")
        return found

    def text(self, name: str, value: T) -> str:
        """The text of `value` in format `name` (for a file of a bundle, say)."""
        render = self.get(name).render
        if render is None:
            raise ConfigError(f"{self.flag} {name} needs --output PATH")
        return render(value)
