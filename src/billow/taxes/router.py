from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.wire import RootBody, dump, envelope
from billow.organizations.auth import CurrentOrg
from billow.taxes import repository, service
from billow.taxes.schemas import TaxCreate, TaxOut, TaxUpdate

router = APIRouter(prefix="/taxes", tags=["taxes"])


@router.post("")
def create_tax(org: CurrentOrg, session: DbSession, data: TaxCreate = RootBody("tax", TaxCreate)) -> dict[str, Any]:
    return envelope("tax", TaxOut, service.create(session, org, data))


@router.get("")
def list_taxes(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("taxes", session, repository.list_query(org.id), paging, lambda t: dump(TaxOut, t))


@router.get("/{code}")
def get_tax(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("tax", TaxOut, repository.get(session, org.id, code))


@router.put("/{code}")
def update_tax(code: str, org: CurrentOrg, session: DbSession, data: TaxUpdate = RootBody("tax", TaxUpdate)) -> dict[str, Any]:
    return envelope("tax", TaxOut, service.update(session, org, code, data))


@router.delete("/{code}")
def delete_tax(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("tax", TaxOut, service.delete(session, org, code))
