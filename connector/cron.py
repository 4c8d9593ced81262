"""Cron expressions in a time zone: checked, and their previous and next times (cronsim)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Asia/Tokyo`, `UTC`).

    Raises:
        ValueError: no such zone; the message names it and gives an example.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo or UTC"
        ) from None


def check(expression: str) -> str:
    """`expression` if it is a five-field cron expression (`30 2 * * 1-5`).

    Raises:
        ValueError: it is not; the message names the expression and the field at fault.
    """
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError as exc:
        raise ValueError(
            f"{expression!r} is not a cron expression ({exc}); write five fields, minute hour "
            "day-of-month month day-of-week, such as '30 2 * * *'"
        ) from None
    return expression


def previous(expression: str, tz: ZoneInfo, now: datetime) -> datetime:
    """The latest time at or before `now` the expression names, on the wall clock of `tz`.

    Across a change to summer time a time the clock skips runs at the first minute after the
    gap; across the change back a fixed time runs once, a `*` hour in both passes (cron's
    rules, as cronsim applies them).
    """
    # cronsim's reverse walk starts strictly before the time it is given, and inside the hour
    # a clock change repeats it can miss a slot; its answer is only a start for a walk forward.
    at = _utc(now)
    start = at.replace(second=0, microsecond=0) + _MINUTE
    found = next(CronSim(expression, start.astimezone(tz), reverse=True))
    if _utc(found) > at:
        found = next(CronSim(expression, (at - _DAY).astimezone(tz), reverse=True))
    for slot in CronSim(expression, (_utc(found) - _MINUTE).astimezone(tz)):
        if _utc(slot) > at:
            break
        if _utc(slot) > _utc(found):
            found = slot
    return found


def following(expression: str, tz: ZoneInfo, now: datetime) -> datetime:
    """The first time strictly after `now` the expression names, on the wall clock of `tz`."""
    at = _utc(now)
    # From inside a repeated hour cronsim can answer a time already past; those are skipped.
    return next(s for s in CronSim(expression, now.astimezone(tz)) if _utc(s) > at)


def _utc(moment: datetime) -> datetime:
    # Datetimes sharing a tzinfo compare by wall clock, ignoring `fold`: compare in UTC.
    return moment.astimezone(UTC)
