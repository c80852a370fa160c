"""The database aggregates agree with billow.pricing's in-memory reference, and a rebuild from the
raw events gives exactly the rows that ingestion built incrementally (randomized event streams)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billow.core.db import Database
from billow.events.schemas import EventIn
from billow.events.service import ingest
from billow.models import (
    BillableMetric,
    BillableMetricFilter,
    UsageAggregate,
    UsageValueState,
)
from billow.pricing.aggregation import AggregationSpec, aggregate
from billow.usage import profiles, reader, rebuild, repository
from tests.conftest import make_org

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TYPES = [
    ("count_agg", False), ("sum_agg", False), ("sum_agg", True), ("max_agg", False), ("latest_agg", False),
    ("weighted_sum_agg", False), ("weighted_sum_agg", True), ("unique_count_agg", False), ("unique_count_agg", True),
]

values = st.one_of(st.decimals(min_value=-20, max_value=100, places=3, allow_nan=False, allow_infinity=False),
                   st.integers(-3, 50), st.sampled_from(["7", "2.5", "x", None]))


@st.composite
def streams(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Batches of events (late ones and exact retries included), in arrival order."""
    rows = draw(st.lists(st.tuples(
        st.integers(0, 3 * 24 * 3600), values, st.sampled_from(["a", "b", "c"]), st.sampled_from(["eu", "us", None]),
        st.booleans(), st.integers(0, 30)), min_size=1, max_size=30))
    events = []
    for millis_seconds, value, user, region, remove, tx in rows:
        props: dict[str, Any] = {"v": value, "user": user}
        if region:
            props["region"] = region
        if remove:
            props["operation_type"] = "remove"
        events.append({"tx": f"t{tx}", "ts": T0 + timedelta(seconds=millis_seconds, milliseconds=tx * 7), "props": props})
    cut = draw(st.integers(1, len(events)))
    return [events[:cut], events[cut:]] if cut < len(events) else [events]


def _metric(session: Any, org_id: uuid.UUID, kind: str, recurring: bool) -> BillableMetric:
    metric = BillableMetric(organization_id=org_id, name="m", code="m", aggregation_type=kind,
                            field_name=None if kind == "count_agg" else ("user" if kind == "unique_count_agg" else "v"),
                            recurring=recurring)
    metric.filters = [BillableMetricFilter(key="region", values=["eu", "us"])]
    session.add(metric)
    session.flush()
    return metric


def _rows(session: Any, model: Any, org_id: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = session.execute(select(model).where(model.organization_id == org_id)).scalars()
    columns = [c.name for c in model.__table__.columns]
    return sorted((tuple(getattr(r, c) for c in columns) for r in rows), key=repr)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams(), kind=st.sampled_from(TYPES), start_s=st.integers(0, 2 * 24 * 3600),
       length_s=st.integers(0, 2 * 24 * 3600), whole_hours=st.booleans())
def test_database_aggregation_equals_the_reference(database: Database, stream: list[list[dict[str, Any]]],
                                                   kind: tuple[str, bool], start_s: int, length_s: int,
                                                   whole_hours: bool) -> None:
    org = make_org(database)
    with database.unit_of_work() as session:
        metric = _metric(session, org.id, *kind)
        spec = AggregationSpec(metric.aggregation_type, metric.field_name, metric.recurring)
    for batch in stream:
        def work(session: Any, batch: list[dict[str, Any]] = batch) -> Any:
            events = [EventIn(e["tx"], "sub", "m", e["ts"], True, e["props"], None) for e in batch]
            try:
                return ingest(session, org.id, events, batch=True)
            except Exception:  # a reused transaction id with other content refuses the whole batch
                return None
        database.group_commit.run(work)

    start = T0 + timedelta(seconds=start_s, microseconds=start_s % 997)
    stop = start + timedelta(seconds=length_s)
    if whole_hours:
        start, stop = start.replace(minute=0, second=0, microsecond=0), stop.replace(minute=59, second=59,
                                                                                   microsecond=999999)
    window = reader.Window(start, stop, 31)
    with database.unit_of_work(write=False) as session:
        profile = profiles.load(session, org.id, {"m"})["m"]
        raw = repository.raw_events(session, org.id, "sub", "m", None, datetime(2100, 1, 1, tzinfo=UTC))
        expected_by_dims: dict[str, list[Any]] = {}
        for event in raw:
            expected_by_dims.setdefault(profile.dims(dict(event.properties)), []).append(event)
        pieces = reader.collect(session, org.id, "sub", profile, spec, window)
        for dims, events in expected_by_dims.items():
            expected = aggregate(spec, events, start, stop, charges_duration_days=31)
            got = reader.aggregate(profile, spec, window, [pieces[dims]] if dims in pieces else [])
            assert (got.units, got.events_count) == (expected.units, expected.events_count), dims
        whole = aggregate(spec, raw, start, stop, charges_duration_days=31)
        merged = reader.aggregate(profile, spec, window, list(pieces.values()))
        assert merged.units == whole.units

        incremental = (_rows(session, UsageAggregate, org.id), _rows(session, UsageValueState, org.id))
    with database.unit_of_work() as session:
        rebuild.rebuild(session, org.id, profile)
        rebuilt = (_rows(session, UsageAggregate, org.id), _rows(session, UsageValueState, org.id))
        assert set(rebuilt[0]) ^ set(incremental[0]) == set()
        assert rebuilt == incremental
