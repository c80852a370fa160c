from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import Field, field_serializer

from billow.core.wire import UtcDateTime, WireIn, WireOut


class TaxCreate(WireIn):
    name: str = Field(min_length=1)
    code: str = Field(min_length=1)
    rate: Decimal = Field(ge=0, le=100)
    description: str | None = None
    applied_to_organization: bool = False


class TaxUpdate(WireIn):
    name: str | None = Field(default=None, min_length=1)
    code: str | None = Field(default=None, min_length=1)
    rate: Decimal | None = Field(default=None, ge=0, le=100)
    description: str | None = None
    applied_to_organization: bool | None = None


class TaxOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    name: str
    code: str
    rate: Decimal
    description: str | None
    applied_to_organization: bool
    created_at: UtcDateTime

    @field_serializer("rate")
    def _rate(self, rate: Decimal) -> float:
        # Lago sends tax rates as JSON numbers.
        return float(rate)
