"""Plan overrides: a subscription's own copy of a plan (``plan_overrides`` on subscriptions).

The copy is a plan row with the parent's code and ``parent_id`` set (never listed nor found by
code: :mod:`billow.plans.repository` reads parents only), holding copies of the parent's charges
(each with ``parent_id``, the parent charge), charge filters, taxes, minimum commitment and
usage thresholds, then the overrides applied with the rules of plan create/update. It is
versioned like every plan, so a later edit of the parent never reprices it; an edit of the copy
itself is cascaded (the subscription on it bills with its new terms from then on).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.models import Charge, Plan
from billow.plans import charges, copies, service, versions
from billow.plans.schemas import PlanOverrides
from billow.taxes.repository import resolve_codes

# Plan columns an override may set directly (the rest are copied from the parent as they are).
_SCALARS = ("name", "invoice_display_name", "description", "amount_cents", "amount_currency", "trial_period")
# Plan columns a copy takes from its parent.
_COPIED = (
    "name", "code", "description", "invoice_display_name", "interval", "amount_cents", "amount_currency",
    "pay_in_advance", "trial_period", "bill_charges_monthly", "bill_fixed_charges_monthly",
)


def create(session: Session, parent: Plan, data: PlanOverrides) -> Plan:
    """The subscription's copy of ``parent`` with ``data`` applied (version 1 of the copy)."""
    child = Plan(
        organization_id=parent.organization_id,
        parent_id=parent.id,
        metadata_=dict(parent.metadata_),
        taxes=list(parent.taxes),
        **{column: getattr(parent, column) for column in _COPIED},
    )
    session.add(child)
    session.flush()
    for charge in parent.charges:
        charges.copy_charge(session, child, charge)
    copies.copy_commitment(session, child, parent.minimum_commitment)
    copies.copy_thresholds(session, child, parent.usage_thresholds)
    session.flush()
    session.expire(child)
    # As on plan create, an empty commitment object leaves the (copied) commitment alone.
    if data.minimum_commitment is not None and not data.minimum_commitment.model_fields_set:
        data = data.model_copy(update={"minimum_commitment": None})
    _apply(session, child, data)
    versions.record_first(session, child)
    return child


def update(session: Session, child: Plan, data: PlanOverrides) -> Plan:
    """Apply ``data`` to the subscription's existing copy; its new version is cascaded."""
    _apply(session, child, data)
    versions.record(session, child, cascade=True)
    return child


def _apply(session: Session, child: Plan, data: PlanOverrides) -> None:
    for key, value in data.changes().items():
        if key in _SCALARS:
            setattr(child, key, value)
    if data.metadata is not None:
        child.metadata_ = dict(data.metadata)
    if data.tax_codes is not None:
        child.taxes = resolve_codes(session, child.organization_id, data.tax_codes)
    if data.usage_thresholds is not None:
        service.sync_plan_thresholds(session, child, data.usage_thresholds)
    if data.minimum_commitment is not None:
        service.set_commitment(session, child, data.minimum_commitment)
    for item in data.charges or []:
        charge = _overridden(child, item.id)
        others = {other.code for other in child.charges if other is not charge}
        charges.update_charge(session, charge, item.as_charge(), others)


def _overridden(child: Plan, charge_id: str | None) -> Charge:
    """The copy's charge standing for the parent charge ``charge_id`` (its own id works too)."""
    for charge in child.charges:
        if charge_id in (str(charge.parent_id), str(charge.id)):
            return charge
    raise NotFound("charge")


__all__ = ["create", "update"]
