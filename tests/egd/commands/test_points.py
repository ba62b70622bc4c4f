"""Times as users write them on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from egd.commands.points import parse_time

AT = datetime(2026, 11, 27, 9, 35, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T09:35:16Z",
        "2026-11-27t09:35:16z",  # RFC 3339 allows either case
        "2026-11-27T10:35:16+01:00",
        "2026-11-27 09:35:16",  # no offset: UTC, whatever the machine's time zone
        " 2026-11-27T09:35:16.000Z ",
    ],
)
def test_rfc_3339_times(text: str) -> None:
    assert parse_time(text) == AT


def test_relative_times_and_nonsense() -> None:
    assert parse_time("-2h", now=AT) == AT - timedelta(hours=2)
    with pytest.raises(click.BadParameter, match="neither an RFC 3339 time nor a relative one"):
        parse_time("yesterday")
