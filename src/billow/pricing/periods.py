"""Billing periods in the customer's timezone, pure: every instant, anchor and zone is a parameter.

A plan bills on an :class:`Interval` (weekly, monthly, quarterly, semiannual, yearly) either on the
calendar (ISO weeks from Monday, months, quarters from Jan/Apr/Jul/Oct, halves from Jan/Jul,
years) or on the subscription's anniversary (same weekday, or same day of the month; a day the
month does not have is clamped to the month's last day, and the period before such a clamped
start ends the day before: an anchor on the 31st gives Jan 31-Feb 27, Feb 28-Mar 30,
Mar 31-Apr 29 ...; a Feb 29 yearly anchor starts on Feb 28 in common years).

Every boundary is a *local date* of the customer's timezone. A period runs from the first instant
of its first local day (``from_datetime``, local 00:00 as UTC) to the last whole second of its
last local day (``to_datetime``, local 23:59:59 as UTC), which is always one second before the
next period's ``from_datetime``: periods tile time with no gap and no overlap, across DST changes.
On the rare day whose local midnight does not exist (a DST jump at 00:00, or a skipped date) the
day starts at the first instant whose local date is that day or later.

:class:`BillingCycle` holds the four inputs that decide the periods (interval, billing time,
anchor date, timezone) and answers every period question. :class:`BillingWindow` is what one
invoice bills from a period: the subscription fee window (its start clamped to the local start
day of the subscription, its end cut by a termination) and the charges window (starting at the
exact ``started_at`` instant). Day counts follow Lago: inclusive local calendar days.

Everything here is a function of immutable values (dates, instants, zone names, frozen cycles),
so the lookups a billing run repeats for every subscription of a plan (the same local days,
zones and cycles) are memoized, each in a bounded cache.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

ONE_SECOND = timedelta(seconds=1)
ONE_DAY = timedelta(days=1)
DEFAULT_TIMEZONE = "UTC"


class Interval(StrEnum):
    """A plan's billing interval (Lago's ``plan.interval``)."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        """Length in months; 0 for weekly (a week is not a whole number of months)."""
        return _MONTHS[self]

    @property
    def per_year(self) -> int:
        """How many periods make a year, for yearly-equivalent price comparisons (52 weeks)."""
        return _PER_YEAR[self]


_MONTHS = {Interval.WEEKLY: 0, Interval.MONTHLY: 1, Interval.QUARTERLY: 3,
           Interval.SEMIANNUAL: 6, Interval.YEARLY: 12}
_PER_YEAR = {Interval.WEEKLY: 52, Interval.MONTHLY: 12, Interval.QUARTERLY: 4,
             Interval.SEMIANNUAL: 2, Interval.YEARLY: 1}


class BillingTime(StrEnum):
    """Calendar periods, or periods anchored on the subscription date (Lago's ``billing_time``)."""

    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


# ---- local days -----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def zone(timezone: str | None) -> ZoneInfo:
    """The IANA zone named ``timezone``; no name means UTC. Unknown names raise ``KeyError``."""
    return ZoneInfo(timezone or DEFAULT_TIMEZONE)


def _aware(instant: datetime, what: str = "instant") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return instant


@lru_cache(maxsize=4096)
def local_date(instant: datetime, timezone: str | None) -> date:
    """The calendar date of ``instant`` on the customer's wall clock."""
    return _aware(instant).astimezone(zone(timezone)).date()


@lru_cache(maxsize=4096)
def start_of_local_day(day: date, timezone: str | None) -> datetime:
    """First instant (UTC) whose local date is ``day``: local 00:00, or later if 00:00 is skipped.

    If ``day`` itself does not exist locally (a zone that jumped over a date), this is the start of
    the next existing day, so that consecutive days still tile time.
    """
    tz = zone(timezone)
    candidate = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    local = candidate.astimezone(tz)
    if local.date() == day and local.time() == time(0):
        return candidate
    # 00:00 fell in a gap: find the first second whose local date is >= day (local dates only move
    # forward across a gap). The answer lies within the two days before the pre-gap reading.
    low = int((candidate - 2 * ONE_DAY).timestamp())  # local date < day
    high = int(candidate.timestamp())  # local date >= day
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).date() >= day:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def end_of_local_day(day: date, timezone: str | None) -> datetime:
    """Last whole second (UTC) of local ``day``: one second before the next day starts."""
    return start_of_local_day(day + ONE_DAY, timezone) - ONE_SECOND


def days_inclusive(first: date, last: date) -> int:
    """Number of calendar days from ``first`` to ``last``, both counted (0 if ``last`` < ``first``)."""
    return max(0, (last - first).days + 1)


def date_diff_with_timezone(from_instant: datetime, to_instant: datetime, timezone: str | None) -> int:
    """Lago's day count between two instants in the customer's zone.

    The wall-clock span (so a DST change neither adds nor loses a day) rounded **up** to whole days,
    after adding one second to ``to`` when it is exactly local midnight. From a local 00:00 to a
    local 23:59:59 both days count; from an instant inside a day, the partial first day counts.
    Never negative.
    """
    tz = zone(timezone)
    wall_from = _aware(from_instant, "from").astimezone(tz).replace(tzinfo=None)
    wall_to = _aware(to_instant, "to").astimezone(tz).replace(tzinfo=None)
    if wall_to.time() == time(0):
        wall_to += ONE_SECOND
    return max(0, -(-(wall_to - wall_from) // ONE_DAY))


# ---- months ---------------------------------------------------------------------------------


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _clamped(month_index: int, day_of_month: int) -> date:
    """``day_of_month`` of the month ``month_index``, or that month's last day if it is shorter."""
    year, month0 = divmod(month_index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day_of_month, last))


# ---- periods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One full billing period: local first and last day, and their UTC instants."""

    first_day: date
    last_day: date
    from_datetime: datetime  # local 00:00 of first_day, in UTC
    to_datetime: datetime  # local 23:59:59 of last_day, in UTC
    timezone: str

    @classmethod
    def of(cls, first_day: date, last_day: date, timezone: str | None) -> Period:
        name = timezone or DEFAULT_TIMEZONE
        return cls(first_day, last_day, start_of_local_day(first_day, name),
                   end_of_local_day(last_day, name), name)

    @property
    def billing_day(self) -> date:
        """Local date the period is billed on: the first day of the next period."""
        return self.last_day + ONE_DAY

    @property
    def days(self) -> int:
        """Length of the full period in days (the divisor of the day price)."""
        return days_inclusive(self.first_day, self.last_day)

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` is in the period: its last second is whole (``to_datetime`` is that
        second's start, as Lago shows it), so 23:59:59.5 local still belongs to the period."""
        return self.from_datetime <= _aware(instant) < self.to_datetime + ONE_SECOND


@dataclass(frozen=True)
class BillingWindow:
    """What one invoice bills from a period of a subscription.

    ``from_datetime``/``to_datetime`` bound the subscription fee: the start is clamped to local
    00:00 of the day the subscription started, the end to the termination instant. The charges
    window starts at the exact ``started_at`` instant. ``period`` stays the *full* period, whose
    ``days`` is the day-price divisor and the ``charges_duration_days``.
    """

    period: Period
    started_at: datetime
    from_datetime: datetime
    to_datetime: datetime
    charges_from_datetime: datetime
    charges_to_datetime: datetime
    terminated_at: datetime | None = None

    @property
    def timezone(self) -> str:
        return self.period.timezone

    @property
    def charges_duration_days(self) -> int:
        return self.period.days

    @property
    def is_partial(self) -> bool:
        """True when the fee window is shorter than the full period (late start or termination)."""
        return (self.from_datetime != self.period.from_datetime
                or self.to_datetime != self.period.to_datetime)


@dataclass(frozen=True)
class BillingCycle:
    """The periods of one subscription: interval, billing time, anchor date and customer timezone.

    ``anchor`` is the local date of ``subscription_at`` (use :meth:`for_subscription`). Calendar
    cycles only use it to tell the subscription's first period.
    """

    interval: Interval
    billing_time: BillingTime
    anchor: date
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", Interval(self.interval))
        object.__setattr__(self, "billing_time", BillingTime(self.billing_time))
        object.__setattr__(self, "timezone", self.timezone or DEFAULT_TIMEZONE)
        zone(self.timezone)  # fail early on an unknown zone

    @classmethod
    def for_subscription(cls, interval: Interval | str, billing_time: BillingTime | str,
                         subscription_at: datetime, timezone: str | None = None) -> BillingCycle:
        """The cycle anchored on ``subscription_at`` read in the customer's ``timezone``."""
        return _cycle(cls, interval, billing_time, subscription_at, timezone)

    @property
    def is_anniversary(self) -> bool:
        return self.billing_time is BillingTime.ANNIVERSARY

    # -- local dates --

    def first_day_of_period(self, day: date) -> date:
        """First local day of the period containing local date ``day``."""
        if self.interval is Interval.WEEKLY:
            weekday = self.anchor.weekday() if self.is_anniversary else 0  # ISO weeks start Monday
            return day - timedelta(days=(day.weekday() - weekday) % 7)
        months = self.interval.months
        month = _month_index(day)
        if not self.is_anniversary:
            return _clamped(month - month % months, 1)  # Jan-based months, quarters, halves, years
        anchor_day = self.anchor.day
        month -= (month - _month_index(self.anchor)) % months
        start = _clamped(month, anchor_day)
        if start > day:  # e.g. the 31st anchor in a month whose clamped start is still ahead
            start = _clamped(month - months, anchor_day)
        return start

    def next_first_day(self, first_day: date) -> date:
        """First day of the period after the one starting on ``first_day``."""
        if self.interval is Interval.WEEKLY:
            return first_day + timedelta(days=7)
        day_of_month = self.anchor.day if self.is_anniversary else 1
        return _clamped(_month_index(first_day) + self.interval.months, day_of_month)

    def period_for_date(self, day: date) -> Period:
        """The full period containing local date ``day``."""
        return _period_for_date(self, day)

    def is_billing_day(self, day: date) -> bool:
        """True if local ``day`` starts a period (the day the previous one is billed)."""
        return self.first_day_of_period(day) == day

    # -- instants --

    def period_containing(self, instant: datetime) -> Period:
        """The full period that :meth:`Period.contains` ``instant``."""
        period = self.period_for_date(local_date(instant, self.timezone))
        # Where a DST fall-back repeats the last hour of a day *after* the next day has started
        # (e.g. Asia/Beirut goes from 00:00 back to 23:00), the instant belongs to the later period.
        while instant >= period.to_datetime + ONE_SECOND:
            period = self.next_period(period)
        return period

    def next_period(self, period: Period) -> Period:
        return self.period_for_date(period.billing_day)

    def previous_period(self, period: Period) -> Period:
        return self.period_for_date(period.first_day - ONE_DAY)

    def period_ended_by(self, instant: datetime) -> Period:
        """The latest period that has fully ended at ``instant`` (its ``to_datetime`` < instant).

        A billing run at ``instant`` bills this period (arrears fees and charges).
        """
        return self.previous_period(self.period_containing(instant))

    def periods_between(self, start: datetime, end: datetime) -> Iterator[Period]:
        """Every period from the one containing ``start`` to the one containing ``end``, in order."""
        _aware(end, "end")
        period = self.period_containing(start)
        while period.from_datetime <= end:
            yield period
            period = self.next_period(period)

    # -- windows --

    def window(self, period: Period, *, started_at: datetime,
               terminated_at: datetime | None = None) -> BillingWindow:
        """The fee and charges window of ``period`` for a subscription started at ``started_at``
        and, if given, terminated at ``terminated_at``."""
        _aware(started_at, "started_at")
        if started_at > period.to_datetime:
            raise ValueError("the subscription starts after this period")
        if terminated_at is not None and _aware(terminated_at, "terminated_at") < period.from_datetime:
            raise ValueError("the subscription is terminated before this period")
        from_datetime = period.from_datetime
        if started_at > period.from_datetime:
            start_day = start_of_local_day(local_date(started_at, self.timezone), self.timezone)
            from_datetime = max(period.from_datetime, start_day)
        to_datetime = period.to_datetime
        if terminated_at is not None and terminated_at < to_datetime:
            to_datetime = terminated_at
        return BillingWindow(
            period=period,
            started_at=started_at,
            from_datetime=from_datetime,
            to_datetime=to_datetime,
            charges_from_datetime=max(period.from_datetime, started_at),
            charges_to_datetime=to_datetime,
            terminated_at=terminated_at,
        )

    def first_window(self, started_at: datetime, terminated_at: datetime | None = None) -> BillingWindow:
        """The window of the subscription's first period (the one containing ``started_at``)."""
        return self.window(self.period_containing(started_at), started_at=started_at,
                           terminated_at=terminated_at)

    # -- charges billed monthly inside longer plans --

    def monthly(self) -> BillingCycle:
        """The monthly cycle with the same anchor: its periods nest inside this cycle's periods."""
        return BillingCycle(Interval.MONTHLY, self.billing_time, self.anchor, self.timezone)

    def splits_charges_monthly(self, bill_charges_monthly: bool) -> bool:
        """True when charges use monthly windows: the flag is set on a plan longer than a month."""
        return bill_charges_monthly and self.interval.months > 1

    def charges_cycle(self, bill_charges_monthly: bool) -> BillingCycle:
        return self.monthly() if self.splits_charges_monthly(bill_charges_monthly) else self

    def charge_periods(self, period: Period, *, bill_charges_monthly: bool) -> list[Period]:
        """The charge windows inside plan ``period``: monthly ones, or the plan period itself."""
        if not self.splits_charges_monthly(bill_charges_monthly):
            return [period]
        monthly = self.monthly()
        windows = [monthly.period_for_date(period.first_day)]
        while windows[-1].last_day < period.last_day:
            windows.append(monthly.next_period(windows[-1]))
        return windows

    def charges_period_containing(self, instant: datetime, *, bill_charges_monthly: bool) -> Period:
        return self.charges_cycle(bill_charges_monthly).period_containing(instant)

    def charges_duration_days(self, instant: datetime, *, bill_charges_monthly: bool) -> int:
        """Days of the full charges period containing ``instant`` (weighted sums, proration)."""
        return self.charges_period_containing(instant, bill_charges_monthly=bill_charges_monthly).days

    def is_first_month_of_period(self, day: date) -> bool:
        """True if the month (of the monthly cycle) containing local ``day`` starts a plan period.

        On a billing day this means: a plan period starts today (pay in advance bills it) and,
        equally, one ended yesterday (pay in arrears bills it).
        """
        return self.monthly().first_day_of_period(day) == self.first_day_of_period(day)

    def is_first_month_of_first_period(self, day: date) -> bool:
        """:meth:`is_first_month_of_period`, in the plan period that contains the anchor date."""
        period = self.period_for_date(day)
        return (self.is_first_month_of_period(day)
                and period.first_day <= self.anchor <= period.last_day)

    def subscription_fee_due(self, billing_day: date, *, bill_charges_monthly: bool,
                             pay_in_advance: bool, already_billed: bool,
                             terminated: bool = False, started_in_past: bool = False) -> bool:
        """Whether the invoice of ``billing_day`` carries the plan's subscription fee.

        Plans that do not split charges monthly bill the fee on every period invoice. With monthly
        charges, the fee goes on the first month of the plan period (advance) or on the month the
        plan period ends (arrears); an advance plan never billed yet bills it now unless it was
        back-dated (then its first period was billed at creation); a terminated arrears plan bills
        its prorated fee on the termination invoice.
        """
        if not self.splits_charges_monthly(bill_charges_monthly):
            return True
        first_month = self.is_first_month_of_period(billing_day)
        if not pay_in_advance:
            return terminated or first_month
        if started_in_past:
            return first_month and not self.is_first_month_of_first_period(billing_day)
        return first_month or not already_billed


@lru_cache(maxsize=4096)
def _cycle(cls: type[BillingCycle], interval: Interval | str, billing_time: BillingTime | str,
           subscription_at: datetime, timezone: str | None) -> BillingCycle:
    return cls(Interval(interval), BillingTime(billing_time), local_date(subscription_at, timezone),
               timezone or DEFAULT_TIMEZONE)


@lru_cache(maxsize=4096)
def _period_for_date(cycle: BillingCycle, day: date) -> Period:
    first = cycle.first_day_of_period(day)
    return Period.of(first, cycle.next_first_day(first) - ONE_DAY, cycle.timezone)


__all__ = [
    "DEFAULT_TIMEZONE", "ONE_DAY", "ONE_SECOND", "BillingCycle", "BillingTime", "BillingWindow",
    "Interval", "Period", "date_diff_with_timezone", "days_inclusive", "end_of_local_day",
    "local_date", "start_of_local_day", "zone",
]
