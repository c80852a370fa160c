from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from billow.core.wire import UtcDateTime, WireIn, WireOut, lago_error
from billow.taxes.schemas import TaxOut


def check_timezone(value: str | None) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise lago_error("invalid_timezone") from None
    return value


class OrganizationBillingIn(WireIn):
    invoice_footer: str | None = None
    invoice_grace_period: int | None = Field(default=None, ge=0)
    document_locale: str | None = None


class OrganizationUpdate(WireIn):
    default_currency: str | None = None
    country: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    email: str | None = None
    legal_name: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None
    timezone: str | None = None
    net_payment_term: int | None = Field(default=None, ge=0)
    document_numbering: Literal["per_customer", "per_organization"] | None = None
    document_number_prefix: str | None = Field(default=None, min_length=1, max_length=10)
    email_settings: list[str] | None = None
    finalize_zero_amount_invoice: bool | None = None
    billing_configuration: OrganizationBillingIn | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) != 2 or not value.isalpha():
            raise lago_error("country_code_invalid")
        return value.upper()


class OrganizationOut(WireOut):
    lago_id: uuid.UUID
    name: str
    created_at: UtcDateTime
    webhook_url: str | None = None
    webhook_urls: list[str] = []
    country: str | None
    default_currency: str
    address_line1: str | None
    address_line2: str | None
    state: str | None
    zipcode: str | None
    email: str | None
    city: str | None
    legal_name: str | None
    legal_number: str | None
    document_numbering: str
    document_number_prefix: str
    net_payment_term: int
    tax_identification_number: str | None
    timezone: str
    email_settings: list[str]
    billing_configuration: dict[str, Any]
    finalize_zero_amount_invoice: bool
    events_store: str
    taxes: list[TaxOut]
