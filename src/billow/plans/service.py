"""Plans: create, update (charges, commitment and thresholds as full sets), delete, metadata, and
the charge / charge filter sub-resources. Every write records a plan version when pricing changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ValidationFailed
from billow.models import (
    Charge,
    ChargeFilter,
    MinimumCommitment,
    Organization,
    Plan,
    UsageThreshold,
)
from billow.plans import charges, repository, versions
from billow.plans.cascade import record_version
from billow.plans.schemas import (
    ChargeIn,
    CommitmentIn,
    FilterIn,
    PlanCreate,
    PlanUpdate,
    ThresholdIn,
)
from billow.taxes.repository import resolve_codes

# Intervals whose charges may be billed monthly (Lago: `bill_charges_monthly` is null for the others).
MONTHLY_CHARGEABLE_INTERVALS = frozenset({"yearly", "semiannual"})


def _monthly_flag(interval: str, given: bool | None, current: bool | None = None) -> bool | None:
    if interval not in MONTHLY_CHARGEABLE_INTERVALS:
        return None
    return bool(given if given is not None else current)


def _ensure_code_free(session: Session, organization: Organization, code: str) -> None:
    if repository.find_plan(session, organization.id, code) is not None:
        raise ValidationFailed.field("code", "value_already_exist")


# ---- usage thresholds and minimum commitment -----------------------------------------------------


def check_thresholds(items: list[ThresholdIn]) -> None:
    def fail(code: str) -> ValidationFailed:
        return ValidationFailed.field("usage_thresholds", code)

    if any(item.amount_cents is None for item in items):
        raise fail("missing_amount_cents")
    keys = [(item.recurring, item.amount_cents) for item in items]
    if len(set(keys)) != len(keys):
        raise fail("duplicated_values")
    if sum(item.recurring for item in items) > 1:
        raise fail("multiple_recurring_thresholds")


def sync_thresholds(
    session: Session, existing: list[UsageThreshold], items: list[ThresholdIn], **owner: Any
) -> None:
    """Make ``existing`` (the live thresholds of one plan or subscription) exactly ``items``,
    matched by ``id`` like charges; new ones belong to ``owner`` (``organization_id`` and
    ``plan_id`` or ``subscription_id``)."""
    check_thresholds(items)
    by_id = {str(threshold.id): threshold for threshold in existing}
    now = clock.now()
    for item in items:
        threshold = by_id.pop(item.id, None) if item.id else None
        if threshold is None:
            threshold = UsageThreshold(**owner)
            session.add(threshold)
        threshold.amount_cents = item.amount_cents  # type: ignore[assignment]  # checked above
        threshold.recurring = item.recurring
        threshold.threshold_display_name = item.threshold_display_name
    for threshold in by_id.values():
        threshold.deleted_at = now


def sync_plan_thresholds(session: Session, plan: Plan, items: list[ThresholdIn]) -> None:
    sync_thresholds(session, plan.usage_thresholds, items, organization_id=plan.organization_id, plan_id=plan.id)


def set_commitment(session: Session, plan: Plan, data: CommitmentIn) -> None:
    """Create or change the commitment with the keys given; an empty object removes it."""
    commitment = plan.minimum_commitment
    if not data.model_fields_set:
        if commitment is not None:
            commitment.deleted_at = clock.now()
        return
    if commitment is None:
        if data.amount_cents is None:
            raise ValidationFailed.field("amount_cents", "value_is_mandatory")
        commitment = MinimumCommitment(organization_id=plan.organization_id, plan_id=plan.id, taxes=[])
        session.add(commitment)
    if data.amount_cents is not None:
        commitment.amount_cents = data.amount_cents
    if data.given("invoice_display_name"):
        commitment.invoice_display_name = data.invoice_display_name
    if data.tax_codes is not None:
        commitment.taxes = resolve_codes(session, plan.organization_id, data.tax_codes)


# ---- plans -------------------------------------------------------------------------------------------


def create(session: Session, organization: Organization, data: PlanCreate) -> Plan:
    _ensure_code_free(session, organization, data.code)
    plan = Plan(
        organization_id=organization.id,
        name=data.name,
        code=data.code,
        description=data.description,
        invoice_display_name=data.invoice_display_name,
        interval=data.interval,
        amount_cents=data.amount_cents,
        amount_currency=data.amount_currency,
        pay_in_advance=bool(data.pay_in_advance),
        trial_period=data.trial_period,
        bill_charges_monthly=_monthly_flag(data.interval, data.bill_charges_monthly),
        bill_fixed_charges_monthly=_monthly_flag(data.interval, data.bill_fixed_charges_monthly),
        metadata_=data.metadata or {},
        taxes=resolve_codes(session, organization.id, data.tax_codes or []),
    )
    session.add(plan)
    session.flush()
    if data.usage_thresholds:
        sync_plan_thresholds(session, plan, data.usage_thresholds)
    taken: set[str] = set()
    for item in data.charges or []:
        charges.create_charge(session, plan, item, taken)
    # An empty commitment object on create means none (Lago ignores a blank one).
    if data.minimum_commitment is not None and data.minimum_commitment.model_fields_set:
        set_commitment(session, plan, data.minimum_commitment)
    versions.record_first(session, plan)
    return plan


_CHILD_KEYS = {"tax_codes", "charges", "minimum_commitment", "usage_thresholds", "metadata", "cascade_updates"}


def update(session: Session, organization: Organization, code: str, data: PlanUpdate) -> Plan:
    """Partial update; ``charges`` and ``usage_thresholds``, when given, are the full new sets."""
    plan = repository.get_plan(session, organization.id, code, for_update=True)
    changes = data.changes(exclude=_CHILD_KEYS)
    if "code" in changes and changes["code"] != plan.code:
        _ensure_code_free(session, organization, changes["code"])
    for key, value in changes.items():
        setattr(plan, key, value)
    plan.bill_charges_monthly = _monthly_flag(plan.interval, data.bill_charges_monthly, plan.bill_charges_monthly)
    plan.bill_fixed_charges_monthly = _monthly_flag(
        plan.interval, data.bill_fixed_charges_monthly, plan.bill_fixed_charges_monthly
    )
    if data.metadata is not None:
        plan.metadata_ = dict(data.metadata)
    if data.tax_codes is not None:
        plan.taxes = resolve_codes(session, organization.id, data.tax_codes)
    if data.usage_thresholds is not None:
        sync_plan_thresholds(session, plan, data.usage_thresholds)
    if data.charges is not None:
        charges.sync_charges(session, plan, data.charges)
    if data.minimum_commitment is not None:
        set_commitment(session, plan, data.minimum_commitment)
    record_version(session, plan, cascade=bool(data.cascade_updates))
    return plan


def delete(session: Session, organization: Organization, code: str) -> Plan:
    """Soft delete: the code becomes free; charges stay attached for the fees that refer to them.
    The plan's override copies (of subscriptions with ``plan_overrides``) go with it."""
    plan = repository.get_plan(session, organization.id, code, for_update=True)
    now = clock.now()
    for child in repository.children(session, plan):
        child.deleted_at = now
    plan.deleted_at = now
    session.flush()
    return plan


# ---- metadata ----------------------------------------------------------------------------------------


def update_metadata(session: Session, organization: Organization, code: str, change: Any) -> dict[str, Any]:
    """The metadata sub-endpoints (:func:`billow.core.metadata.add_routes`)."""
    plan = repository.get_plan(session, organization.id, code, for_update=True)
    plan.metadata_ = change(plan.metadata_)
    session.flush()
    return plan.metadata_  # type: ignore[no-any-return]


# ---- charge and charge filter sub-resources ----------------------------------------------------------


def _codes(plan: Plan, *, but: Charge | None = None) -> set[str]:
    return {charge.code for charge in plan.charges if charge is not but}


def create_charge(session: Session, organization: Organization, plan_code: str, data: ChargeIn) -> Charge:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    charge = charges.create_charge(session, plan, data, _codes(plan))
    record_version(session, plan, cascade=bool(data.cascade_updates))
    return charge


def update_charge(session: Session, organization: Organization, plan_code: str, code: str, data: ChargeIn) -> Charge:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    charge = repository.get_charge(session, plan, code)
    charges.update_charge(session, charge, data, _codes(plan, but=charge))
    record_version(session, plan, cascade=bool(data.cascade_updates))
    return charge


def delete_charge(session: Session, organization: Organization, plan_code: str, code: str, cascade: bool) -> Charge:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    charge = charges.delete_charge(repository.get_charge(session, plan, code))
    record_version(session, plan, cascade=cascade)
    return charge


def create_filter(session: Session, organization: Organization, plan_code: str, code: str, data: FilterIn) -> ChargeFilter:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    return create_filter_on(session, plan, code, data, cascade=bool(data.cascade_updates))


def update_filter(
    session: Session, organization: Organization, plan_code: str, code: str, filter_id: str, data: FilterIn
) -> ChargeFilter:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    return update_filter_on(session, plan, code, filter_id, data, cascade=bool(data.cascade_updates))


def delete_filter(
    session: Session, organization: Organization, plan_code: str, code: str, filter_id: str, cascade: bool
) -> ChargeFilter:
    plan = repository.get_plan(session, organization.id, plan_code, for_update=True)
    return delete_filter_on(session, plan, code, filter_id, cascade=cascade)


# The same on a plan row already found: a plan, or a subscription's override copy (its
# ``/subscriptions/{external_id}/charges/{code}/filters`` endpoints, always cascaded).


def create_filter_on(session: Session, plan: Plan, code: str, data: FilterIn, *, cascade: bool) -> ChargeFilter:
    charge_filter = charges.create_filter(session, repository.get_charge(session, plan, code), data)
    record_version(session, plan, cascade=cascade)
    return charge_filter


def update_filter_on(
    session: Session, plan: Plan, code: str, filter_id: str, data: FilterIn, *, cascade: bool
) -> ChargeFilter:
    charge = repository.get_charge(session, plan, code)
    charge_filter = charges.update_filter(charge, repository.get_filter(session, charge, filter_id), data)
    record_version(session, plan, cascade=cascade)
    return charge_filter


def delete_filter_on(session: Session, plan: Plan, code: str, filter_id: str, *, cascade: bool) -> ChargeFilter:
    charge = repository.get_charge(session, plan, code)
    charge_filter = charges.delete_filter(repository.get_filter(session, charge, filter_id))
    record_version(session, plan, cascade=cascade)
    return charge_filter
