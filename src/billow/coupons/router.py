from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.query import list_param
from billow.core.wire import RootBody, dump, envelope, validate
from billow.coupons import applied_service, repository, service
from billow.coupons.schemas import (
    AppliedCouponCreate,
    AppliedCouponFilters,
    AppliedCouponOut,
    CouponCreate,
    CouponOut,
    CouponUpdate,
)
from billow.customers import repository as customers
from billow.organizations.auth import CurrentOrg

coupons_router = APIRouter(prefix="/coupons", tags=["coupons"])


@coupons_router.post("")
def create_coupon(
    org: CurrentOrg, session: DbSession, data: CouponCreate = RootBody("coupon", CouponCreate)
) -> dict[str, Any]:
    return envelope("coupon", CouponOut, service.create(session, org, data))


@coupons_router.get("")
def list_coupons(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("coupons", session, repository.list_query(org.id), paging, lambda c: dump(CouponOut, c))


@coupons_router.get("/{code}")
def get_coupon(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("coupon", CouponOut, repository.get(session, org.id, code))


@coupons_router.put("/{code}")
def update_coupon(
    code: str, org: CurrentOrg, session: DbSession, data: CouponUpdate = RootBody("coupon", CouponUpdate)
) -> dict[str, Any]:
    return envelope("coupon", CouponOut, service.update(session, org, code, data))


@coupons_router.delete("/{code}")
def delete_coupon(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("coupon", CouponOut, service.delete(session, org, code))


applied_router = APIRouter(tags=["applied_coupons"])


def _applied_filters(request: Request, **extra: Any) -> AppliedCouponFilters:
    params = request.query_params
    raw: dict[str, Any] = {"coupon_code": list_param(params, "coupon_code")}
    raw.update({name: params[name] for name in ("status", "external_customer_id") if params.get(name)})
    return validate(AppliedCouponFilters, {**raw, **extra})


def _applied_page(session: DbSession, paging: Paging, stmt: Any) -> dict[str, Any]:
    return page_response("applied_coupons", session, stmt, paging, lambda a: dump(AppliedCouponOut, a))


@applied_router.post("/applied_coupons")
def apply_coupon(
    org: CurrentOrg, session: DbSession, data: AppliedCouponCreate = RootBody("applied_coupon", AppliedCouponCreate)
) -> dict[str, Any]:
    return envelope("applied_coupon", AppliedCouponOut, applied_service.apply(session, org, data))


@applied_router.get("/applied_coupons")
def list_applied_coupons(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return _applied_page(session, paging, repository.applied_list_query(org.id, _applied_filters(request)))


@applied_router.get("/customers/{external_customer_id}/applied_coupons")
def list_customer_applied_coupons(
    external_customer_id: str, request: Request, org: CurrentOrg, session: DbSession, paging: Paging
) -> dict[str, Any]:
    customer = customers.get(session, org.id, external_customer_id)
    filters = _applied_filters(request, external_customer_id=None)
    return _applied_page(session, paging, repository.applied_list_query(org.id, filters, customer_id=customer.id))


@applied_router.delete("/customers/{external_customer_id}/applied_coupons/{applied_coupon_id}")
def terminate_applied_coupon(
    external_customer_id: str, applied_coupon_id: str, org: CurrentOrg, session: DbSession
) -> dict[str, Any]:
    applied = applied_service.terminate(session, org, external_customer_id, applied_coupon_id)
    return envelope("applied_coupon", AppliedCouponOut, applied)

