"""Charge filters and pricing groups (billow.pricing.filters), lago-semantics.md §1.8-1.9."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.pricing.aggregation import Event
from billow.pricing.filters import (
    ALL_FILTER_VALUES,
    bucket_events,
    filter_for,
    group_of,
    matches,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def ev(order: int = 0, **properties: object) -> Event:
    return Event(transaction_id=f"tx-{order}", timestamp=T0 + timedelta(minutes=order), properties=properties,
                 order=order)


@pytest.mark.parametrize(
    ("charge_filter", "props", "expected"),
    [
        ({"region": ["eu"]}, {"region": "eu"}, True),
        ({"region": ["eu"]}, {"region": "us"}, False),
        ({"region": ["eu"]}, {}, False),
        ({"region": [ALL_FILTER_VALUES]}, {"region": "anything"}, True),
        ({"region": [ALL_FILTER_VALUES]}, {}, False),
        ({"region": [ALL_FILTER_VALUES]}, {"region": None}, False),
        ({"region": ["eu"], "cloud": ["aws"]}, {"region": "eu"}, False),
        ({"region": ["eu"], "cloud": ["aws"]}, {"region": "eu", "cloud": "aws", "x": 1}, True),
        ({"size": ["1"]}, {"size": 1}, True),  # compared as text
        ({"flag": ["true"]}, {"flag": True}, True),
        ({}, {"anything": 1}, True),
    ],
)
def test_matches(charge_filter: dict[str, list[str]], props: dict[str, object], expected: bool) -> None:
    assert matches(charge_filter, ev(**props)) is expected


F_REGION = {"region": ["eu", "us"]}
F_REGION_EU = {"region": ["eu"]}
F_REGION_ALL = {"region": [ALL_FILTER_VALUES]}
F_REGION_CLOUD = {"region": ["eu"], "cloud": ["aws"]}
F_CLOUD = {"cloud": ["aws"]}


@pytest.mark.parametrize(
    ("filters", "props", "owner"),
    [
        ([F_REGION], {"region": "asia"}, None),  # no match -> default bucket
        ([F_REGION, F_REGION_CLOUD], {"region": "eu", "cloud": "aws"}, 1),  # extra keys win
        ([F_REGION_CLOUD, F_REGION], {"region": "eu", "cloud": "aws"}, 0),
        ([F_REGION, F_REGION_CLOUD], {"region": "eu", "cloud": "gcp"}, 0),
        ([F_REGION, F_REGION_EU], {"region": "eu"}, 1),  # subset of values wins
        ([F_REGION, F_REGION_EU], {"region": "us"}, 0),
        ([F_REGION_ALL, F_REGION], {"region": "us"}, 1),  # explicit values beat the wildcard
        ([F_REGION_ALL], {"region": "mars"}, 0),
        ([F_REGION_EU, dict(F_REGION_EU)], {"region": "eu"}, 0),  # identical: the older one
        ([{"region": ["eu", "us"]}, {"region": ["eu", "asia"]}], {"region": "eu"}, 0),  # partial overlap: index
        ([F_REGION_EU, F_CLOUD], {"region": "eu", "cloud": "aws"}, 0),  # disjoint keys, equal rank: index
        ([F_CLOUD, F_REGION_CLOUD], {"region": "eu", "cloud": "aws"}, 1),
        ([], {"region": "eu"}, None),
    ],
)
def test_most_specific_filter_wins(filters: list[dict[str, list[str]]], props: dict[str, object],
                                   owner: int | None) -> None:
    assert filter_for(filters, ev(**props)) == owner


@pytest.mark.parametrize(
    ("keys", "props", "group"),
    [
        ((), {"a": 1}, ()),
        (("cloud",), {"cloud": "aws"}, ("aws",)),
        (("cloud", "region"), {"cloud": "aws"}, ("aws", None)),
        (("n",), {"n": 3}, ("3",)),
    ],
)
def test_group_of(keys: tuple[str, ...], props: dict[str, object], group: tuple[str | None, ...]) -> None:
    assert group_of(keys, ev(**props)) == group


def test_bucket_events_filters_then_groups() -> None:
    events = [
        ev(5, region="eu", cloud="aws"),
        ev(1, region="eu", cloud="gcp"),
        ev(2, region="us"),
        ev(3, region="asia", cloud="aws"),
        ev(4),
        ev(0, region="eu", cloud="aws"),
    ]
    buckets = bucket_events([F_REGION, F_REGION_CLOUD], ["cloud"], events)
    assert {key: [e.order for e in bucket] for key, bucket in buckets.items()} == {
        (1, ("aws",)): [0, 5],  # time order
        (0, ("gcp",)): [1],
        (0, (None,)): [2],
        (None, ("aws",)): [3],
        (None, (None,)): [4],
    }


def test_bucket_events_per_filter_group_keys() -> None:
    events = [ev(0, region="eu", tier="gold", cloud="aws"), ev(1, region="asia", tier="gold", cloud="aws")]
    buckets = bucket_events([F_REGION], ["cloud"], events, filter_group_keys={0: ["tier"]})
    assert set(buckets) == {(0, ("gold",)), (None, ("aws",))}


def test_bucket_events_without_filters_or_groups() -> None:
    events = [ev(1), ev(0)]
    assert bucket_events([], [], events) == {(None, ()): [events[1], events[0]]}
    assert bucket_events([], [], []) == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={"region": st.sampled_from(["eu", "us", "asia"]),
                                                     "cloud": st.sampled_from(["aws", "gcp"])}), max_size=25))
def test_every_event_lands_in_exactly_one_bucket(rows: list[dict[str, str]]) -> None:
    events = [ev(i, **props) for i, props in enumerate(rows)]
    buckets = bucket_events([F_REGION, F_REGION_CLOUD, F_REGION_ALL, F_CLOUD], ["cloud"], events)
    placed = sorted(e.order for bucket in buckets.values() for e in bucket)
    assert placed == list(range(len(events)))
    for (index, _), bucket in buckets.items():
        filters = [F_REGION, F_REGION_CLOUD, F_REGION_ALL, F_CLOUD]
        assert all((index is None and not any(matches(f, e) for f in filters)) or
                   (index is not None and matches(filters[index], e)) for e in bucket)
