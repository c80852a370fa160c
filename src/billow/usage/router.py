from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from billow.core import clock
from billow.core.db import Database
from billow.organizations.auth import ReadingOrg
from billow.usage import rebuild, service
from billow.usage.schemas import usage_out

router = APIRouter(prefix="/customers", tags=["usage"])


def _flag(value: str | None, default: bool = True) -> bool:
    return default if value is None else value.lower() not in ("false", "0", "no")


@router.get("/{external_customer_id}/current_usage")
def current_usage(external_customer_id: str, request: Request, org: ReadingOrg) -> dict[str, Any]:
    database: Database = request.app.state.db
    params = request.query_params
    at = clock.now()
    with database.unit_of_work(write=False) as session:
        _, subscription = service.active_subscription(session, org, external_customer_id,
                                                      params.get("external_subscription_id"))
        codes = service.metric_codes(session, subscription)
        fresh = not rebuild.stale_codes(session, org.id, codes)
    if not fresh:  # a metric or plan changed since the aggregates were built: rebuild them first
        database.group_commit.run(lambda session: rebuild.refresh(session, org.id, codes))
    with database.unit_of_work(write=False) as session:
        customer, subscription = service.active_subscription(session, org, external_customer_id,
                                                             params.get("external_subscription_id"))
        usage = service.current_usage(session, org, customer, subscription, at,
                                      apply_taxes=_flag(params.get("apply_taxes")))
        return {"customer_usage": usage_out(usage)}
