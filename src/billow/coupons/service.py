from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import NotAllowed, ValidationFailed
from billow.coupons import applied_service, repository
from billow.coupons.schemas import CouponCreate, CouponUpdate, LimitationsIn
from billow.models import BillableMetric, Coupon, Organization, Plan

# Columns a request may set directly (limitations are handled apart).
_VALUE_FIELDS = (
    "name",
    "code",
    "description",
    "coupon_type",
    "amount_cents",
    "amount_currency",
    "percentage_rate",
    "frequency",
    "frequency_duration",
    "expiration",
    "expiration_at",
    "reusable",
)
# Once a coupon has been applied to a customer, only these may still change.
_EDITABLE_ONCE_APPLIED = {"name", "description", "expiration", "expiration_at"}


def coherent_values(values: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    """Check that the values fit together and clear the ones the coupon's kind does not use.

    fixed_amount needs amount_cents and amount_currency; percentage needs percentage_rate;
    recurring needs frequency_duration; time_limit needs an expiration_at in the future
    (checked when it is being set).
    """
    values = dict(values)
    errors: dict[str, list[str]] = {}

    def require(*fields: str) -> None:
        for field in fields:
            if values.get(field) is None:
                errors[field] = ["value_is_mandatory"]

    def clear(*fields: str) -> None:
        for field in fields:
            values[field] = None

    if values["coupon_type"] == "fixed_amount":
        require("amount_cents", "amount_currency")
        clear("percentage_rate")
    else:
        require("percentage_rate")
        clear("amount_cents", "amount_currency")
    if values["frequency"] == "recurring":
        require("frequency_duration")
    else:
        clear("frequency_duration")
    if values["expiration"] == "time_limit":
        require("expiration_at")
        if (
            "expiration_at" in sent
            and values.get("expiration_at") is not None
            and values["expiration_at"] <= clock.now()
        ):
            errors["expiration_at"] = ["invalid_date"]
    else:
        clear("expiration_at")
    if errors:
        raise ValidationFailed(errors)
    return values


def _ensure_code_free(session: Session, organization: Organization, code: str) -> None:
    if repository.find_by_code(session, organization.id, code) is not None:
        raise ValidationFailed.field("code", "value_already_exist")


def _limitations(
    session: Session, organization: Organization, applies_to: LimitationsIn | None, coupon: Coupon | None = None
) -> tuple[list[Plan], list[BillableMetric]]:
    """The coupon's target plans and metrics after the request: a list sent replaces the current one.

    A coupon is limited to plans or to billable metrics, never both: sending both kinds is refused;
    sending one kind to a coupon limited by the other switches it over.
    """
    plans = list(coupon.plans) if coupon is not None else []
    metrics = list(coupon.billable_metrics) if coupon is not None else []
    if applies_to is None:
        return plans, metrics
    sent = applies_to.model_fields_set
    if applies_to.plan_codes is not None:
        plans = repository.resolve_plans(session, organization.id, applies_to.plan_codes)
    if applies_to.billable_metric_codes is not None:
        metrics = repository.resolve_billable_metrics(session, organization.id, applies_to.billable_metric_codes)
    if plans and metrics:
        if {"plan_codes", "billable_metric_codes"} <= sent:
            raise NotAllowed("only_one_limitation_type_per_coupon_allowed")
        if "plan_codes" in sent:
            metrics = []
        else:
            plans = []
    return plans, metrics


def _set_limitations(session: Session, coupon: Coupon, plans: list[Plan], metrics: list[BillableMetric]) -> None:
    coupon.plans = plans
    coupon.billable_metrics = metrics
    coupon.limited_plans = bool(plans)
    coupon.limited_billable_metrics = bool(metrics)
    session.flush()
    session.expire(coupon, ["plans", "billable_metrics"])  # reload in stored order


def create(session: Session, organization: Organization, data: CouponCreate) -> Coupon:
    sent = data.model_fields_set - {"applies_to"}
    values = coherent_values({field: getattr(data, field) for field in _VALUE_FIELDS}, sent)
    if values["reusable"] is None:
        values["reusable"] = True
    _ensure_code_free(session, organization, data.code)
    plans, metrics = _limitations(session, organization, data.applies_to)

    coupon = Coupon(organization_id=organization.id, status="active", **values)
    session.add(coupon)
    _set_limitations(session, coupon, plans, metrics)
    return coupon


def update(session: Session, organization: Organization, code: str, data: CouponUpdate) -> Coupon:
    coupon = repository.get(session, organization.id, code)
    changes = data.changes(exclude={"applies_to"})
    if repository.has_been_applied(session, coupon.id):
        _refuse_locked_changes(coupon, changes, data.applies_to)

    current = {field: getattr(coupon, field) for field in _VALUE_FIELDS}
    values = coherent_values({**current, **changes}, set(changes))
    if values["code"] != coupon.code:
        _ensure_code_free(session, organization, values["code"])
    plans, metrics = _limitations(session, organization, data.applies_to, coupon)

    for field, value in values.items():
        setattr(coupon, field, value)
    if data.applies_to is not None:
        _set_limitations(session, coupon, plans, metrics)
    session.flush()
    return coupon


def _refuse_locked_changes(coupon: Coupon, changes: dict[str, Any], applies_to: LimitationsIn | None) -> None:
    """An applied coupon keeps its code, value, frequency, reusability and limitations: a request that
    would change one of them is refused (sending the current value again is accepted)."""
    changed = {field for field, value in changes.items() if getattr(coupon, field) != value}
    if applies_to is not None:
        if applies_to.plan_codes is not None and set(applies_to.plan_codes) != {p.code for p in coupon.plans}:
            changed.add("applies_to")
        current_metrics = {m.code for m in coupon.billable_metrics}
        if applies_to.billable_metric_codes is not None and set(applies_to.billable_metric_codes) != current_metrics:
            changed.add("applies_to")
    if changed - _EDITABLE_ONCE_APPLIED:
        raise NotAllowed("coupon_already_applied")


def delete(session: Session, organization: Organization, code: str) -> Coupon:
    """Terminate and soft-delete the coupon (its code becomes free); its active applications end too."""
    coupon = repository.get(session, organization.id, code)
    now = clock.now()
    coupon.status = "terminated"
    coupon.terminated_at = now
    coupon.deleted_at = now
    applied_service.terminate_all(repository.active_for_coupon(session, coupon.id), now)
    session.flush()
    return coupon
