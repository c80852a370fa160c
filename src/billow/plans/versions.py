"""Plan versions: numbered, immutable snapshots of everything a plan prices with.

Version 1 is written when the plan is created. After any change (plan PUT, a charge or charge
filter sub-resource call, a billable metric losing filter values or being deleted) the pricing
snapshot is built again; when it differs from the newest version, version N+1 is written and
``plan.version`` moves to it. Changes of name, description, display names or metadata leave the
snapshot, and so the version, unchanged.

Subscriptions pin the version of their plan current when they start, and bill from that
version's snapshot (``version_snapshot``). A subscription moves to a newer version only when
that version was written with ``cascade_updates: true`` (``PlanVersion.cascade``); otherwise
existing subscriptions keep their prices and only new subscriptions get the new ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.models import Charge, Plan, PlanVersion
from billow.plans import repository
from billow.pricing.properties import AnyProperties, parse_properties


def _tax_codes(owner: Any) -> list[str]:
    return sorted(tax.code for tax in owner.taxes)


def charge_snapshot(charge: Charge) -> dict[str, Any]:
    return {
        "id": str(charge.id),
        "code": charge.code,
        "billable_metric_id": str(charge.billable_metric_id),
        "charge_model": charge.charge_model,
        "pay_in_advance": charge.pay_in_advance,
        "invoiceable": charge.invoiceable,
        "regroup_paid_fees": charge.regroup_paid_fees,
        "prorated": charge.prorated,
        "min_amount_cents": charge.min_amount_cents,
        "properties": charge.properties,
        "tax_codes": _tax_codes(charge),
        "filters": [{"id": str(f.id), "values": f.values, "properties": f.properties} for f in charge.filters],
    }


def snapshot(plan: Plan) -> dict[str, Any]:
    """The plan's pricing as JSON (what versions store and compare)."""
    commitment = plan.minimum_commitment
    return {
        "interval": plan.interval,
        "amount_cents": plan.amount_cents,
        "amount_currency": plan.amount_currency,
        "pay_in_advance": plan.pay_in_advance,
        "trial_period": None if plan.trial_period is None else str(plan.trial_period),
        "bill_charges_monthly": plan.bill_charges_monthly,
        "tax_codes": _tax_codes(plan),
        "charges": [charge_snapshot(charge) for charge in sorted(plan.charges, key=lambda c: c.code)],
        "minimum_commitment": None
        if commitment is None
        else {"amount_cents": commitment.amount_cents, "tax_codes": _tax_codes(commitment)},
        "usage_thresholds": [
            {"amount_cents": t.amount_cents, "recurring": t.recurring}
            for t in sorted(plan.usage_thresholds, key=lambda t: (t.recurring, t.amount_cents))
        ],
    }


def _current(session: Session, plan: Plan) -> dict[str, Any]:
    # The plan's child collections are read-only views: reload them from what was just written.
    session.flush()
    session.expire_all()
    return snapshot(plan)


def record_first(session: Session, plan: Plan) -> PlanVersion:
    plan.version = 1
    version = PlanVersion(organization_id=plan.organization_id, plan_id=plan.id, version=1, snapshot=_current(session, plan))
    session.add(version)
    session.flush()
    return version


def record(session: Session, plan: Plan, *, cascade: bool = False) -> PlanVersion | None:
    """Write version N+1 if the plan's pricing differs from its newest version."""
    current = _current(session, plan)
    newest = repository.version(session, plan.id, plan.version)
    if newest is not None and newest.snapshot == current:
        return None
    plan.version += 1
    version = PlanVersion(
        organization_id=plan.organization_id, plan_id=plan.id, version=plan.version, cascade=cascade, snapshot=current
    )
    session.add(version)
    session.flush()
    return version


# ---- typed snapshots, for subscriptions and billing -----------------------------------------


@dataclass(frozen=True)
class FilterPrice:
    id: uuid.UUID
    values: dict[str, list[str]]
    properties: AnyProperties
    invoice_display_name: str | None = None  # a label, not pricing: see with_display_names


@dataclass(frozen=True)
class ChargePrice:
    id: uuid.UUID
    code: str
    billable_metric_id: uuid.UUID
    charge_model: str
    pay_in_advance: bool
    invoiceable: bool
    regroup_paid_fees: str | None
    prorated: bool
    min_amount_cents: int
    properties: AnyProperties
    tax_codes: tuple[str, ...]
    filters: tuple[FilterPrice, ...]
    invoice_display_name: str | None = None  # a label, not pricing: see with_display_names


@dataclass(frozen=True)
class CommitmentPrice:
    amount_cents: int
    tax_codes: tuple[str, ...]


@dataclass(frozen=True)
class ThresholdPrice:
    amount_cents: int
    recurring: bool


@dataclass(frozen=True)
class PlanSnapshot:
    plan_id: uuid.UUID
    version: int
    cascade: bool
    interval: str
    amount_cents: int
    amount_currency: str
    pay_in_advance: bool
    trial_period: Decimal | None
    bill_charges_monthly: bool | None
    tax_codes: tuple[str, ...]
    charges: tuple[ChargePrice, ...]
    minimum_commitment: CommitmentPrice | None
    usage_thresholds: tuple[ThresholdPrice, ...]


def _typed_charge(data: dict[str, Any]) -> ChargePrice:
    model = data["charge_model"]
    return ChargePrice(
        id=uuid.UUID(data["id"]),
        code=data["code"],
        billable_metric_id=uuid.UUID(data["billable_metric_id"]),
        charge_model=model,
        pay_in_advance=data["pay_in_advance"],
        invoiceable=data["invoiceable"],
        regroup_paid_fees=data["regroup_paid_fees"],
        prorated=data["prorated"],
        min_amount_cents=data["min_amount_cents"],
        properties=parse_properties(model, data["properties"]),
        tax_codes=tuple(data["tax_codes"]),
        filters=tuple(
            FilterPrice(uuid.UUID(f["id"]), f["values"], parse_properties(model, f["properties"])) for f in data["filters"]
        ),
    )


def typed(version: PlanVersion) -> PlanSnapshot:
    data = version.snapshot
    commitment = data["minimum_commitment"]
    return PlanSnapshot(
        plan_id=version.plan_id,
        version=version.version,
        cascade=version.cascade,
        interval=data["interval"],
        amount_cents=data["amount_cents"],
        amount_currency=data["amount_currency"],
        pay_in_advance=data["pay_in_advance"],
        trial_period=None if data["trial_period"] is None else Decimal(data["trial_period"]),
        bill_charges_monthly=data["bill_charges_monthly"],
        tax_codes=tuple(data["tax_codes"]),
        charges=tuple(_typed_charge(charge) for charge in data["charges"]),
        minimum_commitment=None
        if commitment is None
        else CommitmentPrice(commitment["amount_cents"], tuple(commitment["tax_codes"])),
        usage_thresholds=tuple(ThresholdPrice(t["amount_cents"], t["recurring"]) for t in data["usage_thresholds"]),
    )


def with_display_names(session: Session, snapshot: PlanSnapshot) -> PlanSnapshot:
    """``snapshot`` with the display names its charges and their filters have now. Names label
    fees and usage, they do not price: a version does not keep them (renaming a charge makes no
    version), and every version shows the current name, as Lago does."""
    names = repository.display_names(session, [charge.id for charge in snapshot.charges])
    if not names:
        return snapshot
    return replace(snapshot, charges=tuple(
        replace(charge, invoice_display_name=names.get(charge.id),
                filters=tuple(replace(f, invoice_display_name=names.get(f.id)) for f in charge.filters))
        for charge in snapshot.charges))


def version_for_new_subscription(plan: Plan) -> int:
    """A subscription starting now prices with the plan's newest version."""
    return plan.version


def effective_version(session: Session, plan: Plan, pinned: int) -> int:
    """The version a subscription pinned at ``pinned`` bills with now.

    It keeps its version through ordinary edits; an edit made with ``cascade_updates: true``
    moves it (and every other existing subscription) forward to that edit's version.
    """
    cascaded = repository.newest_cascaded_version(session, plan.id, pinned)
    return pinned if cascaded is None else cascaded


def version_snapshot(session: Session, plan: Plan, version: int | None = None) -> PlanSnapshot:
    """The typed pricing of ``plan`` at ``version`` (default: its newest), properties parsed.

    Raises NotFound("plan_version") for a version the plan does not have.
    """
    return typed(repository.get_version(session, plan.id, plan.version if version is None else version))
