"""Working-hours arithmetic for the first-contact SLA: a lead opened on Friday at 16:00 with
24 working hours of 9:00-17:00, Monday to Friday, is due on Wednesday at 16:00.

Pure functions over a ``WorkingHours`` calendar (built from ``QueueSettings``); times go in
and come out timezone-aware, in UTC, and are placed on the calendar in its time zone (so a
day of 9:00-17:00 stays 9:00-17:00 across daylight saving changes).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# However sparse the working week, an SLA is found within this many days.
MAX_DAYS = 366 * 2


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # 0 Monday .. 6 Sunday
    starts: time
    ends: time
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if not self.days or self.starts >= self.ends:
            raise ValueError(
                "A working week needs at least one day, and a day that ends after it starts."
            )

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working hours of ``day`` in the calendar's zone, as UTC times, or None for a
        day off. In UTC because Python subtracts and adds times of one zone on the wall
        clock: a night shift across a daylight saving change would count an hour wrong."""
        if day.weekday() not in self.days:
            return None
        start = datetime.combine(day, self.starts, tzinfo=self.zone)
        end = datetime.combine(day, self.ends, tzinfo=self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def working_hours_add(start: datetime, hours: float, calendar: WorkingHours) -> datetime:
    """The moment ``hours`` working hours after ``start`` (time outside working hours does
    not count; a start outside them counts from the next working moment)."""
    remaining = timedelta(hours=hours)
    start = start.astimezone(UTC)
    day = start.astimezone(calendar.zone).date()
    for _ in range(MAX_DAYS):
        window = calendar.window(day)
        if window is not None:
            begin = max(window[0], start)
            if begin < window[1]:
                available = window[1] - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("No working time found within two years: check the working week.")


def working_hours_between(start: datetime, end: datetime, calendar: WorkingHours) -> float:
    """How many working hours lie between ``start`` and ``end`` (negative when end is first)."""
    if end < start:
        return -working_hours_between(end, start, calendar)
    total = timedelta()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day = start.astimezone(calendar.zone).date()
    last = end.astimezone(calendar.zone).date()
    while day <= last:
        window = calendar.window(day)
        if window is not None:
            begin, finish = max(window[0], start), min(window[1], end)
            if begin < finish:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 3600
