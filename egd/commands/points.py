"""Points in the log as users write them: a sequence number, an RFC 3339 time, or a time relative to now
(`-2h`, `-30m`, `-1d`, `-45s`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from projections.replay import Point

_RELATIVE = re.compile(r"-(?P<amount>\d+(?:\.\d+)?)(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


TIME_HELP = "RFC 3339 time (UTC when it has no offset) or relative (-2h)."
POINT_HELP = "Sequence, " + TIME_HELP

_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)(?P<unit>[smhdw])")


def parse_duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `45s`, `2w`."""
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise click.BadParameter(f"{text!r} is not a duration like 7d, 12h or 30m")
    return timedelta(**{_UNITS[found["unit"]]: float(found["amount"])})


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An RFC 3339 time (its `T` and `Z` in either case; without an offset, UTC) or one relative to `now`."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative["unit"]]: float(relative["amount"])})
    try:
        parsed = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an RFC 3339 time nor a relative one like -2h") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TimeParam(click.ParamType[datetime]):
    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        return parse_time(str(value))


def parse_point(text: str, *, now: datetime | None = None) -> Point:
    """A stream sequence (`42`) or a time (RFC 3339 or relative, like `-2h`)."""
    stripped = text.strip()
    if stripped.isdigit():
        return Point(seq=int(stripped))
    return Point(time=parse_time(stripped, now=now))


class PointParam(click.ParamType[Point]):
    name = "SEQ|TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Point:
        if isinstance(value, Point):
            return value
        return parse_point(str(value))
