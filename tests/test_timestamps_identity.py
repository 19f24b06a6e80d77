"""The one timestamp module and the MR identity: each output format pinned byte for byte
(the JSON contract, the store's sortable text, GitLab's query parameters, the pages'), the
parser's readings, and `MRId` as GitLab writes an MR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from auditor.findings import MRSummary
from auditor.identity import MRId
from auditor.timestamps import (
    format_fixed,
    format_gitlab,
    format_minute,
    format_readable,
    format_timestamp,
    format_timestamp_or_none,
    parse,
    parse_timestamp,
    utc,
)

BERLIN = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 26, 15, 0, tzinfo=UTC), "2026-11-26T15:00:00Z"),
        (datetime(2026, 11, 26, 15, 0, 1, 250_000, tzinfo=UTC), "2026-11-26T15:00:01.250Z"),
        (datetime(2026, 11, 26, 15, 0, 1, 250_001, tzinfo=UTC), "2026-11-26T15:00:01.250001Z"),
        (datetime(2026, 11, 26, 16, 0, tzinfo=BERLIN), "2026-11-26T15:00:00Z"),
        (datetime(2026, 11, 26, 15, 0), "2026-11-26T15:00:00Z"),  # naive: GitLab's UTC
    ],
)
def test_the_contract_format(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert format_timestamp_or_none(value) == text
    assert parse(text) == utc(value)  # and it reads back


def test_the_other_formats() -> None:
    at = datetime(2026, 11, 18, 11, 0, 5, 120_000, tzinfo=BERLIN)
    assert format_fixed(at) == "2026-11-18T10:00:05.120000Z"
    assert format_gitlab(at) == "2026-11-18T10:00:05Z"
    assert format_minute(at) == "2026-11-18 10:00"
    assert format_readable(at) == "2026-11-18 10:00:05 UTC"
    assert format_readable(at.replace(second=0)) == "2026-11-18 10:00 UTC"
    assert format_readable(None) == format_minute(None) == ""
    assert format_timestamp_or_none(None) is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-18T10:00:00Z",
        "2026-11-18T11:00:00+01:00",
        "2026-11-18T10:00:00",
        "2026-11-18 10:00",
    ],
)
def test_the_parser_answers_aware_utc(text: str) -> None:
    at = parse(text)
    assert at == datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    assert at.tzinfo is UTC


def test_a_value_without_a_zone_is_read_in_the_zone_asked_or_refused() -> None:
    assert parse("2026-11-18T11:00:00", naive=BERLIN) == datetime(2026, 11, 18, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="has no time zone"):
        parse("2026-11-18T10:00:00", naive=None)  # GitLab always sends one
    assert parse("2026-11-18T10:00:00Z", naive=None).tzinfo is UTC


@pytest.mark.parametrize("bad", ["", "yesterday", None, 3, "2026-13-01T00:00:00Z"])
def test_the_lenient_parser_gives_none_for_what_is_no_timestamp(bad: object) -> None:
    assert parse_timestamp(bad) is None
    if isinstance(bad, str) and bad:
        with pytest.raises(ValueError):
            parse(bad)


def test_an_mr_is_written_as_gitlab_writes_it() -> None:
    mr = MRId("group/payments-api", 42)
    assert str(mr) == "group/payments-api!42"
    assert f"merge request {mr}" == "merge request group/payments-api!42"
    summary = MRSummary("group/payments-api", 42, "Fix", "https://g/x", None)
    assert summary.mr_id == mr
    assert {mr: 1}[MRId("group/payments-api", 42)] == 1  # a dict key, unlike the tuples


def test_mrs_order_by_project_then_number() -> None:
    ids = [MRId("b", 1), MRId("a", 10), MRId("a", 9)]
    assert [str(i) for i in sorted(ids)] == ["a!9", "a!10", "b!1"]  # numbers as numbers
