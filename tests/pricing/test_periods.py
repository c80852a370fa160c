"""Billing periods, windows and day counts (billow.pricing.periods): table-driven + hypothesis."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from billow.pricing.periods import (
    ONE_SECOND,
    BillingCycle,
    BillingTime,
    Interval,
    Period,
    date_diff_with_timezone,
    days_inclusive,
    end_of_local_day,
    local_date,
    start_of_local_day,
    zone,
)

W, M, Q, S, Y = (Interval.WEEKLY, Interval.MONTHLY, Interval.QUARTERLY, Interval.SEMIANNUAL,
                 Interval.YEARLY)
CAL, ANN = BillingTime.CALENDAR, BillingTime.ANNIVERSARY


def utc(text: str) -> datetime:
    """An ISO instant; without an offset it is read as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def cycle(interval: Interval, billing_time: BillingTime, anchor: str = "2020-01-01",
          timezone: str = "UTC") -> BillingCycle:
    return BillingCycle(interval, billing_time, d(anchor), timezone)


def days_of(period: Period) -> tuple[str, str, int]:
    return period.first_day.isoformat(), period.last_day.isoformat(), period.days


# ---- enums and zones ------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "months", "per_year"), [
    (W, 0, 52), (M, 1, 12), (Q, 3, 4), (S, 6, 2), (Y, 12, 1),
])
def test_interval_lengths(interval: Interval, months: int, per_year: int) -> None:
    assert (interval.months, interval.per_year) == (months, per_year)


def test_zone_defaults_to_utc_and_rejects_unknown_names() -> None:
    assert zone(None) == ZoneInfo("UTC")
    assert zone("") == ZoneInfo("UTC")
    with pytest.raises(ZoneInfoNotFoundError):
        zone("Mars/Olympus_Mons")
    with pytest.raises(ZoneInfoNotFoundError):
        BillingCycle(M, CAL, d("2024-01-01"), "Mars/Olympus_Mons")


def test_cycle_coerces_wire_strings_and_empty_timezone() -> None:
    c = BillingCycle("quarterly", "anniversary", d("2024-01-15"), "")  # type: ignore[arg-type]
    assert (c.interval, c.billing_time, c.timezone) == (Q, ANN, "UTC")
    with pytest.raises(ValueError):
        BillingCycle("daily", CAL, d("2024-01-15"))  # type: ignore[arg-type]


def test_for_subscription_anchors_on_the_local_date() -> None:
    # 2024-01-31 20:00 UTC is already Feb 1 in Tokyo: the anchor day is the 1st, not the 31st.
    tokyo = BillingCycle.for_subscription("monthly", "anniversary", utc("2024-01-31T20:00"), "Asia/Tokyo")
    assert tokyo.anchor == d("2024-02-01")
    assert BillingCycle.for_subscription(M, ANN, utc("2024-01-31T20:00")).anchor == d("2024-01-31")
    assert BillingCycle.for_subscription(M, ANN, utc("2024-01-31T20:00"), None).timezone == "UTC"


@pytest.mark.parametrize("call", [
    lambda naive: local_date(naive, "UTC"),
    lambda naive: date_diff_with_timezone(naive, utc("2024-01-01"), "UTC"),
    lambda naive: date_diff_with_timezone(utc("2024-01-01"), naive, "UTC"),
    lambda naive: cycle(M, CAL).period_containing(naive),
    lambda naive: list(cycle(M, CAL).periods_between(utc("2024-01-01"), naive)),
    lambda naive: cycle(M, CAL).first_window(naive),
    lambda naive: cycle(M, CAL).window(cycle(M, CAL).period_for_date(d("2024-01-01")),
                                       started_at=utc("2023-01-01"), terminated_at=naive),
    lambda naive: cycle(M, CAL).period_for_date(d("2024-01-01")).contains(naive),
])
def test_naive_instants_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="timezone-aware"):
        call(datetime(2024, 1, 15, 12, 0))


# ---- calendar periods -----------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "day", "expected"), [
    (W, "2024-02-29", ("2024-02-26", "2024-03-03", 7)),  # Thursday -> Monday..Sunday
    (W, "2024-02-26", ("2024-02-26", "2024-03-03", 7)),  # a Monday starts its own week
    (W, "2024-03-03", ("2024-02-26", "2024-03-03", 7)),  # a Sunday ends it
    (W, "2024-12-31", ("2024-12-30", "2025-01-05", 7)),  # ISO week across the new year
    (M, "2024-02-10", ("2024-02-01", "2024-02-29", 29)),
    (M, "2023-02-10", ("2023-02-01", "2023-02-28", 28)),
    (M, "2023-12-31", ("2023-12-01", "2023-12-31", 31)),
    (M, "2023-04-01", ("2023-04-01", "2023-04-30", 30)),
    (Q, "2024-01-01", ("2024-01-01", "2024-03-31", 91)),
    (Q, "2023-02-14", ("2023-01-01", "2023-03-31", 90)),
    (Q, "2024-05-17", ("2024-04-01", "2024-06-30", 91)),
    (Q, "2024-09-30", ("2024-07-01", "2024-09-30", 92)),
    (Q, "2024-11-11", ("2024-10-01", "2024-12-31", 92)),
    (S, "2024-03-01", ("2024-01-01", "2024-06-30", 182)),
    (S, "2023-06-30", ("2023-01-01", "2023-06-30", 181)),
    (S, "2024-07-01", ("2024-07-01", "2024-12-31", 184)),
    (Y, "2024-07-04", ("2024-01-01", "2024-12-31", 366)),
    (Y, "2023-12-31", ("2023-01-01", "2023-12-31", 365)),
])
def test_calendar_periods(interval: Interval, day: str, expected: tuple[str, str, int]) -> None:
    c = cycle(interval, CAL, anchor="2019-08-17")  # the anchor plays no part in calendar periods
    period = c.period_for_date(d(day))
    assert days_of(period) == expected
    assert period.billing_day == period.last_day + timedelta(days=1)
    assert c.is_billing_day(period.billing_day)
    assert c.is_billing_day(d(day)) == (d(day) == period.first_day)


# ---- anniversary periods --------------------------------------------------------------------


def consecutive(c: BillingCycle, first: str, count: int) -> list[tuple[str, str, int]]:
    period = c.period_for_date(d(first))
    out = []
    for _ in range(count):
        out.append(days_of(period))
        period = c.next_period(period)
    return out


@pytest.mark.parametrize(("interval", "anchor", "start", "expected"), [
    # the reference's d = 31 sequence (common year)
    (M, "2022-01-31", "2022-01-31", [("2022-01-31", "2022-02-27", 28), ("2022-02-28", "2022-03-30", 31),
                                     ("2022-03-31", "2022-04-29", 30), ("2022-04-30", "2022-05-30", 31),
                                     ("2022-05-31", "2022-06-29", 30)]),
    # d = 31 through a leap February
    (M, "2023-12-31", "2024-01-31", [("2024-01-31", "2024-02-28", 29), ("2024-02-29", "2024-03-30", 31)]),
    # d = 30 and d = 29, common and leap Februaries
    (M, "2023-01-30", "2023-01-30", [("2023-01-30", "2023-02-27", 29), ("2023-02-28", "2023-03-29", 30),
                                     ("2023-03-30", "2023-04-29", 31)]),
    (M, "2023-01-30", "2024-01-30", [("2024-01-30", "2024-02-28", 30), ("2024-02-29", "2024-03-29", 30)]),
    (M, "2023-01-29", "2023-01-29", [("2023-01-29", "2023-02-27", 30), ("2023-02-28", "2023-03-28", 29)]),
    (M, "2023-01-29", "2024-01-29", [("2024-01-29", "2024-02-28", 31), ("2024-02-29", "2024-03-28", 29)]),
    (M, "2023-03-15", "2023-12-15", [("2023-12-15", "2024-01-14", 31), ("2024-01-15", "2024-02-14", 31)]),
    (M, "2023-03-01", "2023-12-01", [("2023-12-01", "2023-12-31", 31)]),
    # weekly: same weekday (2024-01-03 is a Wednesday)
    (W, "2024-01-03", "2024-02-27", [("2024-02-21", "2024-02-27", 7), ("2024-02-28", "2024-03-05", 7)]),
    # quarterly on the 30th of Nov/Feb/May/Aug: Feb 29 in 2024, Feb 28 in 2025
    (Q, "2023-11-30", "2023-11-30", [("2023-11-30", "2024-02-28", 91), ("2024-02-29", "2024-05-29", 91),
                                     ("2024-05-30", "2024-08-29", 92), ("2024-08-30", "2024-11-29", 92),
                                     ("2024-11-30", "2025-02-27", 90), ("2025-02-28", "2025-05-29", 91)]),
    # semiannual on Aug 31
    (S, "2023-08-31", "2023-08-31", [("2023-08-31", "2024-02-28", 182), ("2024-02-29", "2024-08-30", 184),
                                     ("2024-08-31", "2025-02-27", 181)]),
    # yearly on Feb 29: Feb 28 in common years, the year before a leap day ends on Feb 28
    (Y, "2024-02-29", "2024-02-29", [("2024-02-29", "2025-02-27", 365), ("2025-02-28", "2026-02-27", 365),
                                     ("2026-02-28", "2027-02-27", 365), ("2027-02-28", "2028-02-28", 366),
                                     ("2028-02-29", "2029-02-27", 365)]),
    (Y, "2023-03-01", "2023-03-01", [("2023-03-01", "2024-02-29", 366), ("2024-03-01", "2025-02-28", 365)]),
    (Y, "2023-06-29", "2023-06-29", [("2023-06-29", "2024-06-28", 366)]),
])
def test_anniversary_periods(interval: Interval, anchor: str, start: str,
                             expected: list[tuple[str, str, int]]) -> None:
    c = cycle(interval, ANN, anchor)
    assert consecutive(c, start, len(expected)) == expected
    # any day inside a period finds the same period, and stepping back returns the one before
    for (first, last, _), (next_first, _, _) in zip(expected, expected[1:], strict=False):
        assert c.period_for_date(d(last)).first_day == d(first)
        assert c.previous_period(c.period_for_date(d(next_first))).first_day == d(first)


def test_anniversary_billing_on_feb_28_bills_jan_31_to_feb_27() -> None:
    # spec: subscription Jan 31 2022, billing on Feb 28 -> the period ended is Jan 31 - Feb 27
    c = BillingCycle.for_subscription(M, ANN, utc("2022-01-31T10:00"))
    ended = c.period_ended_by(utc("2022-02-28T00:00"))
    assert days_of(ended) == ("2022-01-31", "2022-02-27", 28)
    assert ended.to_datetime == utc("2022-02-27T23:59:59")
    assert c.is_billing_day(d("2022-02-28")) and not c.is_billing_day(d("2022-02-27"))


# ---- instants in the customer's timezone ----------------------------------------------------


@pytest.mark.parametrize(("interval", "billing_time", "anchor", "tz", "instant", "from_", "to"), [
    # Denver (UTC-6 in June): 05:00 UTC on the 16th is still Thursday the 15th
    (W, CAL, "2023-06-15", "America/Denver", "2023-06-16T05:00", "2023-06-12T06:00", "2023-06-19T05:59:59"),
    # Karachi (UTC+5): 20:00 UTC on the 16th is already Saturday the 17th
    (W, CAL, "2023-06-17", "Asia/Karachi", "2023-06-16T20:00", "2023-06-11T19:00", "2023-06-18T18:59:59"),
    # Tokyo (UTC+9): April starts on March 31 in UTC
    (M, CAL, "2024-01-01", "Asia/Tokyo", "2024-03-31T15:00", "2024-03-31T15:00", "2024-04-30T14:59:59"),
    (M, CAL, "2024-01-01", "Asia/Tokyo", "2024-03-31T14:59:59", "2024-02-29T15:00", "2024-03-31T14:59:59"),
    # Auckland (UTC+13 in summer): the 2024 calendar year starts on Dec 31 2023 in UTC
    (Y, CAL, "2024-01-01", "Pacific/Auckland", "2023-12-31T11:00", "2023-12-31T11:00", "2024-12-31T10:59:59"),
    # Kathmandu (UTC+5:45)
    (M, ANN, "2024-01-10", "Asia/Kathmandu", "2024-03-09T18:15", "2024-03-09T18:15", "2024-04-09T18:14:59"),
    # DST, Europe/Paris: March 2024 starts in CET (+1) and ends in CEST (+2); October the reverse
    (M, CAL, "2024-01-01", "Europe/Paris", "2024-03-15T12:00", "2024-02-29T23:00", "2024-03-31T21:59:59"),
    (M, CAL, "2024-01-01", "Europe/Paris", "2024-10-15T12:00", "2024-09-30T22:00", "2024-10-31T22:59:59"),
    # DST, America/New_York: March 10 and November 3 2024
    (M, CAL, "2024-01-01", "America/New_York", "2024-03-15T12:00", "2024-03-01T05:00", "2024-04-01T03:59:59"),
    (M, CAL, "2024-01-01", "America/New_York", "2024-11-15T12:00", "2024-11-01T04:00", "2024-12-01T04:59:59"),
    (W, CAL, "2024-01-01", "America/New_York", "2024-03-10T12:00", "2024-03-04T05:00", "2024-03-11T03:59:59"),
    (W, ANN, "2024-10-30", "America/New_York", "2024-11-03T12:00", "2024-10-30T04:00", "2024-11-06T04:59:59"),
])
def test_period_bounds_are_local_midnights(interval: Interval, billing_time: BillingTime, anchor: str,
                                           tz: str, instant: str, from_: str, to: str) -> None:
    c = cycle(interval, billing_time, anchor, tz)
    period = c.period_containing(utc(instant))
    assert (period.from_datetime, period.to_datetime) == (utc(from_), utc(to))
    assert period.from_datetime.tzinfo is UTC
    local_from = period.from_datetime.astimezone(ZoneInfo(tz))
    local_to = period.to_datetime.astimezone(ZoneInfo(tz))
    assert (local_from.date(), local_from.time().isoformat()) == (period.first_day, "00:00:00")
    assert (local_to.date(), local_to.time().isoformat()) == (period.last_day, "23:59:59")
    assert c.next_period(period).from_datetime == period.to_datetime + ONE_SECOND
    assert period.contains(utc(instant))
    assert not period.contains(period.to_datetime + ONE_SECOND)
    assert not period.contains(period.from_datetime - ONE_SECOND)


def test_day_whose_midnight_is_skipped_starts_at_the_jump() -> None:
    # Chile moves from 00:00 (-04) to 01:00 (-03) on 2022-09-11: that day starts at 01:00 local.
    start = start_of_local_day(d("2022-09-11"), "America/Santiago")
    assert start == utc("2022-09-11T04:00")
    assert start.astimezone(ZoneInfo("America/Santiago")).time().isoformat() == "01:00:00"
    assert end_of_local_day(d("2022-09-10"), "America/Santiago") == utc("2022-09-11T03:59:59")
    period = cycle(M, ANN, "2022-08-11", "America/Santiago").period_containing(utc("2022-09-11T04:00"))
    assert period.first_day == d("2022-09-11") and period.from_datetime == start


def test_gap_across_midnight_starts_the_day_at_the_jump() -> None:
    # Toronto 1919-03-31: clocks jumped from 23:30 (-05) to 00:30 (-04); local 00:00 never happened
    # and reading it with the old offset (05:00 UTC, local 01:00) would lose half an hour.
    assert start_of_local_day(d("1919-03-31"), "America/Toronto") == utc("1919-03-31T04:30")
    assert end_of_local_day(d("1919-03-30"), "America/Toronto") == utc("1919-03-31T04:29:59")


def test_skipped_date_has_no_length() -> None:
    # Samoa skipped 2011-12-30: it starts where Dec 31 starts, and periods still tile.
    assert start_of_local_day(d("2011-12-30"), "Pacific/Apia") == utc("2011-12-30T10:00")
    assert start_of_local_day(d("2011-12-31"), "Pacific/Apia") == utc("2011-12-30T10:00")
    c = cycle(M, ANN, "2011-11-30", "Pacific/Apia")
    december = c.period_for_date(d("2011-12-30"))
    assert december.from_datetime == c.previous_period(december).to_datetime + ONE_SECOND


def test_fall_back_past_midnight_belongs_to_the_new_period() -> None:
    # St John's 2010-11-07: at 00:01 NDT clocks went back to 23:01 NST on Nov 6. Nov 7 had started
    # (02:30 UTC), so 03:00 UTC, read locally as Nov 6 23:30, is in the period starting Nov 7.
    c = cycle(M, ANN, "2010-10-07", "America/St_Johns")
    instant = utc("2010-11-07T03:00")
    assert local_date(instant, c.timezone) == d("2010-11-06")
    period = c.period_containing(instant)
    assert period.first_day == d("2010-11-07") and period.from_datetime == utc("2010-11-07T02:30")
    assert period.contains(instant)


# ---- day counting ---------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "last", "days"), [
    ("2022-03-15", "2022-03-31", 17), ("2024-02-01", "2024-02-29", 29), ("2024-01-01", "2024-01-01", 1),
    ("2024-01-02", "2024-01-01", 0), ("2024-01-10", "2024-01-01", 0),
])
def test_days_inclusive(first: str, last: str, days: int) -> None:
    assert days_inclusive(d(first), d(last)) == days


@pytest.mark.parametrize(("from_", "to", "tz", "days"), [
    ("2022-03-15T00:00", "2022-03-31T23:59:59", "UTC", 17),
    ("2022-03-01T00:00", "2022-03-31T23:59:59", "UTC", 31),
    # a whole DST month counts its calendar days (wall clock), not 24-hour blocks
    ("2024-02-29T23:00", "2024-03-31T21:59:59", "Europe/Paris", 31),
    ("2024-10-31T23:00", "2024-11-30T22:59:59", "Europe/Paris", 30),
    ("2024-03-10T05:00", "2024-03-11T03:59:59", "America/New_York", 1),
    # `to` exactly at local midnight gets one more second: that day counts
    ("2022-12-01T00:00", "2022-12-20T00:00", "UTC", 20),
    ("2022-12-01T00:00", "2022-12-01T00:00", "UTC", 1),
    # partial days count as whole days
    ("2022-12-15T00:00", "2022-12-20T06:00", "UTC", 6),
    ("2024-03-15T12:12", "2024-03-31T23:59:59", "UTC", 17),
    ("2023-03-15T23:00", "2023-03-16T01:00", "UTC", 1),
    # an instant before the start counts nothing
    ("2023-03-16T00:00", "2023-03-15T12:00", "UTC", 0),
    # the day boundary is the customer's: 2023-06-16 05:00 UTC is Jun 15 in Denver
    ("2023-06-15T06:00", "2023-06-19T05:59:59", "America/Denver", 4),
])
def test_date_diff_with_timezone(from_: str, to: str, tz: str, days: int) -> None:
    assert date_diff_with_timezone(utc(from_), utc(to), tz) == days


# ---- navigating periods ---------------------------------------------------------------------


def test_previous_next_and_ended_periods() -> None:
    c = cycle(M, CAL, timezone="Europe/Paris")
    march = c.period_containing(utc("2024-03-15T12:00"))
    assert days_of(c.previous_period(march)) == ("2024-02-01", "2024-02-29", 29)
    assert days_of(c.next_period(march)) == ("2024-04-01", "2024-04-30", 30)
    # a billing run on April 1st (local) bills March; one second before, February
    assert c.period_ended_by(utc("2024-03-31T22:00")) == march
    assert days_of(c.period_ended_by(utc("2024-03-31T21:59:59")))[0] == "2024-02-01"


def test_periods_between() -> None:
    c = cycle(Q, CAL)
    periods = list(c.periods_between(utc("2023-11-20T10:00"), utc("2024-07-01T00:00")))
    assert [days_of(p)[:2] for p in periods] == [
        ("2023-10-01", "2023-12-31"), ("2024-01-01", "2024-03-31"), ("2024-04-01", "2024-06-30"),
        ("2024-07-01", "2024-09-30"),
    ]
    assert len(list(c.periods_between(utc("2024-02-01"), utc("2024-02-02")))) == 1
    assert list(c.periods_between(utc("2024-02-01"), utc("2023-06-01"))) == []


# ---- windows --------------------------------------------------------------------------------


def test_first_window_clamps_the_fee_start_and_keeps_the_exact_charges_start() -> None:
    c = BillingCycle.for_subscription(W, CAL, utc("2023-06-16T05:00"), "America/Denver")
    window = c.first_window(utc("2023-06-16T05:00"))
    assert days_of(window.period) == ("2023-06-12", "2023-06-18", 7)
    assert window.from_datetime == utc("2023-06-15T06:00")  # Thursday 00:00 local
    assert window.to_datetime == window.period.to_datetime == utc("2023-06-19T05:59:59")
    assert window.charges_from_datetime == window.started_at == utc("2023-06-16T05:00")
    assert window.charges_to_datetime == window.to_datetime
    assert window.charges_duration_days == 7 and window.timezone == "America/Denver"
    assert window.is_partial and window.terminated_at is None


def test_window_of_a_later_period_is_the_full_period() -> None:
    c = cycle(M, CAL, "2024-01-15")
    february = c.period_for_date(d("2024-02-01"))
    window = c.window(february, started_at=utc("2024-01-15T08:00"))
    assert (window.from_datetime, window.to_datetime) == (february.from_datetime, february.to_datetime)
    assert window.charges_from_datetime == february.from_datetime
    assert not window.is_partial


def test_terminated_window_ends_at_the_termination_instant() -> None:
    c = cycle(M, CAL, "2022-12-15")
    window = c.first_window(utc("2022-12-15T00:00"), terminated_at=utc("2022-12-20T06:00"))
    assert window.from_datetime == utc("2022-12-15T00:00")
    assert window.to_datetime == window.charges_to_datetime == utc("2022-12-20T06:00")
    assert window.terminated_at == utc("2022-12-20T06:00")
    assert window.charges_duration_days == 31 and window.is_partial
    # a termination after the period end does not stretch the window
    late = c.first_window(utc("2022-12-15T00:00"), terminated_at=utc("2023-01-10T00:00"))
    assert late.to_datetime == late.period.to_datetime


def test_window_outside_the_subscription_is_refused() -> None:
    c = cycle(M, CAL)
    january = c.period_for_date(d("2024-01-10"))
    with pytest.raises(ValueError, match="starts after"):
        c.window(january, started_at=utc("2024-02-01T00:00"))
    with pytest.raises(ValueError, match="terminated before"):
        c.window(january, started_at=utc("2023-01-01"), terminated_at=utc("2023-12-31T23:59:59"))


# ---- charges billed monthly -----------------------------------------------------------------


def test_yearly_calendar_charges_every_month() -> None:
    c = cycle(Y, CAL)
    year = c.period_for_date(d("2024-06-01"))
    windows = c.charge_periods(year, bill_charges_monthly=True)
    assert [w.first_day.month for w in windows] == list(range(1, 13))
    assert windows[1].days == 29 and windows[-1].last_day == year.last_day
    assert c.charge_periods(year, bill_charges_monthly=False) == [year]
    assert c.charges_duration_days(utc("2024-02-10"), bill_charges_monthly=True) == 29
    assert c.charges_duration_days(utc("2024-02-10"), bill_charges_monthly=False) == 366
    february = c.charges_period_containing(utc("2024-02-10"), bill_charges_monthly=True)
    assert february.first_day == d("2024-02-01")


def test_anniversary_charge_windows_nest_in_the_plan_period() -> None:
    c = cycle(S, ANN, "2023-08-31")
    half = c.period_for_date(d("2023-09-15"))
    windows = c.charge_periods(half, bill_charges_monthly=True)
    assert [days_of(w)[:2] for w in windows] == [
        ("2023-08-31", "2023-09-29"), ("2023-09-30", "2023-10-30"), ("2023-10-31", "2023-11-29"),
        ("2023-11-30", "2023-12-30"), ("2023-12-31", "2024-01-30"), ("2024-01-31", "2024-02-28"),
    ]
    assert windows[-1].last_day == half.last_day


def test_monthly_and_weekly_plans_never_split_charges() -> None:
    for interval in (W, M):
        c = cycle(interval, CAL)
        period = c.period_for_date(d("2024-05-05"))
        assert not c.splits_charges_monthly(True)
        assert c.charge_periods(period, bill_charges_monthly=True) == [period]
        assert c.charges_cycle(True) is c


@pytest.mark.parametrize(("billing_time", "anchor", "day", "first_month", "first_of_first"), [
    (CAL, "2023-06-15", "2024-01-01", True, False),
    (CAL, "2023-06-15", "2024-02-01", False, False),
    (CAL, "2023-06-15", "2023-01-01", True, True),  # the plan year that contains the anchor
    (ANN, "2023-06-15", "2024-06-15", True, False),
    (ANN, "2023-06-15", "2023-06-15", True, True),
    (ANN, "2023-06-15", "2024-07-15", False, False),
    (ANN, "2023-06-15", "2024-06-14", False, False),
])
def test_first_month_of_a_yearly_period(billing_time: BillingTime, anchor: str, day: str,
                                        first_month: bool, first_of_first: bool) -> None:
    c = cycle(Y, billing_time, anchor)
    assert c.is_first_month_of_period(d(day)) is first_month
    assert c.is_first_month_of_first_period(d(day)) is first_of_first


@pytest.mark.parametrize(("day", "kwargs", "due"), [
    # advance: the first month of each plan year, or the very first invoice
    ("2024-01-01", {"pay_in_advance": True, "already_billed": True}, True),
    ("2024-02-01", {"pay_in_advance": True, "already_billed": True}, False),
    ("2024-02-01", {"pay_in_advance": True, "already_billed": False}, True),
    # advance, back-dated: the first period was billed at creation
    ("2023-01-01", {"pay_in_advance": True, "already_billed": False, "started_in_past": True}, False),
    ("2024-01-01", {"pay_in_advance": True, "already_billed": True, "started_in_past": True}, True),
    ("2024-03-01", {"pay_in_advance": True, "already_billed": True, "started_in_past": True}, False),
    # arrears: when the plan year has just ended, or on the termination invoice
    ("2024-01-01", {"pay_in_advance": False, "already_billed": False}, True),
    ("2024-05-01", {"pay_in_advance": False, "already_billed": False}, False),
    ("2024-05-01", {"pay_in_advance": False, "already_billed": True, "terminated": True}, True),
])
def test_subscription_fee_due_with_monthly_charges(day: str, kwargs: dict[str, bool], due: bool) -> None:
    c = cycle(Y, CAL, "2023-06-15")
    assert c.subscription_fee_due(d(day), bill_charges_monthly=True, **kwargs) is due


def test_subscription_fee_due_on_every_invoice_without_monthly_charges() -> None:
    c = cycle(Y, CAL, "2023-06-15")
    assert c.subscription_fee_due(d("2024-02-01"), bill_charges_monthly=False, pay_in_advance=True,
                                  already_billed=True)
    assert cycle(M, CAL).subscription_fee_due(d("2024-02-01"), bill_charges_monthly=True,
                                              pay_in_advance=False, already_billed=True)


# ---- properties -----------------------------------------------------------------------------

TIMEZONES = [
    "UTC", "Europe/Paris", "America/New_York", "America/Denver", "Asia/Karachi", "Asia/Tokyo",
    "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham",
    "Pacific/Kiritimati", "Pacific/Apia", "America/Santiago", "America/Havana", "Asia/Beirut",
    "America/St_Johns", "Africa/Casablanca", "America/Sao_Paulo", "Pacific/Honolulu",
]
INSTANTS = st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2045, 12, 31),
                        timezones=st.just(UTC))


@st.composite
def cycles(draw: st.DrawFn) -> BillingCycle:
    interval = draw(st.sampled_from(list(Interval)))
    billing_time = draw(st.sampled_from(list(BillingTime)))
    day = draw(st.integers(1, 31))
    year = draw(st.integers(1990, 2040))
    month = draw(st.sampled_from([m for m in range(1, 13) if calendar.monthrange(year, m)[1] >= day]
                                 or [2]))
    anchor = date(year, month, min(day, calendar.monthrange(year, month)[1]))
    return BillingCycle(interval, billing_time, anchor, draw(st.sampled_from(TIMEZONES)))


_LENGTHS = {W: (7, 7), M: (28, 31), Q: (89, 92), S: (181, 184), Y: (365, 366)}


@settings(max_examples=400, deadline=None)
@given(cycles(), INSTANTS)
def test_periods_tile_time(c: BillingCycle, instant: datetime) -> None:
    period = c.period_containing(instant)
    following, preceding = c.next_period(period), c.previous_period(period)
    # every instant lies in exactly one period
    assert period.contains(instant)
    assert not following.contains(instant) and not preceding.contains(instant)
    # no gap, no overlap
    assert following.from_datetime == period.to_datetime + ONE_SECOND
    assert period.from_datetime == preceding.to_datetime + ONE_SECOND
    assert following.first_day == period.billing_day
    assert c.previous_period(following) == period and c.next_period(preceding) == period
    low, high = _LENGTHS[c.interval]
    assert low <= period.days <= high
    # boundaries are local days: from is the first instant of (or after) the first day
    assert local_date(period.from_datetime, c.timezone) >= period.first_day
    assert local_date(period.from_datetime - ONE_SECOND, c.timezone) < period.first_day
    assert local_date(period.to_datetime, c.timezone) <= period.last_day
    if c.billing_time is BillingTime.ANNIVERSARY and c.interval is not Interval.WEEKLY:
        month_length = calendar.monthrange(period.first_day.year, period.first_day.month)[1]
        assert period.first_day.day == min(c.anchor.day, month_length)


@settings(max_examples=150, deadline=None)
@given(cycles(), INSTANTS)
def test_charge_windows_tile_the_plan_period(c: BillingCycle, instant: datetime) -> None:
    period = c.period_containing(instant)
    windows = c.charge_periods(period, bill_charges_monthly=True)
    assert windows[0].first_day == period.first_day and windows[-1].last_day == period.last_day
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.from_datetime == before.to_datetime + ONE_SECOND
    assert sum(w.days for w in windows) == period.days
    assert len(windows) == max(1, c.interval.months)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TIMEZONES), st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
       st.integers(0, 400))
def test_local_day_counts_match_calendar_days(tz: str, first: date, length: int) -> None:
    last = first + timedelta(days=length)
    start, end = start_of_local_day(first, tz), end_of_local_day(last, tz)
    assume(start <= end)  # a skipped date (Samoa 2011-12-30) alone has no instant at all
    assert date_diff_with_timezone(start, end, tz) == days_inclusive(first, last)


def test_the_fraction_after_the_last_whole_second_belongs_to_the_period() -> None:
    cycle = BillingCycle(Interval.WEEKLY, BillingTime.CALENDAR, date(1990, 1, 1), "UTC")
    instant = datetime(2000, 12, 31, 23, 59, 59, 1, tzinfo=UTC)  # a Sunday: the week of Dec 25
    period = cycle.period_containing(instant)
    assert (period.first_day, period.last_day) == (date(2000, 12, 25), date(2000, 12, 31))
    assert period.contains(instant)
    assert not cycle.next_period(period).contains(instant)
    assert cycle.next_period(period).contains(datetime(2001, 1, 1, tzinfo=UTC))
