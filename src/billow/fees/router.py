"""``/fees`` (HTTP only): the lines of invoices, and the payment status of fees without one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.db import DbSession
from billow.core.errors import NotFound
from billow.core.pagination import Paging, page_response
from billow.core.repository import parse_uuid
from billow.core.wire import RootBody, validate
from billow.fees import paid, repository
from billow.fees.schemas import FeeUpdate, fee_json
from billow.models import Fee, Invoice, Subscription
from billow.organizations.auth import CurrentOrg

router = APIRouter(prefix="/fees", tags=["fees"])


class FeeFilterParams(BaseModel):
    external_customer_id: str | None = None
    external_subscription_id: str | None = None
    fee_type: Literal["charge", "subscription", "commitment", "add_on"] | None = None
    currency: str | None = None
    payment_status: Literal["pending", "succeeded", "failed", "refunded"] | None = None
    event_transaction_id: str | None = None


def _json(session: Session, fee: Fee) -> dict[str, Any]:
    invoice = session.get_one(Invoice, fee.invoice_id) if fee.invoice_id else None
    subscription = session.get(Subscription, fee.subscription_id) if fee.subscription_id else None
    if invoice is not None:
        customer = invoice.customer
    else:  # a fee without invoice is a pay-in-advance charge's: its subscription's customer
        assert subscription is not None
        customer = subscription.customer
    return fee_json(fee, invoice, customer, subscription, session.scalar(repository.true_up_of(fee.id)))


@router.get("")
def list_fees(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    params = request.query_params
    parsed = validate(FeeFilterParams, {name: params[name] for name in FeeFilterParams.model_fields if params.get(name)})
    filters = repository.FeeFilters(parsed.external_customer_id, parsed.external_subscription_id, parsed.fee_type,
                                    parsed.currency, parsed.payment_status, parsed.event_transaction_id)
    return page_response("fees", session, repository.list_query(org.id, filters), paging,
                         lambda fee: _json(session, fee))


@router.get("/{lago_id}")
def get_fee(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    fee = session.scalar(repository.get(org.id, parse_uuid(lago_id, "fee")))
    if fee is None:
        raise NotFound("fee")
    return {"fee": _json(session, fee)}


@router.put("/{lago_id}")
def update_fee(lago_id: str, org: CurrentOrg, session: DbSession,
               data: FeeUpdate = RootBody("fee", FeeUpdate)) -> dict[str, Any]:
    """Only a fee that no invoice carries takes a payment status (405 ``invoiced_fee`` otherwise)."""
    fee = paid.update(session, org.id, parse_uuid(lago_id, "fee"), data, clock.now())
    return {"fee": _json(session, fee)}


@router.delete("/{lago_id}")
def delete_fee(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    """Only a fee that no invoice carries can be deleted (405 ``invoiced_fee`` otherwise)."""
    fee = paid.delete(session, org.id, parse_uuid(lago_id, "fee"), clock.now())
    return {"fee": _json(session, fee)}
