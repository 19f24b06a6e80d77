"""Command-line dates and windows: `--since 7d`, `--from 2026-11-16 --to 2026-11-22`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditor.config import ConfigError, parse_duration
from auditor.discover import Window
from auditor.timestamps import parse


def zone(name: str | None) -> ZoneInfo | None:
    if not name or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


def parse_instant(text: str, tz: ZoneInfo | None, *, end_of_day: bool = False) -> datetime:
    """`YYYY-MM-DD` (a whole day: its start, or with end_of_day its last instant) or an ISO
    8601 date-time; naive values are in `tz` (UTC when None). Returns UTC."""
    where = tz or UTC
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day, time.max if end_of_day else time.min, where)
        else:
            at = parse(text, naive=where)
    except ValueError:
        raise ConfigError(
            f"not a date: {text!r} (use YYYY-MM-DD or an ISO 8601 date-time)"
        ) from None
    return at.astimezone(UTC)


def parse_window(
    since: str | None,
    start: str | None,
    end: str | None,
    tz_name: str | None,
    now: datetime,
) -> Window:
    tz = zone(tz_name)
    if since and (start or end):
        raise ConfigError("use either --since or --from/--to, not both")
    if start or end:
        if not (start and end):
            raise ConfigError("--from and --to go together")
        window = Window(parse_instant(start, tz), parse_instant(end, tz, end_of_day=True))
    else:
        window = Window(now - parse_duration(since or "7d"), now)
    if window.start >= window.end:
        raise ConfigError("the window is empty: --from must be before --to")
    if window.end - window.start > timedelta(days=366):
        raise ConfigError("the window is longer than a year; sweep it in parts")
    return window
