"""When a job runs: the `schedule:` and `timezone:` of a job file, as a cron expression.

A job file says when in words a person can check at a glance::

    schedule: manual                              # only when started (the default)
    schedule: {hourly: {minute: 15}}
    schedule: {daily: {at: "09:00"}}
    schedule: {weekly: {on: mon, at: "09:00"}}    # on: a day name, or a list of them
    schedule: {monthly: {day: 1, at: "06:00"}}
    schedule: {cron: "0 9 * * 1-5"}
    timezone: Europe/Warsaw                       # IANA name, default UTC

Each becomes one five-field cron expression and a time zone, which is what a Prefect cron schedule
and a Cloud Scheduler job both take. The reverse (`from_cron`) recognises the expressions this
module writes, so a deployment read back from prefect.yaml is described in the same words.

Pure: no Prefect import (the web console and the Terraform input generator use it too).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from etl_bigquery.engine.errors import ConfigurationError

DEFAULT_TIMEZONE = "UTC"
KINDS = ("manual", "hourly", "daily", "weekly", "monthly", "cron")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbers 0..6
_DAY_NAMES = {
    "sun": "Sunday",
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
}
_LONG_DAYS = {name.lower(): short for short, name in _DAY_NAMES.items()}
_AT = re.compile(r"^(\d{1,2}):(\d{2})$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
_KEYS = {
    "hourly": {"minute"},
    "daily": {"at"},
    "weekly": {"on", "at"},
    "monthly": {"day", "at"},
}


class ScheduleError(ConfigurationError):
    """A schedule that cannot be turned into a cron expression; the message is one sentence."""


@dataclass(frozen=True)
class Schedule:
    """A job's schedule, normalised. `cron` is None for a manual job."""

    kind: str = "manual"
    timezone: str = DEFAULT_TIMEZONE
    minute: int = 0
    hour: int = 0
    weekdays: tuple[str, ...] = ()
    day: int | None = None
    raw_cron: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def cron(self) -> str | None:
        if self.kind == "manual":
            return None
        if self.kind == "cron":
            return self.raw_cron
        if self.kind == "hourly":
            return f"{self.minute} * * * *"
        if self.kind == "daily":
            return f"{self.minute} {self.hour} * * *"
        if self.kind == "weekly":
            days = ",".join(str(WEEKDAYS.index(d)) for d in self.weekdays)
            return f"{self.minute} {self.hour} * * {days}"
        return f"{self.minute} {self.hour} {self.day} * *"

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    def describe(self) -> str:
        """In words, e.g. "Daily at 09:00 Europe/Warsaw"."""
        tz = self.timezone
        if self.kind == "manual":
            return "Manual"
        if self.kind == "hourly":
            return f"Hourly at minute {self.minute} {tz}"
        if self.kind == "daily":
            return f"Daily at {self.at} {tz}"
        if self.kind == "weekly":
            names = [_DAY_NAMES[d] for d in self.weekdays]
            days = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            return f"Weekly on {days} at {self.at} {tz}"
        if self.kind == "monthly":
            return f"Monthly on day {self.day} at {self.at} {tz}"
        return f"Cron {self.raw_cron} {tz}"

    def to_file(self) -> Any:
        """The `schedule:` value of a job file that gives this schedule back."""
        if self.kind == "manual":
            return "manual"
        if self.kind == "hourly":
            return {"hourly": {"minute": self.minute}}
        if self.kind == "daily":
            return {"daily": {"at": self.at}}
        if self.kind == "weekly":
            on: Any = self.weekdays[0] if len(self.weekdays) == 1 else list(self.weekdays)
            return {"weekly": {"on": on, "at": self.at}}
        if self.kind == "monthly":
            return {"monthly": {"day": self.day, "at": self.at}}
        return {"cron": self.raw_cron}

    def next_runs(self, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
        """The next `count` run times after `after`, in the schedule's time zone."""
        if self.cron is None:
            return []
        from cronsim import CronSim

        zone = zoneinfo.ZoneInfo(self.timezone)
        start = (after if after.tzinfo else after.replace(tzinfo=dt.UTC)).astimezone(zone)
        times: Iterator[dt.datetime] = CronSim(self.cron, start)
        return [next(times) for _ in range(count)]


def _where(where: str, part: str) -> str:
    return f"{where}: {part}" if where else part


def check_timezone(value: Any, where: str = "") -> str:
    if value is None or value == "":
        return DEFAULT_TIMEZONE
    ok = isinstance(value, str) and not value.startswith("/") and ".." not in value
    if ok:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            ok = False
    if not ok:
        raise ScheduleError(
            _where(where, f"timezone {value!r} is not a known time zone; use an IANA name such as ")
            + "Europe/Warsaw, America/New_York or UTC."
        )
    return value


def _minute(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 59:
        raise ScheduleError(
            _where(where, f"minute {value!r} is not a minute of the hour; use 0 to 59.")
        )
    return value


def _at(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 (PyYAML) reads an unquoted 10:30 as the base-60 number 630.
        raise ScheduleError(
            _where(where, f'at {value!r} must be a time in quotes, such as at: "10:30".')
        )
    match = _AT.match(value.strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleError(
            _where(where, f"at {value!r} is not a time of day; write HH:MM from 00:00 to 23:59.")
        )
    return int(match.group(1)), int(match.group(2))


def _weekdays(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    days: list[str] = []
    for item in items:
        if isinstance(item, int) or (isinstance(item, str) and item.strip().isdigit()):
            raise ScheduleError(
                _where(
                    where,
                    f"on {item!r} is a number; write the day's name (mon, tue, wed, thu, fri, "
                    "sat, sun), since cron and people disagree on whether 0 or 7 is Sunday.",
                )
            )
        name = str(item).strip().lower() if isinstance(item, str) else ""
        name = _LONG_DAYS.get(name, name)
        if name not in WEEKDAYS:
            raise ScheduleError(
                _where(where, f"on {item!r} is not a day; use mon, tue, wed, thu, fri, sat or sun.")
            )
        if name not in days:
            days.append(name)
    if not days:
        raise ScheduleError(_where(where, "weekly needs on: a day such as mon."))
    return tuple(sorted(days, key=WEEKDAYS.index))


def _day_of_month(value: Any, where: str) -> tuple[int, tuple[str, ...]]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
        raise ScheduleError(_where(where, f"day {value!r} is not a day of the month; use 1 to 31."))
    if value <= 28:
        return value, ()
    skipped = {
        29: "February in years that are not leap years",
        30: "February",
        31: "February, April, June, September and November",
    }[value]
    return value, (
        f"monthly on day {value}: months without a day {value} get no run "
        f"({skipped}); use day 28 or earlier to run every month.",
    )


def _check_cron(value: Any, where: str) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    fields = text.split(" ") if text else []
    valid = len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)
    if valid:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(text, dt.datetime(2000, 1, 1))
        except CronSimError:
            valid = False
    if not valid:
        raise ScheduleError(
            _where(
                where,
                f"cron {value!r} is not a five-field cron expression (minute hour day month "
                "weekday), e.g. '0 9 * * 1-5'.",
            )
        )
    return text


def parse_schedule(value: Any, timezone: Any = None, where: str = "schedule") -> Schedule:
    """A job file's `schedule:` (and `timezone:`) → Schedule, or one sentence saying what is wrong.

    A monthly day 29-31 is accepted; `Schedule.warnings` says which months it skips."""
    tz = check_timezone(timezone)
    if value is None or value == "manual" or value == {"manual": None}:
        return Schedule(timezone=tz)
    if isinstance(value, str):
        raise ScheduleError(
            f"{where} {value!r} is not a schedule; use manual, hourly, daily, weekly, monthly "
            "(with their settings) or cron."
        )
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ScheduleError(
            f"{where} must be one of manual, hourly, daily, weekly, monthly or cron, e.g. "
            'schedule: {daily: {at: "09:00"}}.'
        )
    ((kind, settings),) = value.items()
    if kind not in KINDS or kind == "manual":
        raise ScheduleError(
            f"{where} {kind!r} is not a schedule; use manual, hourly, daily, weekly, monthly or "
            "cron."
        )
    here = f"{where}.{kind}"
    if kind == "cron":
        return Schedule(kind="cron", timezone=tz, raw_cron=_check_cron(settings, where))
    settings = {} if settings is None and kind == "hourly" else settings
    if not isinstance(settings, Mapping):
        example = {
            "hourly": "{minute: 15}",
            "daily": '{at: "09:00"}',
            "weekly": '{on: mon, at: "09:00"}',
            "monthly": '{day: 1, at: "06:00"}',
        }[kind]
        raise ScheduleError(f"{here} needs its settings, e.g. {kind}: {example}.")
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
    settings = {("on" if key is True else key): item for key, item in settings.items()}
    unknown = sorted(str(key) for key in set(settings) - _KEYS[kind])
    if unknown:
        raise ScheduleError(
            f"{here} has unknown settings {unknown}; it takes {sorted(_KEYS[kind])}."
        )
    if kind == "hourly":
        return Schedule(kind="hourly", timezone=tz, minute=_minute(settings.get("minute", 0), here))
    if "at" not in settings:
        raise ScheduleError(f'{here} needs at: the time of day, e.g. at: "09:00".')
    hour, minute = _at(settings["at"], here)
    if kind == "daily":
        return Schedule(kind="daily", timezone=tz, hour=hour, minute=minute)
    if kind == "weekly":
        if "on" not in settings:
            raise ScheduleError(f"{here} needs on: the day of the week, e.g. on: mon.")
        return Schedule(
            kind="weekly",
            timezone=tz,
            hour=hour,
            minute=minute,
            weekdays=_weekdays(settings["on"], here),
        )
    if "day" not in settings:
        raise ScheduleError(f"{here} needs day: the day of the month, e.g. day: 1.")
    day, warnings = _day_of_month(settings["day"], here)
    return Schedule(
        kind="monthly", timezone=tz, hour=hour, minute=minute, day=day, warnings=warnings
    )


_NUMBER = r"(\d{1,2})"


def from_cron(cron: str | None, timezone: str | None = None) -> Schedule:
    """The schedule a cron expression stands for, in the words this module writes it with;
    anything else stays a raw cron."""
    tz = timezone or DEFAULT_TIMEZONE
    if not cron:
        return Schedule(timezone=tz)
    text = " ".join(cron.split())
    if (m := re.fullmatch(rf"{_NUMBER} \* \* \* \*", text)) and int(m.group(1)) <= 59:
        return Schedule(kind="hourly", timezone=tz, minute=int(m.group(1)))
    if m := re.fullmatch(rf"{_NUMBER} {_NUMBER} (\*|\d{{1,2}}) \* (\*|[0-6](?:,[0-6])*)", text):
        minute, hour, day, weekdays = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        if minute <= 59 and hour <= 23:
            if day == "*" and weekdays == "*":
                return Schedule(kind="daily", timezone=tz, hour=hour, minute=minute)
            if day == "*":
                days = tuple(WEEKDAYS[int(d)] for d in weekdays.split(","))
                return Schedule(kind="weekly", timezone=tz, hour=hour, minute=minute, weekdays=days)
            if weekdays == "*" and 1 <= int(day) <= 31:
                number, warnings = _day_of_month(int(day), "")
                return Schedule(
                    kind="monthly",
                    timezone=tz,
                    hour=hour,
                    minute=minute,
                    day=number,
                    warnings=warnings,
                )
    return Schedule(kind="cron", timezone=tz, raw_cron=text)
