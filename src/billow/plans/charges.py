"""Charges and charge filters: Lago's rules, shared by plan create/update and the sub-resources.

Writers here never record plan versions; their callers (billow.plans.service) do, once per request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ValidationFailed
from billow.models import BillableMetric, Charge, ChargeFilter, Plan
from billow.plans import repository
from billow.plans.schemas import ChargeIn, FilterIn
from billow.pricing.properties import (
    InvalidProperties,
    default_properties,
    parse_properties,
)
from billow.taxes.repository import resolve_codes

# A filter value matching every value of its key.
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"
# Aggregations whose charges may be billed per event (pay in advance).
PAY_IN_ADVANCE_AGGREGATIONS = frozenset({"count_agg", "sum_agg", "unique_count_agg", "custom_agg"})
# Charge models a prorated charge may use in arrears (in advance: standard only).
PRORATED_IN_ARREARS = frozenset({"standard", "graduated", "volume"})


class Errors:
    """422 details gathered across a charge and its filters, raised together."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, code: str) -> None:
        codes = self.details.setdefault(field, [])
        if code not in codes:
            codes.append(code)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(self.details)


@dataclass(frozen=True)
class ChargeTerms:
    """The flags of a charge as they will be once the request is applied."""

    metric: BillableMetric
    charge_model: str
    pay_in_advance: bool
    invoiceable: bool
    regroup_paid_fees: str | None
    prorated: bool
    min_amount_cents: int


def check_terms(terms: ChargeTerms, errors: Errors) -> None:
    """Which flags go with which charge model and aggregation (Lago's charge validations)."""
    aggregation = terms.metric.aggregation_type
    if terms.charge_model == "dynamic" and aggregation != "sum_agg":
        errors.add("charge_model", "invalid_aggregation_type_or_charge_model")
    if terms.charge_model in ("percentage", "graduated_percentage") and aggregation == "latest_agg":
        errors.add("properties", "invalid_value")
    if terms.pay_in_advance and (terms.charge_model == "volume" or aggregation not in PAY_IN_ADVANCE_AGGREGATIONS):
        errors.add("pay_in_advance", "invalid_aggregation_type_or_charge_model")
    if not terms.invoiceable and not terms.pay_in_advance:
        errors.add("invoiceable", "must_be_true_unless_pay_in_advance")
    if terms.regroup_paid_fees is not None and not (terms.pay_in_advance and not terms.invoiceable):
        errors.add("regroup_paid_fees", "only_compatible_with_pay_in_advance_and_non_invoiceable")
    if terms.pay_in_advance and terms.min_amount_cents > 0:
        errors.add("min_amount_cents", "not_compatible_with_pay_in_advance")
    if terms.prorated:
        allowed = terms.charge_model == "standard" if terms.pay_in_advance else terms.charge_model in PRORATED_IN_ARREARS
        if not (terms.metric.recurring and aggregation != "weighted_sum_agg" and allowed):
            errors.add("prorated", "invalid_billable_metric_or_charge_model")


def properties_json(charge_model: str, data: dict[str, Any] | None, errors: Errors) -> dict[str, Any]:
    """Validated wire JSON of the properties; an empty object takes the model's defaults."""
    try:
        parsed = parse_properties(charge_model, data) if data else default_properties(charge_model)
    except InvalidProperties as exc:
        for code in exc.codes:
            errors.add("properties", code)
        return {}
    return parsed.to_wire()


def derive_code(base: str, taken: set[str]) -> str:
    """The metric's code, or ``<code>_<n>`` with n above every suffix in use (Lago's scheme)."""
    if base not in taken:
        return base
    pattern = re.compile(re.escape(base) + r"_(\d+)")
    suffixes = [int(match.group(1)) for code in taken if (match := pattern.fullmatch(code))]
    return f"{base}_{max(suffixes, default=1) + 1}"


def _soft_delete(rows: Iterable[Charge | ChargeFilter]) -> None:
    now = clock.now()
    for row in rows:
        row.deleted_at = now


# ---- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterSpec:
    invoice_display_name: str | None
    values: dict[str, list[str]]
    properties: dict[str, Any]


def identity(values: dict[str, list[str]]) -> frozenset[tuple[str, frozenset[str]]]:
    """What makes two filters the same: their keys and value sets, whatever the order."""
    return frozenset((key, frozenset(items)) for key, items in values.items())


def check_values(metric: BillableMetric, values: dict[str, Any] | None, errors: Errors) -> dict[str, list[str]]:
    """Every key is a filter key of the metric; every value one of its values, or the wildcard alone."""
    if not values:
        errors.add("values", "value_is_mandatory")
        return {}
    allowed = {metric_filter.key: set(metric_filter.values) for metric_filter in metric.filters}
    for key, items in values.items():
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            errors.add("values", "value_is_invalid")
        elif not items:
            errors.add("values", "value_is_mandatory")
        elif key not in allowed or not (items == [ALL_FILTER_VALUES] or set(items) <= allowed[key]):
            errors.add("values", "value_is_invalid")
    return {key: list(dict.fromkeys(items)) for key, items in values.items() if isinstance(items, list)}


def check_filters(metric: BillableMetric, charge_model: str, items: list[FilterIn], errors: Errors) -> list[FilterSpec]:
    specs: list[FilterSpec] = []
    seen: set[frozenset[tuple[str, frozenset[str]]]] = set()
    for item in items:
        values = check_values(metric, item.values, errors)
        properties = properties_json_strict(charge_model, item.properties, errors)
        if values and identity(values) in seen:
            errors.add("values", "value_already_exist")
        seen.add(identity(values))
        specs.append(FilterSpec(item.invoice_display_name, values, properties))
    return specs


def properties_json_strict(charge_model: str, data: dict[str, Any] | None, errors: Errors) -> dict[str, Any]:
    """Filter properties: no defaults (an empty object is checked as such, as Lago does)."""
    try:
        return parse_properties(charge_model, data or {}).to_wire()
    except InvalidProperties as exc:
        for code in exc.codes:
            errors.add("properties", code)
        return {}


def new_filter(charge: Charge, spec: FilterSpec) -> ChargeFilter:
    return ChargeFilter(
        organization_id=charge.organization_id,
        charge_id=charge.id,
        invoice_display_name=spec.invoice_display_name,
        values=spec.values,
        properties=spec.properties,
    )


def sync_filters(session: Session, charge: Charge, specs: list[FilterSpec]) -> None:
    """Make the charge's filters exactly ``specs``; a filter keeps its id while its values stay."""
    existing = {identity(charge_filter.values): charge_filter for charge_filter in charge.filters}
    for spec in specs:
        current = existing.pop(identity(spec.values), None)
        if current is None:
            session.add(new_filter(charge, spec))
        else:
            current.values = spec.values
            current.properties = spec.properties
            current.invoice_display_name = spec.invoice_display_name
    _soft_delete(existing.values())


def create_filter(session: Session, charge: Charge, data: FilterIn) -> ChargeFilter:
    errors = Errors()
    spec = check_filters(charge.billable_metric, charge.charge_model, [data], errors)[0]
    if spec.values and any(identity(f.values) == identity(spec.values) for f in charge.filters):
        errors.add("values", "value_already_exist")
    errors.raise_if_any()
    charge_filter = new_filter(charge, spec)
    session.add(charge_filter)
    session.flush()
    return charge_filter


def update_filter(charge: Charge, charge_filter: ChargeFilter, data: FilterIn) -> ChargeFilter:
    errors = Errors()
    if data.values is not None:
        values = check_values(charge.billable_metric, data.values, errors)
        others = (f for f in charge.filters if f.id != charge_filter.id)
        if values and any(identity(f.values) == identity(values) for f in others):
            errors.add("values", "value_already_exist")
        charge_filter.values = values
    if data.properties is not None:
        charge_filter.properties = properties_json_strict(charge.charge_model, data.properties, errors)
    errors.raise_if_any()
    if data.given("invoice_display_name"):
        charge_filter.invoice_display_name = data.invoice_display_name
    return charge_filter


def delete_filter(charge_filter: ChargeFilter) -> ChargeFilter:
    _soft_delete([charge_filter])
    return charge_filter


# ---- charges -------------------------------------------------------------------------------------


def create_charge(session: Session, plan: Plan, data: ChargeIn, taken: set[str]) -> Charge:
    """A new charge of ``plan``; ``taken`` holds the codes in use in the plan and receives this one."""
    if data.billable_metric_id is None or data.charge_model is None:
        required = ("billable_metric_id", "charge_model")
        raise ValidationFailed({field: ["value_is_mandatory"] for field in required if getattr(data, field) is None})
    metric = repository.get_metric(session, plan.organization_id, data.billable_metric_id)
    errors = Errors()

    code = data.code or derive_code(metric.code, taken)
    if code in taken:
        errors.add("code", "value_already_exist")
    terms = ChargeTerms(
        metric=metric,
        charge_model=data.charge_model,
        pay_in_advance=bool(data.pay_in_advance),
        invoiceable=data.invoiceable is not False,
        regroup_paid_fees=data.regroup_paid_fees,
        prorated=bool(data.prorated),
        min_amount_cents=data.min_amount_cents or 0,
    )
    check_terms(terms, errors)
    properties = properties_json(data.charge_model, data.properties, errors)
    specs = check_filters(metric, data.charge_model, data.filters or [], errors)
    errors.raise_if_any()

    charge = Charge(
        organization_id=plan.organization_id,
        plan_id=plan.id,
        billable_metric_id=metric.id,
        code=code,
        invoice_display_name=data.invoice_display_name,
        charge_model=terms.charge_model,
        properties=properties,
        pay_in_advance=terms.pay_in_advance,
        invoiceable=terms.invoiceable,
        regroup_paid_fees=terms.regroup_paid_fees,
        prorated=terms.prorated,
        min_amount_cents=terms.min_amount_cents,
        taxes=resolve_codes(session, plan.organization_id, data.tax_codes or []),
    )
    session.add(charge)
    session.flush()
    session.add_all(new_filter(charge, spec) for spec in specs)
    session.flush()
    taken.add(code)
    return charge


def update_charge(session: Session, charge: Charge, data: ChargeIn, taken: set[str]) -> Charge:
    """Apply the keys ``data`` carries; ``taken`` holds the codes of the plan's other charges.

    The billable metric of a charge never changes (a different ``billable_metric_id`` is ignored,
    as Lago does). A new charge model without properties takes that model's defaults, and the
    charge's filters must fit it.
    """
    errors = Errors()
    charge_model = data.charge_model or charge.charge_model
    code = data.code or charge.code
    if code != charge.code and code in taken:
        errors.add("code", "value_already_exist")
    terms = ChargeTerms(
        metric=charge.billable_metric,
        charge_model=charge_model,
        pay_in_advance=charge.pay_in_advance if data.pay_in_advance is None else data.pay_in_advance,
        invoiceable=charge.invoiceable if data.invoiceable is None else data.invoiceable,
        regroup_paid_fees=data.regroup_paid_fees if data.given("regroup_paid_fees") else charge.regroup_paid_fees,
        prorated=charge.prorated if data.prorated is None else data.prorated,
        min_amount_cents=charge.min_amount_cents if data.min_amount_cents is None else data.min_amount_cents,
    )
    check_terms(terms, errors)
    properties = charge.properties
    if data.properties is not None or charge_model != charge.charge_model:
        properties = properties_json(charge_model, data.properties, errors)
    specs: list[FilterSpec] | None = None
    if data.filters is not None:
        specs = check_filters(charge.billable_metric, charge_model, data.filters, errors)
    elif charge_model != charge.charge_model:
        for charge_filter in charge.filters:
            properties_json_strict(charge_model, charge_filter.properties, errors)
    errors.raise_if_any()

    charge.code = code
    charge.charge_model = charge_model
    charge.properties = properties
    charge.pay_in_advance = terms.pay_in_advance
    charge.invoiceable = terms.invoiceable
    charge.regroup_paid_fees = terms.regroup_paid_fees
    charge.prorated = terms.prorated
    charge.min_amount_cents = terms.min_amount_cents
    if data.given("invoice_display_name"):
        charge.invoice_display_name = data.invoice_display_name
    if data.tax_codes is not None:
        charge.taxes = resolve_codes(session, charge.organization_id, data.tax_codes)
    if specs is not None:
        sync_filters(session, charge, specs)
    session.flush()
    taken.add(code)
    return charge


def delete_charge(charge: Charge) -> Charge:
    """Soft-delete the charge and its filters (fees keep pointing at them)."""
    _soft_delete([charge, *charge.filters])
    return charge


_COPIED = (
    "billable_metric_id", "code", "invoice_display_name", "charge_model", "properties", "pay_in_advance",
    "invoiceable", "regroup_paid_fees", "prorated", "min_amount_cents",
)


def copy_charge(session: Session, plan: Plan, charge: Charge) -> Charge:
    """A copy of ``charge`` (filters and taxes too) on ``plan``, an override copy of its plan."""
    copy = Charge(
        organization_id=plan.organization_id,
        plan_id=plan.id,
        parent_id=charge.id,
        taxes=list(charge.taxes),
        **{column: getattr(charge, column) for column in _COPIED},
    )
    session.add(copy)
    session.flush()
    session.add_all(new_filter(copy, FilterSpec(f.invoice_display_name, f.values, f.properties)) for f in charge.filters)
    return copy


def sync_charges(session: Session, plan: Plan, items: list[ChargeIn]) -> None:
    """Make the plan's charges exactly ``items``: an item whose ``id`` is a live charge of the
    plan updates it, any other item creates a charge (as Lago does with unknown ids), and live
    charges left out are deleted."""
    existing = {str(charge.id): charge for charge in plan.charges}
    matched = [(item, existing.pop(item.id, None) if item.id else None) for item in items]
    for charge in existing.values():
        delete_charge(charge)
    session.flush()
    taken = {charge.code for _, charge in matched if charge is not None}
    for item, charge in matched:
        if charge is None:
            create_charge(session, plan, item, taken)
        else:
            taken.discard(charge.code)
            update_charge(session, charge, item, taken)
