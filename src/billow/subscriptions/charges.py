"""A subscription's charges (``/subscriptions/{external_id}/charges``): those of the plan it is
priced on, its override copy when it has one (:mod:`billow.plans.overrides`), else its plan.

Writes always go to the override copy, made from the subscription's plan on the first write, and
use the plans domain's own rules: a charge through ``plan_overrides.charges`` (so only what Lago
lets a subscription override changes), a filter through the plans service's filter writers.
Each write that changes pricing is a cascaded version of the copy: the subscription bills with it
from then on, the parent plan and its other subscriptions are left alone.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.models import Charge, ChargeFilter, Organization, Plan, Subscription
from billow.plans import charges as plan_charges
from billow.plans import repository as plans
from billow.plans import service as plans_service
from billow.plans.schemas import ChargeOverrideIn, FilterIn, PlanOverrides
from billow.subscriptions import repository, service
from billow.subscriptions.schemas import STATUSES


def find(session: Session, organization: Organization, external_id: str, status: str | None) -> Subscription:
    """The newest subscription with this external id and ``subscription_status`` (default active)."""
    status = status or "active"
    found = repository.find_with_status(session, organization.id, external_id, status) if status in STATUSES else None
    if found is None:
        raise NotFound("subscription")
    return found


def charge(session: Session, subscription: Subscription, code: str) -> Charge:
    """The charge ``code`` the subscription is priced with (404 charge_not_found)."""
    return plans.get_charge(session, subscription.plan, code)


def charge_filter(session: Session, subscription: Subscription, code: str, filter_id: str) -> ChargeFilter:
    return plans.get_filter(session, charge(session, subscription, code), filter_id)


def _own_plan(session: Session, subscription: Subscription) -> Plan:
    """The subscription's override copy, made now (with nothing overridden yet) if it has none."""
    if subscription.plan.parent_id is None:
        service.override(session, subscription, PlanOverrides())
    return subscription.plan


def override_charge(session: Session, subscription: Subscription, code: str, data: ChargeOverrideIn) -> Charge:
    """``PUT .../charges/{code}``: the subscription's charge with ``data`` applied."""
    current = charge(session, subscription, code)
    item = ChargeOverrideIn.model_validate({**data.model_dump(exclude_unset=True), "id": str(current.id)})
    service.override(session, subscription, PlanOverrides(charges=[item]))
    return charge(session, subscription, code)


def create_filter(session: Session, subscription: Subscription, code: str, data: FilterIn) -> ChargeFilter:
    charge(session, subscription, code)  # unknown charge: 404 before any copy is made
    return plans_service.create_filter_on(session, _own_plan(session, subscription), code, data, cascade=True)


def _copied_filter(session: Session, subscription: Subscription, code: str, filter_id: str) -> tuple[Plan, str]:
    """The override copy and the id there of the filter ``filter_id`` the subscription is priced
    with: a filter of the plan stands for the copy's filter with the same values."""
    found = charge_filter(session, subscription, code, filter_id)
    if subscription.plan.parent_id is not None:
        return subscription.plan, filter_id
    plan = _own_plan(session, subscription)
    copied = plans.get_charge(session, plan, code)
    same = plan_charges.identity(found.values)
    return plan, next(str(f.id) for f in copied.filters if plan_charges.identity(f.values) == same)


def update_filter(
    session: Session, subscription: Subscription, code: str, filter_id: str, data: FilterIn
) -> ChargeFilter:
    plan, own_id = _copied_filter(session, subscription, code, filter_id)
    return plans_service.update_filter_on(session, plan, code, own_id, data, cascade=True)


def delete_filter(session: Session, subscription: Subscription, code: str, filter_id: str) -> ChargeFilter:
    plan, own_id = _copied_filter(session, subscription, code, filter_id)
    return plans_service.delete_filter_on(session, plan, code, own_id, cascade=True)
