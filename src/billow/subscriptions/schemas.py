from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from billow.core.wire import IsoDate, UtcDateTime, WireIn, WireOut, lago_error
from billow.models import Subscription
from billow.plans.schemas import PlanOverrides, ThresholdIn

STATUSES = ("pending", "active", "terminated", "canceled")
ON_TERMINATION_CREDIT_NOTE = ("credit", "refund", "offset", "skip")
ON_TERMINATION_INVOICE = ("generate", "skip")
BillingTime = Literal["calendar", "anniversary"]


def parse_instant(value: Any) -> datetime:
    """An ISO 8601 date or date-time string as an aware UTC instant (no offset means UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise lago_error("invalid_date") from None
    else:
        raise lago_error("invalid_date")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


IsoInstant = Annotated[datetime, BeforeValidator(parse_instant)]


def _required_text(value: str) -> str:
    text = value.strip()
    if not text:
        raise lago_error("value_is_mandatory")
    return text


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise lago_error("invalid_value")
    return value


CreditNoteChoice = Annotated[str, AfterValidator(lambda value: _one_of(value, ON_TERMINATION_CREDIT_NOTE))]
InvoiceChoice = Annotated[str, AfterValidator(lambda value: _one_of(value, ON_TERMINATION_INVOICE))]


# ---- requests ------------------------------------------------------------------------------------


class SubscriptionCreate(WireIn):
    """`POST /subscriptions`: subscribe, or change the plan of the subscription with this external id."""

    external_customer_id: str = Field(max_length=255)
    plan_code: str
    external_id: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    billing_time: BillingTime = "calendar"
    subscription_at: IsoInstant | None = None
    ending_at: IsoInstant | None = None
    # The subscription's own copy of the plan differs in these (billow.plans.overrides).
    plan_overrides: PlanOverrides | None = None
    # Thresholds of the subscription itself, used instead of the plan's.
    usage_thresholds: list[ThresholdIn] | None = None
    progressive_billing_disabled: bool | None = None

    @field_validator("external_customer_id", "external_id")
    @classmethod
    def _mandatory(cls, value: str) -> str:
        return _required_text(value)

    @field_validator("plan_code")
    @classmethod
    def _plan_code(cls, value: str) -> str:
        _required_text(value)
        return value


class LifetimeUsageUpdate(WireIn):
    """`PUT /subscriptions/{external_id}/lifetime_usage`: usage billed before Billow."""

    external_historical_usage_amount_cents: int = Field(ge=0)


class SubscriptionUpdate(WireIn):
    """`PUT /subscriptions/{external_id}`: only the keys sent change; ``name`` and ``ending_at``
    may be sent as ``null`` to clear them."""

    name: str | None = Field(default=None, max_length=255)
    ending_at: IsoInstant | None = None
    subscription_at: IsoInstant | None = None
    on_termination_credit_note: CreditNoteChoice | None = None
    on_termination_invoice: InvoiceChoice | None = None
    plan_overrides: PlanOverrides | None = None
    usage_thresholds: list[ThresholdIn] | None = None
    progressive_billing_disabled: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        # Replaces WireIn's rule of the same name: here an explicit null clears these two keys.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None or key in ("name", "ending_at")}
        return data


class TerminateParams(WireIn):
    """Query of `DELETE /subscriptions/{external_id}`."""

    status: str | None = None
    on_termination_credit_note: CreditNoteChoice | None = None
    on_termination_invoice: InvoiceChoice | None = None


class SubscriptionFilters(WireIn):
    """Query of `GET /subscriptions`; only active subscriptions unless ``status[]`` says otherwise."""

    external_customer_id: str | None = None
    plan_code: str | None = None
    external_id: str | None = None
    currency: str | None = None
    status: list[Literal["pending", "active", "terminated", "canceled"]] = []


# ---- responses -----------------------------------------------------------------------------------


def _iso_milliseconds(value: datetime) -> str:
    instant = value.astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


# Lago sends `started_at` with milliseconds, every other instant to the second.
MillisecondDateTime = Annotated[datetime, PlainSerializer(_iso_milliseconds, return_type=str)]


@dataclass(frozen=True)
class Facts:
    """What the wire shows beyond the stored columns (computed by the service)."""

    plan_amount_cents: int
    plan_amount_currency: str
    trial_ended_at: datetime | None
    current_billing_period_started_at: datetime | None
    current_billing_period_ending_at: datetime | None
    previous_plan_code: str | None
    next_plan_code: str | None
    downgrade_plan_date: date | None


class PaymentMethodOut(WireOut):
    payment_method_type: str = "provider"
    payment_method_id: str | None = None


class ApplicableThresholdOut(WireOut):
    threshold_display_name: str | None
    amount_cents: int
    recurring: bool


class SubscriptionOut(WireOut):
    lago_id: uuid.UUID
    external_id: str
    lago_customer_id: uuid.UUID
    external_customer_id: str
    billing_entity_code: str | None = None
    name: str | None
    plan_code: str
    plan_amount_cents: int
    plan_amount_currency: str
    status: str
    billing_time: str
    subscription_at: UtcDateTime
    started_at: MillisecondDateTime | None
    trial_ended_at: UtcDateTime | None
    ending_at: UtcDateTime | None
    terminated_at: UtcDateTime | None
    canceled_at: UtcDateTime | None
    created_at: UtcDateTime
    previous_plan_code: str | None
    next_plan_code: str | None
    downgrade_plan_date: IsoDate | None
    current_billing_period_started_at: UtcDateTime | None
    current_billing_period_ending_at: UtcDateTime | None
    on_termination_credit_note: str | None
    on_termination_invoice: str
    progressive_billing_disabled: bool
    consolidate_invoice: bool = True
    purchase_order_number: str | None = None
    payment_method: PaymentMethodOut = PaymentMethodOut()
    applied_invoice_custom_sections: list[dict[str, Any]] = []


_COLUMNS = (
    "external_id", "name", "status", "billing_time", "subscription_at", "started_at", "ending_at",
    "terminated_at", "canceled_at", "created_at", "on_termination_credit_note", "on_termination_invoice",
    "progressive_billing_disabled",
)


def subscription_json(
    subscription: Subscription,
    facts: Facts,
    *,
    plan: dict[str, Any] | None = None,
    thresholds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Subscription object of Lago's wire; with ``plan`` (the Plan object: the subscription's
    own copy when it has overrides) it is the extended form that single-subscription answers
    carry, with the ``thresholds`` applicable to it."""
    row: dict[str, Any] = {column: getattr(subscription, column) for column in _COLUMNS}
    row.update(
        lago_id=subscription.id,
        lago_customer_id=subscription.customer_id,
        external_customer_id=subscription.customer.external_id,
        plan_code=subscription.plan.code,
        **{field: getattr(facts, field) for field in Facts.__dataclass_fields__},
    )
    body = SubscriptionOut.model_validate(row).model_dump(mode="json")
    if plan is not None:
        body["plan"] = plan
        body["applicable_usage_thresholds"] = [
            ApplicableThresholdOut.model_validate(threshold).model_dump(mode="json") for threshold in thresholds or []
        ]
    return body
