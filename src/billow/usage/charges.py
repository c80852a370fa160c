"""One charge's usage over a window: aggregate per filter/group bucket, price with billow.pricing.

The same functions price current usage and (later) invoice fees: aggregation comes from the
incremental aggregates (:mod:`billow.usage.reader`), buckets from
:func:`billow.pricing.filters.filter_for`/``group_of``, amounts from
:func:`billow.pricing.charge_models.compute`, rounded once per fee with
:func:`billow.core.money.to_minor_units`. Percentage and dynamic charges price every event of
the window, so they read the window's raw events.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.core.money import exponent, to_minor_units
from billow.models import BillableMetric
from billow.plans.versions import ChargePrice
from billow.pricing.aggregation import Aggregation, AggregationSpec, Event, aggregate, high_water_mark
from billow.pricing.charge_models import ChargeAmount, ChargeInputs, compute
from billow.pricing.charge_models_prorated import prorated_graduated
from billow.pricing.filters import BucketKey, bucket_events, filter_for, group_of
from billow.pricing.properties import AnyProperties, GraduatedProperties
from billow.pricing.prorated import (
    ProratedAggregation,
    ProrationWindow,
    prorated_aggregate,
)
from billow.usage import reader, repository, store
from billow.usage.profiles import Profile

PER_EVENT_MODELS = {"percentage", "dynamic"}
# Aggregations whose level can fall within a period (negative values, removed values).
FALLING = {"sum_agg", "unique_count_agg"}


@dataclass(frozen=True)
class BucketUsage:
    """One fee's worth of usage: a charge filter (``None`` = default) and a group."""

    filter_index: int | None
    group: dict[str, str | None]
    units: Decimal
    total_aggregated_units: Decimal
    events_count: int
    precise_amount: Decimal
    amount_cents: int


@dataclass
class ChargeUsage:
    charge: ChargePrice
    metric: BillableMetric
    buckets: list[BucketUsage] = field(default_factory=list)

    @property
    def amount_cents(self) -> int:
        return sum(bucket.amount_cents for bucket in self.buckets)

    @property
    def units(self) -> Decimal:
        return sum((bucket.units for bucket in self.buckets), Decimal(0))

    @property
    def events_count(self) -> int:
        return sum(bucket.events_count for bucket in self.buckets)


def spec_of(metric: BillableMetric) -> AggregationSpec:
    return AggregationSpec(metric.aggregation_type, metric.field_name, metric.recurring, metric.rounding_function,
                           metric.rounding_precision or 0)


def _group_keys(properties: AnyProperties) -> tuple[str, ...]:
    return tuple(getattr(properties, "pricing_group_keys", ()) or ())


def _bucket_of(charge: ChargePrice, dims: str) -> BucketKey:
    probe = Event("", store.ALL_TIME, json.loads(dims) if dims else {})
    filters = [f.values for f in charge.filters]
    index = filter_for(filters, probe)
    properties = charge.properties if index is None else charge.filters[index].properties
    return index, group_of(_group_keys(properties), probe)


def group_of_key(charge: ChargePrice, key: BucketKey) -> dict[str, str | None]:
    """The ``{group key: value}`` map of a bucket (empty without pricing group keys)."""
    return dict(zip(_group_keys(properties_of(charge, key)), key[1], strict=True))


@dataclass(frozen=True)
class Measured:
    """What one bucket is priced on: units and count, per-event values (percentage, dynamic) and,
    for prorated charges, the prorated aggregation (per-event full and prorated values)."""

    aggregation: Aggregation
    values: tuple[Decimal, ...] = ()
    prorated: ProratedAggregation | None = None


Computed = dict[BucketKey, Measured]
PRORATABLE = {"sum_agg", "unique_count_agg"}
EXTRA_ORDER = 2**62  # a hypothetical event comes after every stored one of the same instant


def bucket_of_event(charge: ChargePrice, profile: Profile, event: Event) -> BucketKey:
    return _bucket_of(charge, profile.dims(dict(event.properties)))


def aggregations(session: Session, organization_id: uuid.UUID, external_subscription_id: str, charge: ChargePrice,
                 metric: BillableMetric, profile: Profile, window: reader.Window, *,
                 extra: Event | Sequence[Event] | None = None, extra_amount: Decimal | None = None) -> Computed:
    """Aggregation and per-event values of each non-empty bucket of the charge over the window;
    ``extra`` adds events the window does not read: one that is not stored (what an estimate
    prices, ``extra_amount`` its dynamic amount) or stored ones just past the window's end."""
    spec = spec_of(metric)
    extras = [] if extra is None else [extra] if isinstance(extra, Event) else list(extra)
    result: Computed = {}
    if charge.prorated and spec.recurring and metric.aggregation_type in PRORATABLE:
        return _prorated(session, organization_id, external_subscription_id, charge, metric, window, extras)
    if charge.charge_model in PER_EVENT_MODELS:
        bucketed = _bucketed_raw(session, organization_id, external_subscription_id, charge, metric,
                                 None if spec.recurring else window.start, window, extras)
        for key, events in bucketed.items():
            agg = aggregate(spec, events, window.start, window.stop, charges_duration_days=window.charges_duration_days)
            values = agg.values
            if charge.charge_model == "dynamic":
                amounts = repository.event_amounts(session, [e.order for e in agg.events if e.order != EXTRA_ORDER])
                amounts[EXTRA_ORDER] = extra_amount
                values = tuple(amounts.get(e.order) or Decimal(0) for e in agg.events)
            result[key] = Measured(agg, values)
        return result
    pieces: dict[BucketKey, list[reader.DimsUsage]] = defaultdict(list)
    for dims, piece in reader.collect(session, organization_id, external_subscription_id, profile, spec,
                                      window).items():
        pieces[_bucket_of(charge, dims)].append(piece)
    for event in extras:
        pieces[bucket_of_event(charge, profile, event)].append(reader.DimsUsage(edge_events=[event]))
    for key, parts in pieces.items():
        result[key] = Measured(reader.aggregate(profile, spec, window, parts))
    return result


def _bucketed_raw(session: Session, organization_id: uuid.UUID, external_subscription_id: str,
                  charge: ChargePrice, metric: BillableMetric, start: datetime | None, window: reader.Window,
                  extras: list[Event]) -> dict[BucketKey, list[Event]]:
    raw = [*repository.raw_events(session, organization_id, external_subscription_id, metric.code, start,
                             window.stop + reader.MICROSECOND), *extras]
    filters = [f.values for f in charge.filters]
    groups = {i: _group_keys(f.properties) for i, f in enumerate(charge.filters)}
    return bucket_events(filters, _group_keys(charge.properties), raw, filter_group_keys=groups)


def _prorated(session: Session, organization_id: uuid.UUID, external_subscription_id: str, charge: ChargePrice,
              metric: BillableMetric, window: reader.Window, extras: list[Event]) -> Computed:
    """Prorated recurring charges weigh each event by its days in the period, from the raw events
    (their whole history: the carried state is part of the answer)."""
    spec = spec_of(metric)
    proration = ProrationWindow(window.start, window.stop, window.charges_duration_days, window.timezone)
    result: Computed = {}
    for key, events in _bucketed_raw(session, organization_id, external_subscription_id, charge, metric, None,
                                     window, extras).items():
        prorated = prorated_aggregate(spec, events, proration)
        aggregation = Aggregation(prorated.units, prorated.precise_units, prorated.full.events_count)
        result[key] = Measured(aggregation, (), prorated)
    return result


def price(charge: ChargePrice, key: BucketKey, measured: Measured, currency: str) -> ChargeAmount:
    """The bucket's amount by the charge model of its filter (or the charge's own properties)."""
    properties = properties_of(charge, key)
    agg, prorated = measured.aggregation, measured.prorated
    if prorated is not None and charge.charge_model == "graduated":
        assert isinstance(properties, GraduatedProperties)
        return prorated_graduated(prorated.units, prorated.values, properties)
    tier_units = prorated.full.units if prorated is not None else None
    inputs = ChargeInputs(agg.units, measured.values, agg.events_count, exponent(currency), tier_units)
    return compute(charge.charge_model, properties, inputs)


def properties_of(charge: ChargePrice, key: BucketKey) -> AnyProperties:
    return charge.properties if key[0] is None else charge.filters[key[0]].properties


def charge_usage(session: Session, organization_id: uuid.UUID, external_subscription_id: str, charge: ChargePrice,
                 metric: BillableMetric, profile: Profile, window: reader.Window, currency: str) -> ChargeUsage:
    result = ChargeUsage(charge, metric)
    computed = aggregations(session, organization_id, external_subscription_id, charge, metric, profile, window)
    empty = Measured(Aggregation(Decimal(0), Decimal(0), 0))
    if not charge.filters and not computed:  # a charge without events still shows, at zero
        computed[(None, tuple(None for _ in _group_keys(charge.properties)))] = empty
    for index in range(len(charge.filters)):
        if not any(key[0] == index for key in computed):
            computed[(index, tuple(None for _ in _group_keys(charge.filters[index].properties)))] = empty
    for key in sorted(computed, key=_order):
        measured = computed[key]
        amount = price(charge, key, measured, currency)
        shown = measured.prorated.full.units if measured.prorated is not None else measured.aggregation.units
        result.buckets.append(BucketUsage(key[0], group_of_key(charge, key), amount.units, shown,
                                          measured.aggregation.events_count, amount.amount,
                                          to_minor_units(amount.amount, currency)))
    return result


def at_peaks(session: Session, organization_id: uuid.UUID, external_subscription_id: str, usage: ChargeUsage,
             profile: Profile, window: reader.Window, currency: str) -> ChargeUsage:
    """A pay-in-advance charge's usage as current usage shows it: each bucket at the period's
    high-water mark (what its events were billed for), not at its level (lago-semantics 3.2, 6.7);
    for a recurring metric the mark starts at the level carried into the period. Only sums and
    unique counts can fall; prorated charges keep their level. Reads the window's raw events (the
    whole history for a recurring metric) of this metric only."""
    charge, metric = usage.charge, usage.metric
    if metric.aggregation_type not in FALLING or charge.prorated:
        return usage
    recurring = metric.recurring
    bucketed: dict[BucketKey, list[Event]] = defaultdict(list)
    for event in repository.raw_events(session, organization_id, external_subscription_id, metric.code,
                                  None if recurring else window.start, window.stop + reader.MICROSECOND):
        bucketed[bucket_of_event(charge, profile, event)].append(event)
    buckets = []
    for bucket in usage.buckets:
        key = (bucket.filter_index, tuple(bucket.group.values()))
        peak = high_water_mark(metric.aggregation_type, metric.field_name, bucketed.get(key, ()),
                               window.start if recurring else None)
        amount = price(charge, key, Measured(Aggregation(peak, peak, bucket.events_count)), currency)
        buckets.append(replace(bucket, units=amount.units, total_aggregated_units=peak, precise_amount=amount.amount,
                               amount_cents=to_minor_units(amount.amount, currency)))
    return ChargeUsage(charge, metric, buckets)


def _order(key: BucketKey) -> tuple[int, tuple[str, ...]]:
    index, group = key
    return (-1 if index is None else index, tuple(value or "" for value in group))


def serialize_bucket(bucket: BucketUsage, charge: ChargePrice, currency: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "units": str(bucket.units),
        "total_aggregated_units": str(bucket.total_aggregated_units),
        "events_count": bucket.events_count,
        "amount_cents": bucket.amount_cents,
        "amount_currency": currency,
    }
    if charge.filters:  # the default bucket (events matching no filter) has no values
        matched = None if bucket.filter_index is None else charge.filters[bucket.filter_index]
        body["values"] = None if matched is None else matched.values
        body["invoice_display_name"] = None if matched is None else matched.invoice_display_name
    return body
