"""A plan edit made with ``cascade_updates: true`` reaches the plan's override copies too.

Each copy takes a change of its parent only where the copy still has what the parent had before
the edit: what the subscription's overrides set stays. The units compared are the plan's terms
one by one (its taxes, its minimum commitment and its usage thresholds each taken whole), and per
charge its pricing (model, properties and filters together), its minimum amount, its flags and its
taxes; a charge added to the parent is copied, one removed from it is removed
from the copies. Each copy changed gets a new version, cascaded (its subscription bills with it).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from billow.models import Charge, Plan
from billow.plans import charges, copies, repository, versions

_PLAN_TERMS = ("interval", "amount_cents", "amount_currency", "pay_in_advance", "trial_period", "bill_charges_monthly")
_CHARGE_UNITS = (
    ("charge_model", "properties", "filters"),
    ("min_amount_cents",),
    ("pay_in_advance", "invoiceable", "regroup_paid_fees", "prorated"),
    ("tax_codes",),
)


def _take_taxes(session: Session, parent: Plan, child: Plan) -> None:
    child.taxes = list(parent.taxes)


def _take_commitment(session: Session, parent: Plan, child: Plan) -> None:
    copies.replace_commitment(session, child, parent.minimum_commitment)


def _take_thresholds(session: Session, parent: Plan, child: Plan) -> None:
    copies.replace_thresholds(session, child, parent.usage_thresholds)


# Plan terms held in rows of their own, each taken whole from the parent (the snapshot key, how).
_PLAN_PARTS = (
    ("tax_codes", _take_taxes),
    ("minimum_commitment", _take_commitment),
    ("usage_thresholds", _take_thresholds),
)


def _filters(data: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(f["values"], f["properties"]) for f in data["filters"]]


def _unit(data: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_filters(data) if key == "filters" else data[key] for key in keys)


def _charge(session: Session, copy: Charge, source: Charge, was: dict[str, Any], now: dict[str, Any]) -> None:
    mine = versions.charge_snapshot(copy)
    for keys in _CHARGE_UNITS:
        if _unit(was, keys) == _unit(now, keys) or _unit(mine, keys) != _unit(was, keys):
            continue
        for key in keys:
            if key == "filters":
                specs = [charges.FilterSpec(f.invoice_display_name, f.values, f.properties) for f in source.filters]
                charges.sync_filters(session, copy, specs)
            elif key == "tax_codes":
                copy.taxes = list(source.taxes)
            else:
                setattr(copy, key, getattr(source, key))


def _copy(session: Session, parent: Plan, child: Plan, before: dict[str, Any], after: dict[str, Any]) -> None:
    mine = versions.snapshot(child)
    for key in _PLAN_TERMS:
        if before[key] != after[key] and mine[key] == before[key]:
            setattr(child, key, getattr(parent, key))
    for key, take in _PLAN_PARTS:
        if before[key] != after[key] and mine[key] == before[key]:
            take(session, parent, child)
    old = {charge["id"]: charge for charge in before["charges"]}
    new = {charge["id"]: charge for charge in after["charges"]}
    copies = {str(charge.parent_id): charge for charge in child.charges}
    for charge_id, was in old.items():
        copy = copies.get(charge_id)
        if copy is None:
            continue
        if charge_id not in new:
            charges.delete_charge(copy)
        else:
            _charge(session, copy, session.get_one(Charge, uuid.UUID(charge_id)), was, new[charge_id])
    for charge_id in new.keys() - old.keys():
        charges.copy_charge(session, child, session.get_one(Charge, uuid.UUID(charge_id)))
    versions.record(session, child, cascade=True)


def record_version(session: Session, plan: Plan, *, cascade: bool) -> None:
    """Record the plan's new version (:func:`billow.plans.versions.record`); cascaded, carry the
    change to its override copies."""
    version = versions.record(session, plan, cascade=cascade)
    if version is None or not cascade:
        return
    before = repository.get_version(session, plan.id, version.version - 1).snapshot
    for child in repository.children(session, plan):
        _copy(session, plan, child, before, version.snapshot)
