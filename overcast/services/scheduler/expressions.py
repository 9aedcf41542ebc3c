"""Schedule expressions in AWS's forms: ``rate(5 minutes)``, ``cron(0 9 ? * MON-FRI *)`` and
``at(2026-12-01T09:00:00)``, with a time zone; ``Rate``, ``Cron`` and ``At`` build them in code.

Every expression answers two questions, in epoch seconds: ``next_after(t)`` (the first tick
strictly after ``t``) and ``latest_at(t)`` (the last tick at or before ``t``). Pure code.

Supported cron syntax — the six fields minutes, hours, day-of-month, month, day-of-week, year:
``*``, ``,``, ``-``, ``/`` (not in day-of-week), ``?`` (exactly one of day-of-month and
day-of-week is ``?``), names ``JAN``-``DEC`` and ``SUN``-``SAT``, day-of-week numbers 1-7 with
1 = Sunday (AWS's numbering), ``L`` (last day of the month; ``6L`` the last Friday; ``L`` alone
in day-of-week is Saturday), ``15W`` (the weekday nearest the 15th, never crossing the month),
``3#2`` (the second Tuesday; one such term only), years 1970-2199. Not supported: ``LW`` and
``L-n`` (AWS does not document them). Calendar math is croniter's, in the schedule's time zone;
a local time skipped by a daylight-saving change fires at the first valid time after it.

Rates tick at whole multiples of the period counted from ``start`` (the Unix epoch by default,
so ``rate(1 hour)`` fires on the hour), which every process computes alike.

Before changing: AWS day-of-week numbers are translated to croniter's (0 = Sunday) in
``_dow``; the year field is applied here, not by croniter (whose years stop at 2099).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from overcast.errors import ValidationError

MINUTE = 60.0
_UNITS = {"minute": 60.0, "hour": 3600.0, "day": 86_400.0}
_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$", re.IGNORECASE)
_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE | re.DOTALL)
_AT = re.compile(r"^at\(\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s*\)$", re.IGNORECASE)
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
MAX_YEAR = 2199


def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA time zone name, or a ``ValidationError`` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris'") from None


class Expression:
    """A parsed schedule expression."""

    text: str = ""

    def next_after(self, moment: float, tz: str = "UTC") -> float | None:
        raise NotImplementedError

    def latest_at(self, moment: float, tz: str = "UTC") -> float | None:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class Rate(Expression):
    """``Rate(5, "minutes")`` (or ``Rate(minutes=5)``, ``Rate(hours=1)``, ``Rate(days=1)``)."""

    value: int = 0
    unit: str = ""
    start: float = 0.0
    text: str = field(default="", init=False)

    def __init__(self, value: int | None = None, unit: str | None = None, *, minutes: int | None = None,
                 hours: int | None = None, days: int | None = None, start: float = 0.0) -> None:
        given = [(n, u) for n, u in ((minutes, "minute"), (hours, "hour"), (days, "day")) if n is not None]
        if value is not None or unit is not None:
            if given or value is None or unit is None:
                raise ValidationError("write Rate(5, 'minutes') or Rate(minutes=5)")
            given = [(value, unit.lower().rstrip("s"))]
        if len(given) != 1:
            raise ValidationError("write Rate(5, 'minutes') or Rate(minutes=5)")
        number, base = given[0]
        if base not in _UNITS:
            raise ValidationError(f"rate unit {unit!r}: use minute(s), hour(s) or day(s)")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValidationError(f"a rate is a positive whole number of {base}s, not {number!r}")
        object.__setattr__(self, "value", number)
        object.__setattr__(self, "unit", base)
        object.__setattr__(self, "start", float(start))
        object.__setattr__(self, "text", f"rate({number} {base}{'' if number == 1 else 's'})")

    @property
    def period(self) -> float:
        return self.value * _UNITS[self.unit]

    def next_after(self, moment: float, tz: str = "UTC") -> float | None:
        steps = (moment - self.start) // self.period + 1
        return self.start + max(steps, 0) * self.period

    def latest_at(self, moment: float, tz: str = "UTC") -> float | None:
        if moment < self.start:
            return None
        return self.start + ((moment - self.start) // self.period) * self.period


@dataclass(frozen=True, eq=False)
class At(Expression):
    """A one-time schedule: ``At(datetime(2026, 12, 1, 9))`` (in the schedule's time zone)."""

    when: dt.datetime = dt.datetime(1970, 1, 1)
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.when, dt.datetime):
            raise ValidationError(f"At() takes a datetime, not {self.when!r}")
        object.__setattr__(self, "text", f"at({self.when.replace(tzinfo=None).isoformat(timespec='seconds')})")

    def moment(self, tz: str) -> float:
        when = self.when if self.when.tzinfo else self.when.replace(tzinfo=zone(tz))
        return when.timestamp()

    def next_after(self, moment: float, tz: str = "UTC") -> float | None:
        at = self.moment(tz)
        return at if at > moment else None

    def latest_at(self, moment: float, tz: str = "UTC") -> float | None:
        at = self.moment(tz)
        return at if at <= moment else None


@dataclass(frozen=True, eq=False)
class Cron(Expression):
    """``Cron(minutes="0", hours="9", day_of_week="MON-FRI")``: AWS's six cron fields (the
    day-of-month defaults to ``?`` when a day-of-week is given, else ``*``)."""

    minutes: str = "*"
    hours: str = "*"
    day_of_month: str | None = None
    month: str = "*"
    day_of_week: str | None = None
    year: str = "*"
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        dom = self.day_of_month if self.day_of_month is not None else ("?" if self.day_of_week not in (None, "?") else "*")
        dow = self.day_of_week if self.day_of_week is not None else ("?" if dom != "?" else "*")
        object.__setattr__(self, "day_of_month", dom)
        object.__setattr__(self, "day_of_week", dow)
        fields = [str(self.minutes), str(self.hours), dom, str(self.month), dow, str(self.year)]
        object.__setattr__(self, "text", f"cron({' '.join(fields)})")
        spec, years = _translate(fields)
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_years", years)

    def _iter(self, moment: float, tz: str, reverse: bool) -> Any:
        from croniter import croniter  # type: ignore[import-untyped]

        local = dt.datetime.fromtimestamp(moment, zone(tz))
        return croniter(self._spec, local), local  # type: ignore[attr-defined]

    def next_after(self, moment: float, tz: str = "UTC") -> float | None:
        it, _ = self._iter(moment, tz, False)
        years: set[int] | None = self._years  # type: ignore[attr-defined]
        for _ in range(1000):
            candidate: dt.datetime = it.get_next(dt.datetime)
            if candidate.year > MAX_YEAR:
                return None
            if years is None or candidate.year in years:
                return float(candidate.timestamp())
            later = [y for y in years if y > candidate.year]
            if not later:
                return None
            jump = dt.datetime(min(later), 1, 1, tzinfo=zone(tz)) - dt.timedelta(seconds=1)
            it.set_current(jump, force=True)
        return None

    def latest_at(self, moment: float, tz: str = "UTC") -> float | None:
        it, _ = self._iter(moment + 1, tz, True)
        years: set[int] | None = self._years  # type: ignore[attr-defined]
        for _ in range(1000):
            candidate: dt.datetime = it.get_prev(dt.datetime)
            if candidate.year < 1970:
                return None
            if years is None or candidate.year in years:
                return float(candidate.timestamp())
            earlier = [y for y in years if y < candidate.year]
            if not earlier:
                return None
            it.set_current(dt.datetime(max(earlier) + 1, 1, 1, tzinfo=zone(tz)), force=True)
        return None


def parse(expression: str | Expression) -> Expression:
    """Parse ``rate(...)``, ``cron(...)`` or ``at(...)``; a ``ValidationError`` says what is wrong."""
    if isinstance(expression, Expression):
        return expression
    if not isinstance(expression, str):
        raise ValidationError(f"a schedule expression is a string like 'rate(5 minutes)', not {expression!r}")
    text = expression.strip()
    match = _RATE.match(text)
    if match:
        value, unit = int(match.group(1)), match.group(2).lower()
        base = unit.rstrip("s")
        if base not in _UNITS:
            raise ValidationError(f"{expression!r}: the unit is minute(s), hour(s) or day(s)")
        if value < 1:
            raise ValidationError(f"{expression!r}: the rate must be a positive whole number")
        if (value == 1) != (unit == base):
            fix = f"rate({value} {base}{'' if value == 1 else 's'})"
            raise ValidationError(f"{expression!r}: AWS wants a singular unit for 1 and a plural otherwise; write {fix}")
        return Rate(value, base)
    match = _CRON.match(text)
    if match:
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValidationError(
                f"{expression!r}: a cron expression has six fields (minutes hours day-of-month month "
                f"day-of-week year), not {len(fields)}; e.g. cron(0 9 ? * MON-FRI *)"
            )
        return Cron(*fields)
    match = _AT.match(text)
    if match:
        return At(dt.datetime.fromisoformat(match.group(1)))
    raise ValidationError(
        f"{expression!r} is not a schedule expression: write rate(5 minutes), "
        "cron(0 9 ? * MON-FRI *) or at(2026-12-01T09:00:00)"
    )


# -- cron translation ----------------------------------------------------------------------------


def _translate(fields: list[str]) -> tuple[str, set[int] | None]:
    """AWS's six fields as croniter's five, and the set of years (None: every year)."""
    minutes, hours, dom, month, dow, year = (f.upper() for f in fields)
    where = f"cron({' '.join(fields)})"
    if (dom == "?") == (dow == "?"):
        raise ValidationError(f"{where}: exactly one of day-of-month and day-of-week must be '?' (e.g. cron(0 9 ? * MON-FRI *))")
    _check_field(minutes, 0, 59, "minutes", where)
    _check_field(hours, 0, 23, "hours", where)
    _check_field(month, 1, 12, "month", where, names=_MONTHS)
    if dom != "?":
        _check_dom(dom, where)
    croniter_dow = "*" if dow == "?" else _dow(dow, where)
    years = None if year == "*" else _years(year, where)
    spec = f"{minutes} {hours} {'*' if dom == '?' else dom} {month} {croniter_dow}"
    try:
        from croniter import croniter

        croniter(spec)
    except Exception as exc:  # croniter's own errors: report them on the AWS expression
        raise ValidationError(f"{where}: {exc}") from None
    return spec, years


def _check_field(value: str, low: int, high: int, what: str, where: str, names: list[str] | None = None) -> None:
    for term in value.split(","):
        base, _, step = term.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValidationError(f"{where}: {what}: {term!r} has a bad step")
        if base == "*":
            continue
        for part in base.split("-"):
            number = names.index(part) + 1 if names and part in names else (int(part) if part.isdigit() else None)
            if number is None or not low <= number <= high:
                raise ValidationError(f"{where}: {what}: {part!r} is not in {low}-{high}")


def _check_dom(value: str, where: str) -> None:
    if value in ("L", "*"):
        return
    if value.endswith("W") and value[:-1].isdigit() and 1 <= int(value[:-1]) <= 31:
        return
    if "W" in value or "L" in value:
        raise ValidationError(f"{where}: day-of-month: use L (last day) or NW (weekday nearest day N), not {value!r}")
    _check_field(value, 1, 31, "day-of-month", where)


def _day_number(token: str, where: str) -> int:
    """An AWS day-of-week (1-7, 1 = SUN, or a name) as croniter's (0-6, 0 = Sunday)."""
    if token in _DAYS:
        return _DAYS.index(token)
    if token.isdigit() and 1 <= int(token) <= 7:
        return int(token) - 1
    raise ValidationError(f"{where}: day-of-week: {token!r} is not 1-7 (1 = SUN) or SUN-SAT")


def _dow(value: str, where: str) -> str:
    if value == "*":
        return "*"
    if "/" in value:
        raise ValidationError(f"{where}: day-of-week does not take '/' increments")
    if "#" in value:
        if "," in value:
            raise ValidationError(f"{where}: day-of-week: a '#' expression must be the only one (not {value!r})")
        day, _, nth = value.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ValidationError(f"{where}: day-of-week: {value!r}: the instance after '#' is 1-5")
        return f"{_day_number(day, where)}#{nth}"
    out = []
    for term in value.split(","):
        if term == "L":
            out.append("6")  # 'L' alone: the last day of the week, Saturday
        elif term.endswith("L"):
            out.append(f"L{_day_number(term[:-1], where)}")
        elif "-" in term:
            low, _, high = term.partition("-")
            a, b = _day_number(low, where), _day_number(high, where)
            if b < a:
                raise ValidationError(f"{where}: day-of-week: the range {term!r} runs backwards")
            out.append(f"{a}-{b}")
        else:
            out.append(str(_day_number(term, where)))
    return ",".join(out)


def _years(value: str, where: str) -> set[int]:
    years: set[int] = set()
    for term in value.split(","):
        base, _, step = term.partition("/")
        stride = int(step) if step.isdigit() and int(step) > 0 else None
        if step and stride is None:
            raise ValidationError(f"{where}: year: {term!r} has a bad step")
        if base == "*":
            low, high = 1970, MAX_YEAR
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValidationError(f"{where}: year: {term!r} is not a range of years")
            low, high = int(a), int(b)
        elif base.isdigit():
            low = int(base)
            high = MAX_YEAR if stride else low
        else:
            raise ValidationError(f"{where}: year: {term!r} is not a year")
        if not 1970 <= low <= high <= MAX_YEAR:
            raise ValidationError(f"{where}: year: {term!r} is not within 1970-{MAX_YEAR}")
        years.update(range(low, high + 1, stride or 1))
    return years
