"""Lago wire shapes of plans, charges, charge filters, commitments, thresholds and versions."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from billow.core import metadata
from billow.core.wire import CurrencyCode, UtcDateTime, WireIn, WireOut, lago_error
from billow.taxes.schemas import TaxOut

Interval = Literal["weekly", "monthly", "quarterly", "semiannual", "yearly"]
ChargeModel = Literal["standard", "package", "graduated", "volume", "percentage", "graduated_percentage", "dynamic"]


# ---- requests -------------------------------------------------------------------------------


class FilterIn(WireIn):
    invoice_display_name: str | None = None
    # Validated against the charge's model by the service (billow.pricing.properties).
    properties: dict[str, Any] | None = None
    # {metric filter key: [values]}, checked against the metric by the service.
    values: dict[str, Any] | None = None
    cascade_updates: bool | None = None


class ChargeIn(WireIn):
    """A charge inside ``plan.charges[]`` or under the root ``charge``; rules live in the service."""

    # Only in ``plan.charges[]`` on update: the charge to change.
    id: str | None = None
    billable_metric_id: str | None = None
    code: str | None = Field(default=None, min_length=1)
    charge_model: ChargeModel | None = None
    pay_in_advance: bool | None = None
    invoiceable: bool | None = None
    regroup_paid_fees: Literal["invoice"] | None = None
    prorated: bool | None = None
    min_amount_cents: int | None = Field(default=None, ge=0)
    invoice_display_name: str | None = None
    properties: dict[str, Any] | None = None
    filters: list[FilterIn] | None = None
    tax_codes: list[str] | None = None
    cascade_updates: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        # `regroup_paid_fees: null` is meaningful (stop regrouping); every other null means "not given".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None or key == "regroup_paid_fees"}
        return data


class CommitmentIn(WireIn):
    amount_cents: int | None = Field(default=None, ge=0)
    invoice_display_name: str | None = None
    tax_codes: list[str] | None = None


class ThresholdIn(WireIn):
    # Only on update: the threshold to change.
    id: str | None = None
    amount_cents: int | None = None
    threshold_display_name: str | None = None
    recurring: bool = False

    @field_validator("amount_cents")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise lago_error("value_is_out_of_range")
        return value


class _OverridableFields(WireIn):
    """The plan fields a subscription's ``plan_overrides`` may carry too."""

    invoice_display_name: str | None = None
    description: str | None = None
    trial_period: Decimal | None = Field(default=None, ge=0)
    tax_codes: list[str] | None = None
    minimum_commitment: CommitmentIn | None = None
    usage_thresholds: list[ThresholdIn] | None = None
    metadata: dict[str, str | None] | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if value is not None and not metadata.is_flat(value):
            raise lago_error("value_is_invalid")
        return value


class _PlanFields(_OverridableFields):
    pay_in_advance: bool | None = None
    bill_charges_monthly: bool | None = None
    bill_fixed_charges_monthly: bool | None = None
    charges: list[ChargeIn] | None = None


class ChargeOverrideIn(WireIn):
    """An item of ``plan_overrides.charges``: the parent plan's charge ``id`` and what changes."""

    id: str | None = None
    invoice_display_name: str | None = None
    min_amount_cents: int | None = Field(default=None, ge=0)
    properties: dict[str, Any] | None = None
    filters: list[FilterIn] | None = None
    tax_codes: list[str] | None = None

    def as_charge(self) -> ChargeIn:
        """The change as a charge update (the charge rules check it)."""
        return ChargeIn.model_validate(self.model_dump(exclude_unset=True, exclude={"id"}))


class PlanOverrides(_OverridableFields):
    """``plan_overrides`` of a subscription: the plan's own copy for this subscription differs in these."""

    name: str | None = Field(default=None, min_length=1)
    amount_cents: int | None = Field(default=None, ge=0)
    amount_currency: CurrencyCode | None = None
    charges: list[ChargeOverrideIn] | None = None


class PlanCreate(_PlanFields):
    name: str = Field(min_length=1)
    code: str = Field(min_length=1)
    interval: Interval
    amount_cents: int = Field(ge=0)
    amount_currency: CurrencyCode


class PlanUpdate(_PlanFields):
    name: str | None = Field(default=None, min_length=1)
    code: str | None = Field(default=None, min_length=1)
    interval: Interval | None = None
    amount_cents: int | None = Field(default=None, ge=0)
    amount_currency: CurrencyCode | None = None
    cascade_updates: bool | None = None


class CascadeIn(WireIn):
    """Optional body of DELETE on a charge or a charge filter."""

    cascade_updates: bool | None = None


# ---- responses ------------------------------------------------------------------------------


class FilterOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    invoice_display_name: str | None
    properties: dict[str, Any]
    values: dict[str, list[str]]
    created_at: UtcDateTime


class ChargeOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    lago_billable_metric_id: uuid.UUID = Field(validation_alias="billable_metric_id")
    billable_metric_code: str
    code: str
    invoice_display_name: str | None
    created_at: UtcDateTime
    charge_model: str
    pay_in_advance: bool
    invoiceable: bool
    regroup_paid_fees: str | None
    prorated: bool
    min_amount_cents: int
    properties: dict[str, Any]
    filters: list[FilterOut]
    taxes: list[TaxOut]
    applied_pricing_unit: None = None
    accepts_target_wallet: bool = False
    lago_parent_id: uuid.UUID | None = Field(default=None, validation_alias="parent_id")


class CommitmentOut(WireOut):
    lago_id: uuid.UUID
    plan_code: str
    amount_cents: int
    invoice_display_name: str | None
    interval: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    taxes: list[TaxOut]


class ThresholdOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    threshold_display_name: str | None
    amount_cents: int
    recurring: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PlanOut(WireOut):
    lago_id: uuid.UUID
    name: str
    invoice_display_name: str | None
    created_at: UtcDateTime
    code: str
    interval: str
    description: str | None
    amount_cents: int
    amount_currency: str
    trial_period: Decimal | None
    pay_in_advance: bool
    bill_charges_monthly: bool | None
    bill_fixed_charges_monthly: bool | None
    # Deprecated counters, as Lago: 0 until subscriptions exist.
    customers_count: int = 0
    active_subscriptions_count: int = 0
    draft_invoices_count: int = 0
    parent_id: uuid.UUID | None
    pending_deletion: bool
    version: int
    charges: list[ChargeOut]
    fixed_charges: list[Any] = []
    entitlements: list[Any] = []
    taxes: list[TaxOut]
    minimum_commitment: CommitmentOut | None
    usage_thresholds: list[ThresholdOut]
    metadata: dict[str, str | None]

    @field_serializer("trial_period")
    def _trial_period(self, days: Decimal | None) -> float | None:
        # Lago sends trial_period as a JSON number.
        return None if days is None else float(days)


class PlanVersionOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    version: int
    cascade: bool
    created_at: UtcDateTime
    plan: dict[str, Any] = Field(validation_alias="snapshot")


# ---- rendering ------------------------------------------------------------------------------


def filter_json(charge_filter: Any) -> dict[str, Any]:
    return FilterOut.model_validate(charge_filter).model_dump(mode="json")


def _charge_fields(charge: Any) -> dict[str, Any]:
    return {
        **{column.key: getattr(charge, column.key) for column in charge.__table__.columns},
        "billable_metric_code": charge.billable_metric.code,
        "filters": charge.filters,
        "taxes": charge.taxes,
    }


def charge_json(charge: Any) -> dict[str, Any]:
    return ChargeOut.model_validate(_charge_fields(charge)).model_dump(mode="json")


def plan_json(plan: Any) -> dict[str, Any]:
    """The Plan object of Lago's wire (also embedded by other resources, e.g. subscriptions)."""
    commitment = plan.minimum_commitment
    return PlanOut.model_validate(
        {
            **{column.key: getattr(plan, column.key) for column in plan.__table__.columns},
            "lago_id": plan.id,
            "metadata": plan.metadata_,
            "charges": [_charge_fields(charge) for charge in plan.charges],
            "taxes": plan.taxes,
            "usage_thresholds": plan.usage_thresholds,
            "minimum_commitment": None
            if commitment is None
            else {
                "lago_id": commitment.id,
                "plan_code": plan.code,
                "amount_cents": commitment.amount_cents,
                "invoice_display_name": commitment.invoice_display_name,
                "interval": plan.interval,
                "created_at": commitment.created_at,
                "updated_at": commitment.updated_at,
                "taxes": commitment.taxes,
            },
        }
    ).model_dump(mode="json")


def version_json(version: Any) -> dict[str, Any]:
    return PlanVersionOut.model_validate(version).model_dump(mode="json")
