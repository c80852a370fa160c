from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from billow.add_ons import repository, service
from billow.add_ons.schemas import AddOnCreate, AddOnOut, AddOnUpdate
from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.wire import RootBody, dump, envelope
from billow.organizations.auth import CurrentOrg

router = APIRouter(prefix="/add_ons", tags=["add_ons"])


@router.post("")
def create_add_on(
    org: CurrentOrg, session: DbSession, data: AddOnCreate = RootBody("add_on", AddOnCreate)
) -> dict[str, Any]:
    return envelope("add_on", AddOnOut, service.create(session, org, data))


@router.get("")
def list_add_ons(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("add_ons", session, repository.list_query(org.id), paging, lambda a: dump(AddOnOut, a))


@router.get("/{code}")
def get_add_on(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("add_on", AddOnOut, repository.get(session, org.id, code))


@router.put("/{code}")
def update_add_on(
    code: str, org: CurrentOrg, session: DbSession, data: AddOnUpdate = RootBody("add_on", AddOnUpdate)
) -> dict[str, Any]:
    return envelope("add_on", AddOnOut, service.update(session, org, code, data))


@router.delete("/{code}")
def delete_add_on(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return envelope("add_on", AddOnOut, service.delete(session, org, code))
