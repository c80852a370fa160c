"""The catalog revision: ingest reuses what it derived from the catalog only while nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from billow.core.db import Database
from billow.models import Organization, UsageAggregate
from billow.usage.store import ALL_GRAIN
from tests.conftest import Org
from tests.usage.test_current_usage import MARCH, send, setup


def revision(database: Database, org: Org) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.scalar(select(Organization.catalog_revision).where(Organization.id == org.id)))


def all_time_rows(database: Database, org: Org) -> dict[str, int]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(UsageAggregate.dims, UsageAggregate.events).where(
            UsageAggregate.organization_id == org.id, UsageAggregate.grain == ALL_GRAIN))
        return {dims: events for dims, events in rows}


def test_catalog_changes_raise_the_revision_and_other_changes_do_not(api: httpx.Client, database: Database,
                                                                     org: Org) -> None:
    start = revision(database, org)
    metric = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
    assert api.post("billable_metrics", json={"billable_metric": metric}).status_code == 200
    after_create = revision(database, org)
    assert after_create > start
    filters = {"filters": [{"key": "region", "values": ["eu", "us"]}]}
    assert api.put("billable_metrics/calls", json={"billable_metric": filters}).status_code == 200
    after_filters = revision(database, org)
    assert after_filters > after_create
    assert api.post("customers", json={"customer": {"external_id": "c1"}}).status_code == 200
    assert api.get("billable_metrics/calls").status_code == 200
    assert revision(database, org) == after_filters  # customers and reads are not the catalog
    assert api.delete("billable_metrics/calls").status_code == 200
    assert revision(database, org) > after_filters


def test_ingest_after_a_plan_change_keeps_the_new_dimensions_apart(api: httpx.Client, database: Database,
                                                                   org: Org) -> None:
    setup(api, metrics=[{"code": "calls", "aggregation_type": "count_agg"}],
          charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "1"}}])
    send(api, {"code": "calls", "timestamp": MARCH, "properties": {"region": "eu"}},
         {"code": "calls", "timestamp": MARCH + 1, "properties": {"region": "us"}})
    assert all_time_rows(database, org) == {"": 2}
    charge = api.get("plans/p").json()["plan"]["charges"][0]
    body: dict[str, Any] = {"plan": {"cascade_updates": True, "charges": [
        {"id": charge["lago_id"], "billable_metric_id": charge["lago_billable_metric_id"], "charge_model": "standard",
         "properties": {"amount": "1", "pricing_group_keys": ["region"]}}]}}
    assert api.put("plans/p", json=body).status_code == 200
    # No usage read in between: the ingest itself must see the change and rebuild.
    response = api.post("events", json={"event": {"transaction_id": "late", "external_subscription_id": "sub",
                                                  "code": "calls", "timestamp": MARCH + 2,
                                                  "properties": {"region": "eu"}}})
    assert response.status_code == 200, response.text
    assert all_time_rows(database, org) == {'{"region":"eu"}': 2, '{"region":"us"}': 1}
