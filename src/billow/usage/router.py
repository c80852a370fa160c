from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from billow.core import clock, jsontext
from billow.core.db import Database
from billow.core.errors import ValidationFailed
from billow.core.pagination import PageParams, Paging, meta
from billow.models import Customer, Subscription
from billow.organizations.auth import CachedOrgId
from billow.usage import history, profiles, rebuild, service
from billow.usage.schemas import projected_out, usage_out

router = APIRouter(prefix="/customers", tags=["usage"])
Reader = Callable[[Any, uuid.UUID, Customer, Subscription, datetime], Any]


def _json(body: dict[str, Any]) -> Response:
    """The answer's JSON written directly: its values are JSON types already, and the framework's
    generic encoding walk cost more than computing the usage."""
    return Response(jsontext.dumps_parsed(body), media_type="application/json")


def _flag(value: str | None, default: bool = True) -> bool:
    return default if value is None else value.lower() not in ("false", "0", "no")


def _read(request: Request, org_id: uuid.UUID, external_customer_id: str, compute: Reader) -> Any:
    """Rebuild stale aggregates first (a metric or plan changed since they were built), then read."""
    database: Database = request.app.state.db
    subscription_id = request.query_params.get("external_subscription_id")
    at = clock.now()
    for rebuilt in (False, True):
        with database.unit_of_work(write=False, statement_reads=True) as session:
            customer, subscription = service.active_subscription(session, org_id, external_customer_id,
                                                                 subscription_id)
            pricing = service.pricing_for(session, org_id, subscription)
            if rebuilt or not profiles.stale(session, org_id, pricing.profiles):
                return compute(session, org_id, customer, subscription, at)
        codes = set(pricing.profiles)
        database.group_commit.run(lambda session, codes=codes: rebuild.refresh(session, org_id, codes))
    raise AssertionError("unreachable")


@router.get("/{external_customer_id}/current_usage")
def current_usage(external_customer_id: str, request: Request, org_id: CachedOrgId) -> Response:
    taxes = _flag(request.query_params.get("apply_taxes"))
    usage = _read(request, org_id, external_customer_id,
                  lambda s, o, c, sub, at: service.current_usage(s, o, c, sub, at, apply_taxes=taxes,
                                                                 in_advance_peaks=True))
    return _json({"customer_usage": usage_out(usage)})


@router.get("/{external_customer_id}/projected_usage")
def projected_usage(external_customer_id: str, request: Request, org_id: CachedOrgId) -> Response:
    taxes = _flag(request.query_params.get("apply_taxes"))
    projection = _read(request, org_id, external_customer_id,
                       lambda s, o, c, sub, at: history.projected_usage(s, o, c, sub, at, apply_taxes=taxes))
    return _json({"customer_projected_usage": projected_out(projection)})


@router.get("/{external_customer_id}/past_usage")
def past_usage(external_customer_id: str, request: Request, org_id: CachedOrgId, paging: Paging) -> Response:
    raw_count = request.query_params.get("periods_count")
    if raw_count is not None and not raw_count.isdigit():
        raise ValidationFailed.field("periods_count", "value_is_invalid")
    count = None if raw_count is None else int(raw_count)
    usages = _read(request, org_id, external_customer_id,
                   lambda s, o, c, sub, at: history.past_usage(s, o, c, sub, at, periods_count=count))
    code = request.query_params.get("billable_metric_code")
    bodies = [usage_out(usage) for usage in usages]
    if code:
        for body in bodies:
            body["charges_usage"] = [c for c in body["charges_usage"] if c["billable_metric"]["code"] == code]
    page = bodies[(paging.page - 1) * paging.per_page: paging.page * paging.per_page]
    return _json({"usage_periods": page, "meta": meta(len(bodies), PageParams(paging.page, paging.per_page))})
