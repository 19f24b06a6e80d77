"""TEMPORARY stand-in for the note reader (replaced by the real one from the `notes` branch)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Claim(StrEnum):
    VALIDATED = "validated"
    FAILED = "failed"
    PENDING = "pending"
    AMBIGUOUS = "ambiguous"
    UNRELATED = "unrelated"


@dataclass(frozen=True)
class Vocabulary:
    validated: tuple[str, ...]
    failed: tuple[str, ...]
    pending: tuple[str, ...]

    @classmethod
    def with_overrides(
        cls,
        validated: Sequence[str] | None = None,
        failed: Sequence[str] | None = None,
        pending: Sequence[str] | None = None,
    ) -> Vocabulary:
        d = DEFAULT_VOCABULARY
        return cls(
            tuple(validated) if validated is not None else d.validated,
            tuple(failed) if failed is not None else d.failed,
            tuple(pending) if pending is not None else d.pending,
        )


DEFAULT_VOCABULARY = Vocabulary(
    ("validated", "verified", "tested", "checked", "confirmed", "smoke"),
    ("failed", "failing", "broken", "not validated", "does not work", "regression"),
    ("not yet", "still", "running", "will ", "pending", "to be "),
)


@dataclass(frozen=True)
class NoteReading:
    claim: Claim
    names_service: bool
    quote: str


def read_note(
    body: str,
    service: str,
    services: Sequence[str] = (),
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> NoteReading:
    text = body.lower()
    named = re.search(rf"(?<![\w-]){re.escape(service.lower())}(?![\w-])", text) is not None
    quote = body.strip()[:160]
    if any(w in text for w in vocabulary.pending):
        return NoteReading(Claim.PENDING, named, quote)
    if any(w in text for w in vocabulary.failed):
        return NoteReading(Claim.FAILED, named, quote)
    if any(w in text for w in vocabulary.validated):
        return NoteReading(Claim.VALIDATED, named, quote)
    return NoteReading(Claim.UNRELATED, named, quote)
