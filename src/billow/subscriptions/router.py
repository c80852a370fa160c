"""``/subscriptions`` (HTTP only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.db import DbSession
from billow.core.errors import NotFound
from billow.core.pagination import Paging, page_response
from billow.core.query import list_param
from billow.core.wire import JsonBody, RootBody, validate
from billow.models import Subscription
from billow.organizations.auth import CurrentOrg
from billow.plans import repository as plans
from billow.plans.schemas import ChargeOverrideIn, FilterIn, charge_json, filter_json
from billow.subscriptions import charges, repository, service
from billow.subscriptions.schemas import (
    STATUSES,
    LifetimeUsageUpdate,
    SubscriptionCreate,
    SubscriptionFilters,
    SubscriptionUpdate,
    TerminateParams,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])

_SCALAR_FILTERS = ("external_customer_id", "plan_code", "external_id", "currency")


def _json(session: Session, subscription: Subscription, *, with_plan: bool = True) -> dict[str, Any]:
    return service.wire(session, subscription, with_plan=with_plan)


@router.post("")
def create_subscription(
    org: CurrentOrg, session: DbSession, data: SubscriptionCreate = RootBody("subscription", SubscriptionCreate)
) -> dict[str, Any]:
    # A sibling `authorization` object (card pre-authorisation) is accepted and ignored.
    return {"subscription": _json(session, service.create(session, org, data))}


@router.get("")
def list_subscriptions(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    params = request.query_params
    raw: dict[str, Any] = {name: params[name] for name in _SCALAR_FILTERS if params.get(name)}
    raw["status"] = list_param(params, "status")
    filters = validate(SubscriptionFilters, raw)
    return page_response(
        "subscriptions",
        session,
        repository.list_query(org.id, filters),
        paging,
        lambda subscription: _json(session, subscription, with_plan=False),
    )


@router.get("/{external_id}")
def get_subscription(
    external_id: str, org: CurrentOrg, session: DbSession, status: str = "active"
) -> dict[str, Any]:
    found = repository.find_with_status(session, org.id, external_id, status) if status in STATUSES else None
    if found is None:
        raise NotFound("subscription")
    return {"subscription": _json(session, found)}


def _active(session: Session, org: CurrentOrg, external_id: str) -> Subscription:
    found = repository.find_with_status(session, org.id, external_id, "active")
    if found is None:
        raise NotFound("subscription")
    return found


@router.get("/{external_id}/lifetime_usage")
def get_lifetime_usage(external_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    from billow.invoices import lifetime  # invoices know subscriptions, not the other way round

    return {"lifetime_usage": lifetime.lifetime_json(session, _active(session, org, external_id), clock.now())}


@router.put("/{external_id}/lifetime_usage")
def update_lifetime_usage(
    external_id: str, org: CurrentOrg, session: DbSession,
    data: LifetimeUsageUpdate = RootBody("lifetime_usage", LifetimeUsageUpdate),
) -> dict[str, Any]:
    from billow.invoices import lifetime

    subscription = _active(session, org, external_id)
    lifetime.set_historical(session, subscription, data.external_historical_usage_amount_cents)
    return {"lifetime_usage": lifetime.lifetime_json(session, subscription, clock.now())}


@router.put("/{external_id}")
def update_subscription(
    external_id: str,
    request: Request,
    org: CurrentOrg,
    session: DbSession,
    data: SubscriptionUpdate = RootBody("subscription", SubscriptionUpdate),
    payload: Any = JsonBody(),
) -> dict[str, Any]:
    # `status` may come as a query parameter or as a key next to `subscription`.
    status = request.query_params.get("status") or (payload.get("status") if isinstance(payload, dict) else None)
    subscription = service.update(session, org, external_id, data, status if isinstance(status, str) else None)
    return {"subscription": _json(session, subscription)}


@router.delete("/{external_id}")
def terminate_subscription(external_id: str, request: Request, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    params = validate(TerminateParams, dict(request.query_params))
    return {"subscription": _json(session, service.terminate(session, org, external_id, params))}


# ---- charges the subscription is priced on (overrides go to its own copy of the plan) ---------------


def _priced(external_id: str, org: CurrentOrg, session: DbSession, subscription_status: str | None = None) -> Subscription:
    """The subscription of a ``.../charges`` call (``subscription_status`` picks among the rows)."""
    return charges.find(session, org, external_id, subscription_status)


Priced = Annotated[Subscription, Depends(_priced)]
_CHARGE = "/{external_id}/charges/{charge_code}"
_FILTER = _CHARGE + "/filters/{filter_id}"


@router.get("/{external_id}/charges")
def list_charges(subscription: Priced, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("charges", session, plans.charges_query(subscription.plan), paging, charge_json)


@router.get(_CHARGE)
def get_charge(charge_code: str, subscription: Priced, session: DbSession) -> dict[str, Any]:
    return {"charge": charge_json(charges.charge(session, subscription, charge_code))}


@router.put(_CHARGE)
def override_charge(
    charge_code: str, subscription: Priced, session: DbSession, data: ChargeOverrideIn = RootBody("charge", ChargeOverrideIn)
) -> dict[str, Any]:
    return {"charge": charge_json(charges.override_charge(session, subscription, charge_code, data))}


@router.post(_CHARGE + "/filters")
def create_charge_filter(
    charge_code: str, subscription: Priced, session: DbSession, data: FilterIn = RootBody("filter", FilterIn)
) -> dict[str, Any]:
    return {"filter": filter_json(charges.create_filter(session, subscription, charge_code, data))}


@router.get(_CHARGE + "/filters")
def list_charge_filters(charge_code: str, subscription: Priced, session: DbSession, paging: Paging) -> dict[str, Any]:
    query = plans.filters_query(charges.charge(session, subscription, charge_code))
    return page_response("filters", session, query, paging, filter_json)


@router.get(_FILTER)
def get_charge_filter(charge_code: str, filter_id: str, subscription: Priced, session: DbSession) -> dict[str, Any]:
    return {"filter": filter_json(charges.charge_filter(session, subscription, charge_code, filter_id))}


@router.put(_FILTER)
def update_charge_filter(
    charge_code: str, filter_id: str, subscription: Priced, session: DbSession,
    data: FilterIn = RootBody("filter", FilterIn),
) -> dict[str, Any]:
    return {"filter": filter_json(charges.update_filter(session, subscription, charge_code, filter_id, data))}


@router.delete(_FILTER)
def delete_charge_filter(charge_code: str, filter_id: str, subscription: Priced, session: DbSession) -> dict[str, Any]:
    return {"filter": filter_json(charges.delete_filter(session, subscription, charge_code, filter_id))}
