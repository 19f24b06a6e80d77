"""Every timestamp the tool reads or writes: one parser and each output format, defined once.

The formats differ on purpose (the JSON contract keeps GitLab's sub-second precision, the
store sorts fixed-width text in SQL, GitLab's query parameters take whole seconds, people read
minutes), so each is its own named function here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def utc(value: datetime) -> datetime:
    """`value` in UTC. A naive datetime in this model came from GitLab's UTC strings with the
    offset dropped, so UTC is the only honest reading of it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def parse(text: str, *, naive: tzinfo | None = UTC) -> datetime:
    """ISO 8601 with `Z` or an offset, as an aware UTC datetime. A value without a zone is
    read in `naive`; with `naive=None` it is refused (GitLab always sends one).
    Raises ValueError for anything else."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        if naive is None:
            raise ValueError(f"{text!r} has no time zone")
        at = at.replace(tzinfo=naive)
    return at.astimezone(UTC)


def parse_timestamp(text: object) -> datetime | None:
    """`parse` for stored values that may be absent or damaged: anything that is not an
    ISO 8601 string is None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, e.g. `2026-11-26T15:00:00Z` (the JSON contract's form).

    Sub-second precision is kept only when present: GitLab reports milliseconds and two
    events in the same second must still sort correctly.
    """
    value = utc(value)
    if value.microsecond == 0:
        spec = "seconds"
    elif value.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def format_timestamp_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def format_fixed(value: datetime) -> str:
    """`2026-11-26T15:00:00.000000Z`: fixed width, so text order is time order in SQL."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_gitlab(value: datetime) -> str:
    """Whole seconds with a `Z`: the form GitLab's `since`/`updated_after` parameters take."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_minute(value: datetime | None) -> str:
    """`2026-11-18 10:00` (UTC, to the minute), for places that say UTC themselves; empty
    for None."""
    return "" if value is None else utc(value).strftime("%Y-%m-%d %H:%M")


def format_readable(value: datetime | None) -> str:
    """`2026-11-18 10:00 UTC` (seconds only when there are any); empty for None."""
    if value is None:
        return ""
    value = utc(value)
    spec = "%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M"
    return value.strftime(spec) + " UTC"
