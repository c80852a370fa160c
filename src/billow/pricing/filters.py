"""Charge filters and pricing groups: which bucket each event is priced in (lago-semantics.md §1.8-1.9).

A charge filter maps property keys to allowed values; :data:`ALL_FILTER_VALUES` allows any
(present) value of that key. An event matches a filter when, for every key of the filter, the
event's property (compared as text) is one of the allowed values.

Each event goes to exactly one bucket: the most specific matching filter, else the default
bucket (``None``). Specificity, first difference wins:

1. more keys;
2. fewer allowed values in total (a wildcard counts as unbounded), so of two filters on the same
   keys the one whose value sets are a subset of the other's owns the event;
3. lower index in the given list (give filters in creation order: the older one wins, as Lago
   does for identical filters).

This agrees with Lago wherever Lago gives each event one owner (extra keys, subset value sets,
identical filters, pay-in-advance). Where Lago counts an event in two fees (two filters that
only partly overlap, or that each have a key the other lacks) Billow still picks one owner by
the rules above and documents it as a deliberate difference (Lago's own advice: avoid such
setups).

Within each bucket, ``pricing_group_keys`` split events per tuple of property values (as text;
a missing key gives ``None``). Keys may be set per filter; otherwise the charge's keys apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from billow.pricing.aggregation import Event, event_text, in_time_order

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

FilterValues = Mapping[str, Sequence[str]]
BucketKey = tuple[int | None, tuple[str | None, ...]]


def matches(charge_filter: FilterValues, event: Event) -> bool:
    """Whether ``event`` satisfies every key of ``charge_filter``."""
    for key, allowed in charge_filter.items():
        value = event_text(event.properties.get(key))
        if value is None:
            return False
        if ALL_FILTER_VALUES not in allowed and value not in allowed:
            return False
    return True


_EVERY_VALUE = Decimal("Infinity")


def _specificity(charge_filter: FilterValues, index: int) -> tuple[int, Decimal, int]:
    breadth = sum((_EVERY_VALUE if ALL_FILTER_VALUES in allowed else Decimal(len(set(allowed)))
                   for allowed in charge_filter.values()), Decimal(0))
    return (-len(charge_filter), breadth, index)


def filter_for(filters: Sequence[FilterValues], event: Event) -> int | None:
    """Index of the filter owning ``event``, or ``None`` for the default bucket."""
    candidates = [_specificity(f, index) for index, f in enumerate(filters) if matches(f, event)]
    return min(candidates)[2] if candidates else None


def group_of(group_keys: Sequence[str], event: Event) -> tuple[str | None, ...]:
    return tuple(event_text(event.properties.get(key)) for key in group_keys)


def bucket_events(
    filters: Sequence[FilterValues],
    group_keys: Sequence[str],
    events: Iterable[Event],
    *,
    filter_group_keys: Mapping[int, Sequence[str]] | None = None,
) -> dict[BucketKey, list[Event]]:
    """Events per (filter index or ``None``, group values), each list in time order.

    ``group_keys`` applies to the default bucket and to every filter not in ``filter_group_keys``.
    Only non-empty buckets appear; callers add the empty default/filter fees they need.
    """
    per_filter = filter_group_keys or {}
    buckets: dict[BucketKey, list[Event]] = {}
    for event in in_time_order(events):
        index = filter_for(filters, event)
        keys = per_filter.get(index, group_keys) if index is not None else group_keys
        buckets.setdefault((index, group_of(keys, event)), []).append(event)
    return buckets
