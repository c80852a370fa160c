"""Queries of the plans domain (plans, charges, charge filters, versions)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.core.repository import find, newest_first, parse_uuid, scoped
from billow.models import BillableMetric, Charge, ChargeFilter, Plan, PlanVersion

# ---- plans --------------------------------------------------------------------------------------


def _parents(organization_id: uuid.UUID) -> Select[tuple[Plan]]:
    """The organization's live plans, without the per-subscription override copies."""
    return scoped(Plan, organization_id).where(Plan.parent_id.is_(None))


def find_plan(session: Session, organization_id: uuid.UUID, code: str) -> Plan | None:
    return session.scalar(_parents(organization_id).where(Plan.code == code).limit(1))


def get_plan(session: Session, organization_id: uuid.UUID, code: str, *, for_update: bool = False) -> Plan:
    """A live plan of the organization by code (404 plan_not_found); ``for_update`` locks its row
    on PostgreSQL so concurrent edits number their versions one after the other."""
    stmt = _parents(organization_id).where(Plan.code == code)
    if for_update:
        stmt = stmt.with_for_update()
    plan = session.scalar(stmt.limit(1))
    if plan is None:
        raise NotFound("plan")
    return plan


def list_query(organization_id: uuid.UUID) -> Select[tuple[Plan]]:
    return newest_first(_parents(organization_id), Plan)


def children(session: Session, plan: Plan) -> Sequence[Plan]:
    """The live override copies of ``plan``."""
    return session.scalars(scoped(Plan, plan.organization_id).where(Plan.parent_id == plan.id)).all()


# ---- billable metrics (read only: the billable metrics domain owns them) ------------------------


def get_metric(session: Session, organization_id: uuid.UUID, lago_id: str) -> BillableMetric:
    """A live billable metric of the organization by ``lago_id`` (404 billable_metric_not_found)."""
    metric = find(session, BillableMetric, organization_id, id=parse_uuid(lago_id, "billable_metric"))
    if metric is None:
        raise NotFound("billable_metric")
    return metric


# ---- charges -----------------------------------------------------------------------------------


def _live_charges(plan_id: uuid.UUID) -> Select[tuple[Charge]]:
    return select(Charge).where(Charge.plan_id == plan_id, Charge.deleted_at.is_(None))


def charges_query(plan: Plan) -> Select[tuple[Charge]]:
    return _live_charges(plan.id).order_by(Charge.created_at, Charge.id)


def get_charge(session: Session, plan: Plan, code: str) -> Charge:
    charge = session.scalar(_live_charges(plan.id).where(Charge.code == code).limit(1))
    if charge is None:
        raise NotFound("charge")
    return charge


def charges_of_metric(session: Session, metric_id: uuid.UUID) -> Sequence[Charge]:
    return session.scalars(
        select(Charge).where(Charge.billable_metric_id == metric_id, Charge.deleted_at.is_(None))
    ).all()


# ---- charge filters ----------------------------------------------------------------------------


def _live_filters(charge_id: uuid.UUID) -> Select[tuple[ChargeFilter]]:
    return select(ChargeFilter).where(ChargeFilter.charge_id == charge_id, ChargeFilter.deleted_at.is_(None))


def filters_query(charge: Charge) -> Select[tuple[ChargeFilter]]:
    return _live_filters(charge.id).order_by(ChargeFilter.created_at, ChargeFilter.id)


def get_filter(session: Session, charge: Charge, lago_id: str) -> ChargeFilter:
    charge_filter = session.scalar(
        _live_filters(charge.id).where(ChargeFilter.id == parse_uuid(lago_id, "charge_filter")).limit(1)
    )
    if charge_filter is None:
        raise NotFound("charge_filter")
    return charge_filter


# ---- versions ----------------------------------------------------------------------------------


def versions_query(plan: Plan) -> Select[tuple[PlanVersion]]:
    return select(PlanVersion).where(PlanVersion.plan_id == plan.id).order_by(PlanVersion.version.desc())


def version(session: Session, plan_id: uuid.UUID, number: int) -> PlanVersion | None:
    return session.scalar(select(PlanVersion).where(PlanVersion.plan_id == plan_id, PlanVersion.version == number))


def newest_cascaded_version(session: Session, plan_id: uuid.UUID, after: int) -> int | None:
    """The highest version above ``after`` written with ``cascade_updates``, if any."""
    return session.scalar(
        select(func.max(PlanVersion.version)).where(
            PlanVersion.plan_id == plan_id, PlanVersion.version > after, PlanVersion.cascade.is_(True)
        )
    )


def get_version(session: Session, plan_id: uuid.UUID, number: int) -> PlanVersion:
    found = version(session, plan_id, number)
    if found is None:
        raise NotFound("plan_version")
    return found


def display_names(session: Session, charge_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The ``invoice_display_name`` of these charges and of their filters, by id (deleted ones too)."""
    if not charge_ids:
        return {}
    names: dict[uuid.UUID, str | None] = {}
    for query in (select(Charge.id, Charge.invoice_display_name).where(Charge.id.in_(charge_ids)),
                  select(ChargeFilter.id, ChargeFilter.invoice_display_name)
                  .where(ChargeFilter.charge_id.in_(charge_ids))):
        names.update((id_, name) for id_, name in session.execute(query))
    return names
