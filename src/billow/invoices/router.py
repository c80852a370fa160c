"""``/invoices`` (HTTP only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from billow.core import clock
from billow.core.db import DbSession
from billow.core.pagination import Paging, page_response
from billow.core.query import list_param
from billow.core.wire import JsonBody, RootBody, validate
from billow.documents import service as documents
from billow.documents.router import downloaded
from billow.invoices import one_off, preview, repository, service
from billow.invoices.schemas import InvoiceFilterParams, InvoiceUpdate, OneOffCreate, invoice_json
from billow.organizations.auth import CurrentOrg

router = APIRouter(prefix="/invoices", tags=["invoices"])

_SCALAR_FILTERS = ("external_customer_id", "invoice_type", "currency", "issuing_date_from", "issuing_date_to")


@router.get("")
def list_invoices(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    params = request.query_params
    raw: dict[str, Any] = {name: params[name] for name in _SCALAR_FILTERS if params.get(name)}
    raw["statuses"] = list_param(params, "statuses") + list_param(params, "status")
    raw["payment_statuses"] = list_param(params, "payment_statuses") + list_param(params, "payment_status")
    parsed = validate(InvoiceFilterParams, raw)
    filters = repository.InvoiceFilters(
        parsed.external_customer_id, tuple(parsed.statuses), tuple(parsed.payment_statuses), parsed.invoice_type,
        parsed.currency, parsed.issuing_date_from, parsed.issuing_date_to)
    return page_response("invoices", session, repository.list_query(org.id, filters), paging,
                         lambda invoice: invoice_json(session, invoice))


@router.post("")
def create_one_off_invoice(org: CurrentOrg, session: DbSession,
                           data: OneOffCreate = RootBody("invoice", OneOffCreate)) -> dict[str, Any]:
    return {"invoice": invoice_json(session, one_off.create(session, org, data, clock.now()))}


@router.post("/preview")
def preview_invoice(org: CurrentOrg, session: DbSession, body: Any = JsonBody()) -> dict[str, Any]:
    return {"invoice": preview.preview(session, org, preview.parse(body), clock.now())}


@router.get("/{lago_id}")
def get_invoice(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"invoice": invoice_json(session, repository.get(session, org.id, lago_id))}


@router.put("/{lago_id}")
def update_invoice(lago_id: str, org: CurrentOrg, session: DbSession,
                   data: InvoiceUpdate = RootBody("invoice", InvoiceUpdate)) -> dict[str, Any]:
    return {"invoice": invoice_json(session, service.update(session, org, lago_id, data))}


@router.put("/{lago_id}/finalize")
def finalize_invoice(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"invoice": invoice_json(session, service.finalize(session, org, lago_id))}


@router.put("/{lago_id}/refresh")
def refresh_invoice(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"invoice": invoice_json(session, service.refresh(session, org, lago_id))}


@router.post("/{lago_id}/void")
def void_invoice(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"invoice": invoice_json(session, service.void(session, org, lago_id))}


@router.post("/{lago_id}/download", response_model=None)
def download_invoice(lago_id: str, request: Request, org: CurrentOrg,
                     session: DbSession) -> dict[str, Any] | Response:
    invoice = documents.download_invoice(session, request.app.state.settings, org, lago_id)
    return downloaded("invoice", invoice, lambda found: invoice_json(session, found))


@router.post("/{lago_id}/retry")
def retry_invoice(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"invoice": invoice_json(session, service.retry(session, org, lago_id))}


@router.post("/{lago_id}/retry_payment")
def retry_invoice_payment(lago_id: str, org: CurrentOrg, session: DbSession) -> Response:
    service.retry_payment(session, org, lago_id)
    return Response(status_code=200)
