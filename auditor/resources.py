"""Where the shipped data lives: inside the wheel (auditor/_data) or, in a checkout, beside
the package. The product never reads ../shared at run time."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`rules`, `reports` or `fixtures`."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"auditor data folder {name!r} is missing from this installation")
