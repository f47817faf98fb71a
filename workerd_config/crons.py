"""Cloudflare's cron syntax, read with croniter (docs/cron.md).

Cloudflare reads five fields in UTC, Quartz-style: day of week 1-7 with 1 = Sunday
(or SUN-SAT), `L` (last day of the month; `6L`, the month's last Friday), `W`
(nearest weekday) and `#` (`MON#2`, the second Monday), `?` for "any". croniter
counts the week from 0 = Sunday and spells "last Friday" `L5`, so the day-of-week
field is translated; the other fields are croniter's as they are. croniter is imported by
the functions that use it: a stack without crons never needs it (cold start).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DAY_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
_NAME_NUMBER = {
    name: str(index) for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}


class CronError(ValueError):
    """An expression Cloudflare would refuse; the message says which part and why."""


def _weekday(value: str) -> str:
    """One Cloudflare day (1-7 or a name) as croniter's (0-6 or the name)."""
    upper = value.upper()
    if upper in _DAY_NAMES:
        return upper
    if not value.isdigit() or not 1 <= int(value) <= 7:
        raise CronError(f"day of week {value!r} is not 1-7 or SUN-SAT")
    return str(int(value) - 1)


def _weekday_item(item: str) -> str:
    if item in ("*", "?"):
        return "*"
    if match := re.fullmatch(r"([A-Za-z0-9]+)L", item):
        day = _weekday(match.group(1))
        return f"L{_NAME_NUMBER.get(day, day)}"
    if match := re.fullmatch(r"([A-Za-z0-9]+)#([1-5])", item):
        return f"{_weekday(match.group(1))}#{match.group(2)}"
    base, slash, step = item.partition("/")
    if slash and not step.isdigit():
        raise CronError(f"day of week step {step!r} is not a number")
    if base == "*":
        days = "*"
    elif "-" in base:
        first, _, last = base.partition("-")
        days = f"{_weekday(first)}-{_weekday(last)}"
    else:
        days = _weekday(base)
    return f"{days}{slash}{step}"


def to_croniter(expression: str) -> str:
    """The croniter form of a Cloudflare cron expression; CronError if it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"{expression!r} has {len(fields)} fields; a cron has 5")
    minute, hour, day, month, weekday = fields
    day = "*" if day == "?" else day
    weekday = ",".join(_weekday_item(item) for item in weekday.split(","))
    translated = " ".join((minute, hour, day, month, weekday))
    from croniter import croniter

    if not croniter.is_valid(translated):
        raise CronError(f"{expression!r} is not a valid cron expression")
    return translated


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time after `after` (UTC, to the minute) that `expression` fires."""
    from croniter import croniter

    moments = croniter(to_croniter(expression), after.astimezone(UTC))
    return moments.get_next(datetime)
