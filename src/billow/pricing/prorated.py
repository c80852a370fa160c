"""Prorated aggregation of recurring sum and unique count metrics, pure (lago-semantics.md 1.4).

A prorated charge bills each unit for the share of the period it was there: a unit present for
``d`` of the period's ``charges_duration_days`` days counts ``d / duration``. Days are customer-local
calendar days, both ends counted.

* Sum: an in-window event counts its value for the days from its local date to the last day of the
  window; what was accumulated before the window counts for the window's days (one less on the old
  side of an upgrade, whose last day the new plan bills).
* Unique count: a value counts from the day it was added (at the earliest the window's first day)
  to the day it was removed, else the window's last day (rules (a)-(c) in :func:`_unique_count_pairs`).

Totals are rounded **up** to 5 decimals, then the metric's own rounding applies. The non-prorated
aggregation (the fee's displayed units) comes along in :attr:`ProratedAggregation.full`, and the
per-event (full, prorated) pairs feed prorated graduated pricing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal

from billow.pricing.aggregation import (
    FIVE_DECIMALS,
    Aggregation,
    AggregationSpec,
    AggregationType,
    Carried,
    Event,
    aggregate,
    apply_rounding,
    event_text,
    in_time_order,
    is_remove,
)
from billow.pricing.periods import (
    DEFAULT_TIMEZONE,
    BillingWindow,
    date_diff_with_timezone,
    days_inclusive,
    local_date,
)
from billow.pricing.proration import ARITHMETIC

ZERO = Decimal(0)


def ceil_five(value: Decimal) -> Decimal:
    """``value`` rounded up (towards +infinity) to 5 decimals: Lago's ``ceil(5)``."""
    return value.quantize(FIVE_DECIMALS, rounding=ROUND_CEILING)


@dataclass(frozen=True)
class ProrationWindow:
    """The charges window of one fee and the full period length its day ratios divide by.

    ``upgraded_away``: the window ends a subscription replaced by an upgrade; the value carried into
    it then counts one day less than the window spans.
    """

    charges_from: datetime
    charges_to: datetime
    charges_duration_days: int
    timezone: str = DEFAULT_TIMEZONE
    upgraded_away: bool = False

    def __post_init__(self) -> None:
        if self.charges_duration_days <= 0:
            raise ValueError("charges_duration_days must be positive")
        if self.charges_to < self.charges_from:
            raise ValueError("charges_to is before charges_from")

    @classmethod
    def of(cls, window: BillingWindow, *, upgraded_away: bool = False) -> ProrationWindow:
        return cls(window.charges_from_datetime, window.charges_to_datetime, window.charges_duration_days,
                   window.timezone, upgraded_away)

    def days_left(self, instant: datetime) -> int:
        """Local days from ``instant`` (at the earliest the window start) to the window's last day."""
        start = max(instant, self.charges_from)
        return days_inclusive(local_date(start, self.timezone), local_date(self.charges_to, self.timezone))

    @property
    def window_days(self) -> int:
        """Days the value carried into the window is billed for."""
        days = date_diff_with_timezone(self.charges_from, self.charges_to, self.timezone)
        return max(0, days - 1) if self.upgraded_away else days

    def prorate(self, value: Decimal, days: int) -> Decimal:
        """``value x days / charges_duration_days``, product first, one division."""
        return ARITHMETIC.divide(ARITHMETIC.multiply(value, Decimal(days)), Decimal(self.charges_duration_days))


@dataclass(frozen=True)
class ProratedValue:
    """One event's full value and its prorated value (what it is worth over the period)."""

    full: Decimal
    prorated: Decimal


@dataclass(frozen=True)
class ProratedAggregation:
    """Result of :func:`prorated_aggregate`.

    ``units``: prorated units after ``ceil(5)`` and the metric's rounding; ``precise_units``: after
    ``ceil(5)`` only. ``full``: the non-prorated aggregation (``full.units`` is displayed on the fee,
    ``full.carry`` is the state for the next period). ``values``: (full, prorated) per counted
    event in time order, what was carried in first.
    """

    units: Decimal
    precise_units: Decimal
    full: Aggregation
    values: tuple[ProratedValue, ...]


def prorated_aggregate(
    spec: AggregationSpec,
    events: Iterable[Event],
    window: ProrationWindow,
    *,
    carried: Carried | None = None,
) -> ProratedAggregation:
    """Prorated units of a recurring sum or unique count metric over ``window``.

    ``events`` and ``carried`` are read as by :func:`billow.pricing.aggregation.aggregate`: events
    before the window and the previous period's carry both make up the starting state.
    """
    kind = spec.aggregation_type
    if not spec.recurring or kind not in (AggregationType.SUM, AggregationType.UNIQUE_COUNT):
        raise ValueError("only recurring sum and unique count metrics can be prorated")
    ordered = in_time_order(events)
    full = aggregate(spec, ordered, window.charges_from, window.charges_to, carried=carried)
    if kind is AggregationType.SUM:
        pairs = _sum_pairs(full, window)
    else:
        pairs = _unique_count_pairs(spec, ordered, window, carried or Carried())
    precise = ceil_five(sum((pair.prorated for pair in pairs), ZERO))
    units = apply_rounding(precise, spec.rounding_function, spec.rounding_precision)
    return ProratedAggregation(units, precise, full, tuple(pairs))


def advance_prorated_units(increase: Decimal, event_at: datetime, window: ProrationWindow) -> Decimal:
    """Units one pay-in-advance event of a prorated standard charge bills (1.4).

    The event's rise in units for the days from its local date to the window's last day, rounded up
    to 5 decimals (the metric's rounding never applies here). The period-start invoice of such a
    charge bills the carried units in full, unprorated: that is the caller's choice, not done here.
    """
    return ceil_five(window.prorate(increase, window.days_left(event_at)))


# ---- sum ----------------------------------------------------------------------------------------


def _sum_pairs(full: Aggregation, window: ProrationWindow) -> list[ProratedValue]:
    # aggregate() folds the carry and the events before the window into its total: take them back out.
    carried_in = full.precise_units - sum(full.values, ZERO)
    pairs = []
    if carried_in != 0:
        pairs.append(ProratedValue(carried_in, window.prorate(carried_in, window.window_days)))
    for event, value in zip(full.events, full.values, strict=True):
        pairs.append(ProratedValue(value, window.prorate(value, window.days_left(event.timestamp))))
    return pairs


# ---- unique count -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One add or remove of a value. ``at`` is ``None`` for a value carried in (before everything)."""

    at: datetime | None
    position: int
    remove: bool


def _unique_count_pairs(
    spec: AggregationSpec, ordered: list[Event], window: ProrationWindow, carried: Carried
) -> list[ProratedValue]:
    """(full, prorated) of the adds and removes that count, in time order.

    Per value: (a) a remove followed later the same local day by an add is dropped; (b) of what is
    left, adds of an active value and removes of an inactive one are dropped; (c) an add is worth
    its days from ``max(add, charges_from)`` to the next remaining event (else ``charges_to``); a
    remove is worth 0. Add/remove cycles entirely before the window are left out (worth 0), so the
    full values add up to the distinct count at the window's end.
    """
    history: dict[str, list[_Step]] = {key: [_Step(None, -1, False)] for key in carried.active}
    for position, event in enumerate(ordered):
        key = event_text(event.properties.get(spec.field_name))
        if key is not None and event.timestamp <= window.charges_to:
            history.setdefault(key, []).append(_Step(event.timestamp, position, is_remove(event)))
    counted: list[tuple[datetime, int, ProratedValue]] = []
    for steps in history.values():
        kept = _alternating(_without_same_day_removes(steps, window.timezone))
        for index, step in enumerate(kept):
            following = kept[index + 1] if index + 1 < len(kept) else None
            if _before_window(step, window) and (step.remove or _before_window(following, window)):
                continue  # an add and its remove both before the window: nothing this period
            at = window.charges_from if step.at is None else max(step.at, window.charges_from)
            if step.remove:
                value = ProratedValue(Decimal(-1), ZERO)
            else:
                value = _add_value(at, None if following is None else following.at, window)
            counted.append((at, step.position, value))
    counted.sort(key=lambda item: (item[0], item[1]))
    return [value for _, _, value in counted]


def _without_same_day_removes(steps: list[_Step], timezone: str) -> list[_Step]:
    """Rule (a): drop each remove that an add of the same value follows on the same local day."""
    add_days_after: set[date | None] = set()
    kept: list[_Step] = []
    for step in reversed(steps):
        day = None if step.at is None else local_date(step.at, timezone)
        if not step.remove:
            add_days_after.add(day)
        elif day in add_days_after:
            continue
        kept.append(step)
    return kept[::-1]


def _alternating(steps: list[_Step]) -> list[_Step]:
    """Rule (b): keep an add only when the value is inactive and a remove only when it is active."""
    kept: list[_Step] = []
    active = False
    for step in steps:
        if step.remove == active:
            kept.append(step)
            active = not active
    return kept


def _before_window(step: _Step | None, window: ProrationWindow) -> bool:
    return step is not None and (step.at is None or step.at < window.charges_from)


def _add_value(start: datetime, removed_at: datetime | None, window: ProrationWindow) -> ProratedValue:
    """Rule (c): a value present from ``start`` (in the window) to ``removed_at`` or the window's end."""
    end = window.charges_to if removed_at is None else removed_at
    days = days_inclusive(local_date(start, window.timezone), local_date(end, window.timezone))
    return ProratedValue(Decimal(1), window.prorate(Decimal(1), days))


__all__ = [
    "ProratedAggregation", "ProratedValue", "ProrationWindow", "advance_prorated_units", "ceil_five",
    "prorated_aggregate",
]
