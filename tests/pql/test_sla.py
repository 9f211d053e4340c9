"""Working-hours arithmetic of the first-contact SLA, with exact times."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from pql.sla import WorkingHours, working_hours_add, working_hours_between

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = WorkingHours(frozenset(range(5)), time(9), time(17), ZoneInfo("UTC"))
BERLIN_WEEK = WorkingHours(frozenset(range(5)), time(9), time(17), BERLIN)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_friday_16_plus_24_working_hours_is_wednesday_16():
    friday = utc(2025, 3, 14, 16)

    assert working_hours_add(friday, 24, WEEK) == utc(2025, 3, 19, 16)


def test_the_weekend_does_not_count():
    saturday_noon = utc(2025, 3, 15, 12)

    assert working_hours_add(saturday_noon, 1, WEEK) == utc(2025, 3, 17, 10)
    assert working_hours_between(utc(2025, 3, 14, 17), utc(2025, 3, 17, 9), WEEK) == 0


def test_a_start_before_hours_counts_from_the_opening_and_after_hours_from_the_next_day():
    assert working_hours_add(utc(2025, 3, 10, 6), 2, WEEK) == utc(2025, 3, 10, 11)
    assert working_hours_add(utc(2025, 3, 10, 20), 2, WEEK) == utc(2025, 3, 11, 11)


def test_hours_that_end_exactly_at_closing_end_that_day():
    assert working_hours_add(utc(2025, 3, 10, 9), 8, WEEK) == utc(2025, 3, 10, 17)


def test_a_berlin_day_stays_9_to_17_local_across_the_spring_daylight_saving_change():
    # Friday 28 March 2025 16:00 CET (15:00 UTC); clocks go forward on Sunday 30 March.
    friday = datetime(2025, 3, 28, 16, tzinfo=BERLIN)

    due = working_hours_add(friday, 2, BERLIN_WEEK)

    assert due.astimezone(BERLIN) == datetime(2025, 3, 31, 10, tzinfo=BERLIN)
    assert due == utc(2025, 3, 31, 8)  # CEST is UTC+2


def test_a_berlin_day_stays_9_to_17_local_across_the_autumn_change():
    friday = datetime(2025, 10, 24, 16, tzinfo=BERLIN)

    assert working_hours_add(friday, 2, BERLIN_WEEK) == utc(2025, 10, 27, 9)  # CET, UTC+1


def test_a_night_shift_across_the_change_has_the_hours_that_really_pass():
    # 0:00-6:00 on 30 March 2025 in Berlin is five hours long: 2:00 becomes 3:00.
    nights = WorkingHours(frozenset(range(7)), time(0), time(6), BERLIN)
    start = datetime(2025, 3, 30, 0, tzinfo=BERLIN)

    assert working_hours_between(start, datetime(2025, 3, 30, 6, tzinfo=BERLIN), nights) == 5
    assert working_hours_add(start, 5, nights) == datetime(2025, 3, 30, 6, tzinfo=BERLIN)


def test_working_hours_between_counts_only_the_working_hours_and_is_signed():
    start, end = utc(2025, 3, 14, 16), utc(2025, 3, 19, 16)

    assert working_hours_between(start, end, WEEK) == 24
    assert working_hours_between(end, start, WEEK) == -24
    assert working_hours_between(utc(2025, 3, 10, 12, 30), utc(2025, 3, 10, 13), WEEK) == 0.5


def test_a_calendar_without_days_or_with_a_day_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="at least one day"):
        WorkingHours(frozenset(), time(9), time(17), BERLIN)
    with pytest.raises(ValueError, match="ends after it starts"):
        WorkingHours(frozenset({0}), time(17), time(9), BERLIN)
