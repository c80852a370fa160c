from __future__ import annotations

import uuid

from pydantic import Field

from billow.core.wire import CurrencyCode, UtcDateTime, WireIn, WireOut
from billow.taxes.schemas import TaxOut

MAX_CENTS = 2**63 - 1


class AddOnUpdate(WireIn):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    code: str | None = Field(default=None, min_length=1, max_length=255)
    amount_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    amount_currency: CurrencyCode | None = None
    invoice_display_name: str | None = Field(default=None, max_length=255)
    description: str | None = None
    tax_codes: list[str] | None = None


class AddOnCreate(AddOnUpdate):
    name: str = Field(min_length=1, max_length=255)
    code: str = Field(min_length=1, max_length=255)
    amount_cents: int = Field(ge=0, le=MAX_CENTS)
    amount_currency: CurrencyCode


class AddOnOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    name: str
    code: str
    invoice_display_name: str | None
    description: str | None
    amount_cents: int
    amount_currency: str
    created_at: UtcDateTime
    taxes: list[TaxOut]
