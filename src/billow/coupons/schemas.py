from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from billow.core.wire import CurrencyCode, DecimalString, UtcDateTime, WireIn, WireOut
from billow.models import AppliedCoupon, Coupon, Credit

CouponType = Literal["fixed_amount", "percentage"]
Frequency = Literal["once", "recurring", "forever"]
Expiration = Literal["no_expiration", "time_limit"]
Status = Literal["active", "terminated"]

MAX_CENTS = 2**63 - 1
MAX_PERIODS = 2**31 - 1


def Cents(*, minimum: int) -> Any:  # noqa: N802 - reads like a type in field declarations
    return Field(default=None, ge=minimum, le=MAX_CENTS)


def Rate() -> Any:  # noqa: N802
    """A percentage: 0 < rate <= 100, at most 5 decimals."""
    return Field(default=None, gt=0, le=100, decimal_places=5)


def Periods() -> Any:  # noqa: N802
    return Field(default=None, gt=0, le=MAX_PERIODS)


# ---- coupons -------------------------------------------------------------------------------------


class LimitationsIn(WireIn):
    plan_codes: list[str] | None = None
    billable_metric_codes: list[str] | None = None


class CouponUpdate(WireIn):
    """Partial update; also the base of creation, which makes some fields mandatory."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    code: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    coupon_type: CouponType | None = None
    amount_cents: int | None = Cents(minimum=1)
    amount_currency: CurrencyCode | None = None
    percentage_rate: Decimal | None = Rate()
    frequency: Frequency | None = None
    frequency_duration: int | None = Periods()
    expiration: Expiration | None = None
    expiration_at: datetime | None = None
    reusable: bool | None = None
    applies_to: LimitationsIn | None = None

    @field_validator("expiration_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A time without an offset is read as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CouponCreate(CouponUpdate):
    name: str = Field(min_length=1, max_length=255)
    code: str = Field(min_length=1, max_length=255)
    coupon_type: CouponType
    frequency: Frequency
    expiration: Expiration


class CouponOut(WireOut):
    lago_id: uuid.UUID
    name: str
    code: str
    description: str | None
    coupon_type: str
    amount_cents: int | None
    amount_currency: str | None
    percentage_rate: DecimalString | None
    frequency: str
    frequency_duration: int | None
    reusable: bool
    limited_plans: bool
    plan_codes: list[str]
    limited_billable_metrics: bool
    billable_metric_codes: list[str]
    expiration: str
    expiration_at: UtcDateTime | None
    created_at: UtcDateTime
    terminated_at: UtcDateTime | None

    @model_validator(mode="before")
    @classmethod
    def _from_coupon(cls, data: Any) -> Any:
        if not isinstance(data, Coupon):
            return data
        row = {name: getattr(data, name) for name in cls.model_fields if hasattr(Coupon, name)}
        row.update(
            lago_id=data.id,
            plan_codes=[plan.code for plan in data.plans if plan.deleted_at is None],
            billable_metric_codes=[metric.code for metric in data.billable_metrics if metric.deleted_at is None],
        )
        return row


# ---- applied coupons -----------------------------------------------------------------------------


class AppliedCouponCreate(WireIn):
    """Applies a coupon to a customer; the optional values override the coupon's for that customer."""

    external_customer_id: str = Field(min_length=1)
    coupon_code: str = Field(min_length=1)
    amount_cents: int | None = Cents(minimum=0)
    amount_currency: CurrencyCode | None = None
    percentage_rate: Decimal | None = Rate()
    frequency: Frequency | None = None
    frequency_duration: int | None = Periods()


class AppliedCouponFilters(WireIn):
    status: Status | None = None
    external_customer_id: str | None = None
    coupon_code: list[str] = []


class AppliedCouponOut(WireOut):
    lago_id: uuid.UUID
    lago_coupon_id: uuid.UUID
    coupon_code: str
    coupon_name: str
    coupon_status: str
    coupon_deleted_at: UtcDateTime | None
    lago_customer_id: uuid.UUID
    external_customer_id: str
    status: str
    amount_cents: int | None
    amount_cents_remaining: int | None
    amount_currency: str | None
    percentage_rate: DecimalString | None
    frequency: str
    frequency_duration: int | None
    frequency_duration_remaining: int | None
    expiration_at: UtcDateTime | None
    created_at: UtcDateTime
    terminated_at: UtcDateTime | None
    credits: list[dict[str, Any]]

    @model_validator(mode="before")
    @classmethod
    def _from_applied_coupon(cls, data: Any) -> Any:
        if not isinstance(data, AppliedCoupon):
            return data
        coupon, customer = data.coupon, data.customer
        row = {name: getattr(data, name) for name in cls.model_fields if hasattr(AppliedCoupon, name)}
        row.update(
            lago_id=data.id,
            lago_coupon_id=coupon.id,
            coupon_code=coupon.code,
            coupon_name=coupon.name,
            coupon_status=coupon.status,
            coupon_deleted_at=coupon.deleted_at,
            lago_customer_id=customer.id,
            external_customer_id=customer.external_id,
            amount_cents_remaining=remaining_amount_cents(data),
            expiration_at=coupon.expiration_at,
            credits=[credit_json(credit, coupon_item(data)) for credit in data.credits],
        )
        return row


def remaining_amount_cents(applied: AppliedCoupon) -> int | None:
    """What is left of a one-time fixed amount: its amount less what invoices took (the other
    kinds have no remaining amount)."""
    if applied.coupon.coupon_type != "fixed_amount" or applied.frequency != "once" or applied.amount_cents is None:
        return None
    return max(0, applied.amount_cents - sum(credit.amount_cents for credit in applied.credits))


def coupon_item(applied: AppliedCoupon) -> dict[str, Any]:
    """The ``item`` of a coupon's credit on an invoice."""
    coupon = applied.coupon
    return {"lago_item_id": str(coupon.id), "type": "coupon", "code": coupon.code, "name": coupon.name}


def credit_json(credit: Credit, item: dict[str, Any]) -> dict[str, Any]:
    """Lago's Credit object: what a coupon or a credit note took off an invoice."""
    return {
        "lago_id": str(credit.id),
        "amount_cents": credit.amount_cents,
        "amount_currency": credit.amount_currency,
        "before_taxes": credit.before_taxes,
        "item": item,
        "invoice": {"lago_id": str(credit.invoice_id), "payment_status": credit.invoice.payment_status},
    }
