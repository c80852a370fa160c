from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.query import hash_param, list_param
from billow.core.wire import RootBody, dump, envelope, validate
from billow.customers import repository, service
from billow.customers.schemas import CustomerFilters, CustomerIn, CustomerOut
from billow.organizations.auth import CurrentOrg

router = APIRouter(prefix="/customers", tags=["customers"])

_LIST_FILTERS = ("countries", "states", "zipcodes", "currencies", "account_type", "billing_entity_codes")
_SCALAR_FILTERS = ("search_term", "customer_type", "has_customer_type", "has_tax_identification_number")


@router.post("")
def upsert_customer(
    org: CurrentOrg, session: DbSession, data: CustomerIn = RootBody("customer", CustomerIn)
) -> dict[str, Any]:
    return envelope("customer", CustomerOut, service.upsert(session, org, data))


@router.get("")
def list_customers(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    params = request.query_params
    raw: dict[str, Any] = {name: list_param(params, name) for name in _LIST_FILTERS}
    raw.update({name: params[name] for name in _SCALAR_FILTERS if params.get(name)})
    raw["metadata"] = hash_param(params, "metadata")
    filters = validate(CustomerFilters, raw)
    return page_response(
        "customers", session, repository.list_query(org.id, filters), paging, lambda c: dump(CustomerOut, c)
    )


@router.get("/{external_id}")
def get_customer(external_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("customer", CustomerOut, repository.get(session, org.id, external_id))


@router.delete("/{external_id}")
def delete_customer(external_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("customer", CustomerOut, service.delete(session, org, external_id))
