"""``/plans``: plans, their metadata, charges, charge filters and versions (HTTP only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from billow.core import metadata
from billow.core.db import DbSession
from billow.core.errors import NotFound
from billow.core.pagination import Paging, page_response
from billow.core.wire import JsonBody, RootBody, validate
from billow.organizations.auth import CurrentOrg, current_organization
from billow.plans import repository, service
from billow.plans.schemas import (
    CascadeIn,
    ChargeIn,
    FilterIn,
    PlanCreate,
    PlanUpdate,
    charge_json,
    filter_json,
    plan_json,
    version_json,
)

router = APIRouter(prefix="/plans", tags=["plans"])


# ---- plans ---------------------------------------------------------------------------------------


@router.post("")
def create_plan(org: CurrentOrg, session: DbSession, data: PlanCreate = RootBody("plan", PlanCreate)) -> dict[str, Any]:
    return {"plan": plan_json(service.create(session, org, data))}


@router.get("")
def list_plans(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("plans", session, repository.list_query(org.id), paging, plan_json)


@router.get("/{code}")
def get_plan(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"plan": plan_json(repository.get_plan(session, org.id, code))}


@router.put("/{code}")
def update_plan(
    code: str, org: CurrentOrg, session: DbSession, data: PlanUpdate = RootBody("plan", PlanUpdate)
) -> dict[str, Any]:
    return {"plan": plan_json(service.update(session, org, code, data))}


@router.delete("/{code}")
def delete_plan(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"plan": plan_json(service.delete(session, org, code))}


# ---- metadata ------------------------------------------------------------------------------------

metadata.add_routes(router, "/{code}", "code", Depends(current_organization), service.update_metadata)


# ---- versions ------------------------------------------------------------------------------------


@router.get("/{code}/versions")
def list_versions(code: str, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    plan = repository.get_plan(session, org.id, code)
    return page_response("plan_versions", session, repository.versions_query(plan), paging, version_json)


@router.get("/{code}/versions/{number}")
def get_version(code: str, number: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    plan = repository.get_plan(session, org.id, code)
    if not number.isdigit():
        raise NotFound("plan_version")
    return {"plan_version": version_json(repository.get_version(session, plan.id, int(number)))}


# ---- charges -------------------------------------------------------------------------------------


def _cascade(payload: Any, root: str) -> bool:
    """``cascade_updates`` from the optional ``{"<root>": {...}}`` body of a DELETE."""
    body = payload.get(root) if isinstance(payload, dict) else None
    return bool(isinstance(body, dict) and validate(CascadeIn, body).cascade_updates)


@router.post("/{code}/charges")
def create_charge(
    code: str, org: CurrentOrg, session: DbSession, data: ChargeIn = RootBody("charge", ChargeIn)
) -> dict[str, Any]:
    return {"charge": charge_json(service.create_charge(session, org, code, data))}


@router.get("/{code}/charges")
def list_charges(code: str, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    plan = repository.get_plan(session, org.id, code)
    return page_response("charges", session, repository.charges_query(plan), paging, charge_json)


@router.get("/{code}/charges/{charge_code}")
def get_charge(code: str, charge_code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    plan = repository.get_plan(session, org.id, code)
    return {"charge": charge_json(repository.get_charge(session, plan, charge_code))}


@router.put("/{code}/charges/{charge_code}")
def update_charge(
    code: str, charge_code: str, org: CurrentOrg, session: DbSession, data: ChargeIn = RootBody("charge", ChargeIn)
) -> dict[str, Any]:
    return {"charge": charge_json(service.update_charge(session, org, code, charge_code, data))}


@router.delete("/{code}/charges/{charge_code}")
def delete_charge(
    code: str, charge_code: str, org: CurrentOrg, session: DbSession, payload: Any = JsonBody()
) -> dict[str, Any]:
    charge = service.delete_charge(session, org, code, charge_code, _cascade(payload, "charge"))
    return {"charge": charge_json(charge)}


# ---- charge filters ------------------------------------------------------------------------------


@router.post("/{code}/charges/{charge_code}/filters")
def create_filter(
    code: str, charge_code: str, org: CurrentOrg, session: DbSession, data: FilterIn = RootBody("filter", FilterIn)
) -> dict[str, Any]:
    return {"filter": filter_json(service.create_filter(session, org, code, charge_code, data))}


@router.get("/{code}/charges/{charge_code}/filters")
def list_filters(code: str, charge_code: str, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    charge = repository.get_charge(session, repository.get_plan(session, org.id, code), charge_code)
    return page_response("filters", session, repository.filters_query(charge), paging, filter_json)


@router.get("/{code}/charges/{charge_code}/filters/{filter_id}")
def get_filter(code: str, charge_code: str, filter_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    charge = repository.get_charge(session, repository.get_plan(session, org.id, code), charge_code)
    return {"filter": filter_json(repository.get_filter(session, charge, filter_id))}


@router.put("/{code}/charges/{charge_code}/filters/{filter_id}")
def update_filter(
    code: str,
    charge_code: str,
    filter_id: str,
    org: CurrentOrg,
    session: DbSession,
    data: FilterIn = RootBody("filter", FilterIn),
) -> dict[str, Any]:
    return {"filter": filter_json(service.update_filter(session, org, code, charge_code, filter_id, data))}


@router.delete("/{code}/charges/{charge_code}/filters/{filter_id}")
def delete_filter(
    code: str, charge_code: str, filter_id: str, org: CurrentOrg, session: DbSession, payload: Any = JsonBody()
) -> dict[str, Any]:
    charge_filter = service.delete_filter(session, org, code, charge_code, filter_id, _cascade(payload, "filter"))
    return {"filter": filter_json(charge_filter)}
