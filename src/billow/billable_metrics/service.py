from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.billable_metrics import repository
from billow.billable_metrics.schemas import (
    BillableMetricCreate,
    BillableMetricUpdate,
    EvaluateExpressionIn,
    FilterIn,
)
from billow.core import clock
from billow.core.errors import ErrorDetails, ValidationFailed
from billow.models import BillableMetric, BillableMetricFilter, Organization
from billow.plans import hooks
from billow.pricing.expression import ExpressionError, Value, parse

# Aggregations whose units cannot carry over from one period to the next.
NOT_RECURRING = frozenset({"count_agg", "max_agg", "latest_agg"})
# The columns a PUT may change; once charges price the metric, only these stay editable.
COLUMNS = (
    "name", "code", "description", "aggregation_type", "field_name", "recurring",
    "weighted_interval", "rounding_function", "rounding_precision", "expression",
)
EDITABLE_WHEN_PRICED = frozenset({"name", "description"})


def _normalise(state: dict[str, Any]) -> dict[str, Any]:
    """Apply the defaults that depend on the aggregation type."""
    aggregation = state["aggregation_type"]
    if aggregation == "count_agg":
        state["field_name"] = None
    if aggregation == "weighted_sum_agg":
        state["weighted_interval"] = state.get("weighted_interval") or "seconds"
    else:
        state["weighted_interval"] = None
    return state


def _check(session: Session, organization: Organization, state: dict[str, Any], current: BillableMetric | None) -> None:
    """Every rule on the metric's final state, all errors reported at once."""
    errors: ErrorDetails = {}
    if state["aggregation_type"] != "count_agg" and not (state.get("field_name") or "").strip():
        errors["field_name"] = ["value_is_mandatory"]
    if state.get("recurring") and state["aggregation_type"] in NOT_RECURRING:
        errors["recurring"] = ["not_compatible_with_aggregation_type"]
    if current is None or state["code"] != current.code:
        taken = repository.find_by_code(session, organization.id, state["code"])
        if taken is not None:
            errors["code"] = ["value_already_exist"]
    if errors:
        raise ValidationFailed(errors)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Only the live-code unique index can fail here: a concurrent request took the code.
        raise ValidationFailed.field("code", "value_already_exist") from None


def _replace_filters(metric: BillableMetric, filters: list[FilterIn]) -> None:
    """Make the metric's filters exactly `filters`, keeping the rows of keys that stay."""
    wanted = {item.key: item.values for item in filters}
    for existing in list(metric.filters):
        if existing.key not in wanted:
            metric.filters.remove(existing)
        else:
            existing.values = wanted.pop(existing.key)
    for key, values in wanted.items():
        metric.filters.append(BillableMetricFilter(key=key, values=values))


def create(session: Session, organization: Organization, data: BillableMetricCreate) -> BillableMetric:
    state = _normalise(data.model_dump(include=set(COLUMNS)))
    _check(session, organization, state, None)
    metric = BillableMetric(organization_id=organization.id, **state)
    _replace_filters(metric, data.filters or [])
    session.add(metric)
    _flush(session)
    return metric


def update(session: Session, organization: Organization, code: str, data: BillableMetricUpdate) -> BillableMetric:
    metric = repository.get(session, organization.id, code)
    changes = data.changes(exclude={"filters"})
    if repository.plans_count(session, metric.id):
        # Charges price this metric: what it measures is frozen, as Lago clients expect (the
        # other keys are ignored, not refused, so idempotent setup scripts keep working).
        changes = {key: value for key, value in changes.items() if key in EDITABLE_WHEN_PRICED}
    state = _normalise({column: getattr(metric, column) for column in COLUMNS} | changes)
    _check(session, organization, state, metric)
    for column, value in state.items():
        if getattr(metric, column) != value:
            setattr(metric, column, value)
    if data.filters is not None:
        _replace_filters(metric, data.filters)
    _flush(session)
    if data.filters is not None:
        hooks.metric_filters_changed(session, metric)
    return metric


def delete(session: Session, organization: Organization, code: str) -> BillableMetric:
    metric = repository.get(session, organization.id, code)
    metric.deleted_at = clock.now()
    session.flush()
    hooks.metric_deleted(session, metric)
    return metric


def evaluate_expression(data: EvaluateExpressionIn) -> Value:
    """The expression's value on a sample event (the event's time defaults to now)."""
    event = data.event
    sample = {
        "code": None if event.code is None else str(event.code),
        "timestamp": clock.now() if event.timestamp is None else event.timestamp,
        "properties": event.properties,
    }
    try:
        return parse(data.expression).evaluate(sample)
    except ExpressionError:
        raise ValidationFailed.field("event", "invalid_event") from None
