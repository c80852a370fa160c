"""Read one metric's usage over a window from the aggregates, without rescanning history.

Hours wholly inside the window come from the stored hour partials; the ragged edges (a window
starting or ending inside an hour, e.g. a subscription started at 10:17 or a customer at UTC+5:30)
from the raw events of those partial hours only. Recurring metrics take their starting level from
the all-time row minus the hours from the window on. The cost depends on the window's length in
hours, not on how many events the subscription has.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.pricing.aggregation import Aggregation, AggregationSpec, Event, end_instant
from billow.pricing.partials import (
    HOUR,
    Partial,
    ValueState,
    finish,
    hour_of,
    latest_states,
    merge,
    partial_of,
    unique_count,
    value_states,
)
from billow.usage import repository
from billow.usage.profiles import Profile

MICROSECOND = timedelta(microseconds=1)


@dataclass
class DimsUsage:
    """What one dimension set contributes to a window; several merge into one filter/group bucket."""

    partials: list[Partial] = field(default_factory=list)
    level_before: Decimal = Decimal(0)
    states: list[ValueState] = field(default_factory=list)
    edge_events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    start: datetime
    stop: datetime  # inclusive
    charges_duration_days: int
    timezone: str = "UTC"

    @property
    def first_full_hour(self) -> datetime:
        hour = hour_of(self.start)
        return hour if hour == self.start else hour + HOUR

    @property
    def end_full_hour(self) -> datetime:
        return max(hour_of(self.stop + MICROSECOND), self.first_full_hour)


def spec_of(profile: Profile, recurring: bool, rounding_function: str | None, rounding_precision: int | None
            ) -> AggregationSpec:
    return AggregationSpec(profile.aggregation_type, profile.field_name, recurring, rounding_function,
                           rounding_precision or 0)


def collect(session: Session, organization_id: uuid.UUID, external_subscription_id: str, profile: Profile,
            spec: AggregationSpec, window: Window) -> dict[str, DimsUsage]:
    """Per dimension set, the pieces of the window's usage of ``profile``'s metric."""
    sub, code = external_subscription_id, profile.code
    first, end = window.first_full_hour, window.end_full_hour
    after_stop = window.stop + MICROSECOND
    head = repository.raw_events(session, organization_id, sub, code, window.start, first)
    edges = [*(e for e in head if e.timestamp <= window.stop),
             *repository.raw_events(session, organization_id, sub, code, max(end, window.start), after_stop)]
    result: dict[str, DimsUsage] = defaultdict(DimsUsage)
    for event in edges:
        result[profile.dims(dict(event.properties))].edge_events.append(event)
    partials_by_dims = session.info.get(PREFETCHED, {}).get((organization_id, sub, code, first, end))
    if partials_by_dims is None:
        partials_by_dims = repository.window_partials(session, organization_id, sub, code, first, end)
    for dims, partials in partials_by_dims.items():
        result[dims].partials.extend(partials)
    if profile.keeps_values:
        for dims, states in _value_states(session, organization_id, sub, profile, spec, window).items():
            result[dims].states.extend(states)
    elif spec.recurring:
        # Level before the window = all time - hours from the first full hour - the start edge.
        since = repository.hours_from(session, organization_id, sub, code, first)
        head_by_dims: dict[str, list[Event]] = defaultdict(list)
        for event in head:
            head_by_dims[profile.dims(dict(event.properties))].append(event)
        for dims, total in repository.all_time_totals(session, organization_id, sub, code).items():
            head_total = partial_of(profile.field_name, head_by_dims[dims], first).total
            result[dims].level_before = total - since.get(dims, Decimal(0)) - head_total
    return result


# In ``session.info``: window partials read ahead for many subscriptions (:func:`prefetch`).
PREFETCHED = "billow.usage.prefetched_partials"


def prefetch(session: Session, organization_id: uuid.UUID, external_subscription_ids: Collection[str],
             codes: Collection[str], window: Window) -> None:
    """Read in one query the stored partials that :func:`collect` reads for each of these
    subscriptions and metrics over ``window``'s full hours; :func:`collect` then takes them from
    the session (:func:`forget` drops them). Same rows, same buckets: only the reads are grouped."""
    first, end = window.first_full_hour, window.end_full_hour
    known = session.info.setdefault(PREFETCHED, {})
    found = repository.window_partials_of_many(session, organization_id, external_subscription_ids, codes, first, end)
    for (sub, code), partials in found.items():
        known[(organization_id, sub, code, first, end)] = partials


def forget(session: Session) -> None:
    """Drop what :func:`prefetch` read (the session goes on to read the database again)."""
    session.info.pop(PREFETCHED, None)


def _value_states(session: Session, organization_id: uuid.UUID, sub: str, profile: Profile,
                  spec: AggregationSpec, window: Window) -> dict[str, list[ValueState]]:
    """Stored value states the window counts (its edges are added from raw events by the caller).

    Non-recurring: the full hours inside the window. Recurring: every hour before the end edge,
    or the all-time rows when no value changed after the window (the usual current-period read).
    """
    code, first, end = profile.code, window.first_full_hour, window.end_full_hour
    if not spec.recurring:
        return repository.value_state_rows(session, organization_id, sub, code, first, end)
    everything = repository.value_state_rows(session, organization_id, sub, code, None, None)
    if all(state.last_key[0] <= window.stop for states in everything.values() for state in states):
        return everything
    # Every hour before the one holding the window's end, then that hour's raw events up to the end.
    last_hour = hour_of(window.stop + MICROSECOND)
    rows = repository.value_state_rows(session, organization_id, sub, code, None, last_hour)
    tail: dict[str, list[Event]] = defaultdict(list)
    for event in repository.raw_events(session, organization_id, sub, code, last_hour, window.stop + MICROSECOND):
        tail[profile.dims(dict(event.properties))].append(event)
    for dims, events in tail.items():
        rows[dims].extend(value_states(profile.field_name or "", events).values())
    return rows


def aggregate(profile: Profile, spec: AggregationSpec, window: Window, pieces: list[DimsUsage]) -> Aggregation:
    """The window's aggregation of the merged ``pieces`` (one filter/group bucket)."""
    end = end_instant(window.stop)
    edge_events = [e for piece in pieces for e in piece.edge_events]
    inside = [e for e in edge_events if e.timestamp >= window.start]
    partials = [p for piece in pieces for p in piece.partials]
    if profile.keeps_values:
        states: list[Iterable[ValueState]] = [piece.states for piece in pieces]
        states.append(list(value_states(profile.field_name or "", inside).values()))
        counted = sum(p.counted for p in partials) + partial_of(profile.field_name, inside, end, present=True).counted
        return unique_count(spec, latest_states(states).values(), counted)
    partials.append(partial_of(profile.field_name, inside, end, tail=profile.keeps_tail))
    level = sum((piece.level_before for piece in pieces), Decimal(0))
    return finish(spec, merge(partials, end, tail=profile.keeps_tail), window.start, window.stop, level_before=level,
                  charges_duration_days=window.charges_duration_days)
