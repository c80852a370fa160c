"""``/credit_notes`` and ``/customers/{external_customer_id}/credit_notes`` (HTTP only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from billow.core import metadata
from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.wire import RootBody, validate
from billow.credit_notes import repository, service
from billow.credit_notes.schemas import (
    CreditNoteCreate,
    CreditNoteEstimateIn,
    CreditNoteFilterParams,
    CreditNoteUpdate,
    credit_note_json,
)
from billow.customers import repository as customers
from billow.documents import service as documents
from billow.documents.router import downloaded
from billow.organizations.auth import CurrentOrg, current_organization

router = APIRouter(tags=["credit_notes"])


def _filters(request: Request) -> repository.CreditNoteFilters:
    params = request.query_params
    raw = {name: params[name] for name in CreditNoteFilterParams.model_fields if params.get(name)}
    return repository.CreditNoteFilters(**validate(CreditNoteFilterParams, raw).model_dump())


@router.post("/credit_notes")
def create_credit_note(org: CurrentOrg, session: DbSession,
                       data: CreditNoteCreate = RootBody("credit_note", CreditNoteCreate)) -> dict[str, Any]:
    return {"credit_note": credit_note_json(session, service.create(session, org, data))}


@router.post("/credit_notes/estimate")
def estimate_credit_note(org: CurrentOrg, session: DbSession,
                         data: CreditNoteEstimateIn = RootBody("credit_note", CreditNoteEstimateIn)) -> dict[str, Any]:
    return {"estimated_credit_note": service.estimate(session, org, data)}


@router.get("/credit_notes")
def list_credit_notes(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("credit_notes", session, repository.list_query(org.id, _filters(request)), paging,
                         lambda note: credit_note_json(session, note))


@router.get("/customers/{external_customer_id}/credit_notes")
def list_customer_credit_notes(external_customer_id: str, request: Request, org: CurrentOrg, session: DbSession,
                               paging: Paging) -> dict[str, Any]:
    customer = customers.get(session, org.id, external_customer_id)
    stmt = repository.list_query(org.id, _filters(request), customer_id=customer.id)
    return page_response("credit_notes", session, stmt, paging, lambda note: credit_note_json(session, note))


@router.get("/credit_notes/{lago_id}")
def get_credit_note(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"credit_note": credit_note_json(session, repository.get(session, org.id, lago_id))}


@router.put("/credit_notes/{lago_id}")
def update_credit_note(lago_id: str, org: CurrentOrg, session: DbSession,
                       data: CreditNoteUpdate = RootBody("credit_note", CreditNoteUpdate)) -> dict[str, Any]:
    return {"credit_note": credit_note_json(session, service.update(session, org, lago_id, data))}


metadata.add_routes(router, "/credit_notes/{lago_id}", "lago_id", Depends(current_organization),
                    service.update_metadata)


@router.put("/credit_notes/{lago_id}/void")
def void_credit_note(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"credit_note": credit_note_json(session, service.void(session, org, lago_id))}


@router.post("/credit_notes/{lago_id}/download", response_model=None)
def download_credit_note(lago_id: str, request: Request, org: CurrentOrg,
                         session: DbSession) -> dict[str, Any] | Response:
    note = documents.download_credit_note(session, request.app.state.settings, org, lago_id)
    return downloaded("credit_note", note, lambda found: credit_note_json(session, found))
