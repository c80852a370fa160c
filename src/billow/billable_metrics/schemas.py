from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictStr, field_validator

from billow.core.wire import UtcDateTime, WireIn, WireOut, lago_error
from billow.pricing.expression import ExpressionError, parse

AggregationType = Literal["count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg"]
RoundingFunction = Literal["round", "ceil", "floor"]
WeightedInterval = Literal["seconds"]


def _present(value: str) -> str:
    if not value.strip():
        raise lago_error("value_is_mandatory")
    return value


def _parses(value: str) -> str:
    try:
        parse(value)
    except ExpressionError:
        raise lago_error("invalid_expression") from None
    return value


def _optional_expression(value: str) -> str | None:
    """A blank expression means "no expression" (the way to remove one on update)."""
    return _parses(value) if value.strip() else None


def _filter_values(values: list[str]) -> list[str]:
    if not values:
        raise lago_error("value_is_mandatory")
    return list(dict.fromkeys(values))


def _whole(value: Any) -> Any:
    """Refuse what pydantic's lax int would coerce (true -> 1) or report without a Lago code (1.5)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise lago_error("value_is_invalid")
    return value


Name = Annotated[str, Field(max_length=255), AfterValidator(_present)]
ExpressionText = Annotated[str, AfterValidator(_optional_expression)]
# Decimal places of the rounding; negative rounds to tens, hundreds, ...
RoundingPrecision = Annotated[int, BeforeValidator(_whole), Field(ge=-100, le=100)]


class FilterIn(WireIn):
    key: Name
    values: Annotated[list[StrictStr], AfterValidator(_filter_values)]


class _MetricFields(WireIn):
    """Fields optional on both create and update."""

    description: str | None = None
    field_name: Annotated[str, Field(max_length=255)] | None = None
    recurring: bool | None = None
    weighted_interval: WeightedInterval | None = None
    rounding_function: RoundingFunction | None = None
    rounding_precision: RoundingPrecision | None = None
    expression: ExpressionText | None = None
    filters: list[FilterIn] | None = None

    @field_validator("filters")
    @classmethod
    def _unique_keys(cls, filters: list[FilterIn] | None) -> list[FilterIn] | None:
        keys = [item.key for item in filters or ()]
        if len(set(keys)) != len(keys):
            raise lago_error("value_already_exist")
        return filters


class BillableMetricCreate(_MetricFields):
    name: Name
    code: Name
    aggregation_type: AggregationType
    recurring: bool = False


class BillableMetricUpdate(_MetricFields):
    name: Name | None = None
    code: Name | None = None
    aggregation_type: AggregationType | None = None


class ExpressionEvent(WireIn):
    code: Any = None
    # Epoch seconds; when absent, the time of the request.
    timestamp: Any = None
    properties: dict[str, Any] = Field(default_factory=dict)


class EvaluateExpressionIn(WireIn):
    expression: Annotated[str, AfterValidator(_present), AfterValidator(_parses)]
    event: ExpressionEvent = Field(default_factory=ExpressionEvent)


class FilterOut(WireOut):
    key: str
    values: list[str]


class BillableMetricOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    name: str
    code: str
    description: str | None
    aggregation_type: str
    field_name: str | None
    recurring: bool
    weighted_interval: str | None
    rounding_function: str | None
    rounding_precision: int | None
    expression: str | None
    filters: list[FilterOut]
    created_at: UtcDateTime
    # Deprecated counters Lago clients still read.
    active_subscriptions_count: int = 0
    draft_invoices_count: int = 0
    plans_count: int = 0

    @field_validator("filters")
    @classmethod
    def _by_key(cls, filters: list[FilterOut]) -> list[FilterOut]:
        return sorted(filters, key=lambda item: item.key)


def dump_metric(metric: Any, plans_count: int) -> dict[str, Any]:
    out = BillableMetricOut.model_validate(metric)
    out.plans_count = plans_count
    return out.model_dump(mode="json")


def decimal_text(value: Decimal) -> str:
    """A decimal as Lago's wire shows computed values: plain notation, no trailing zeros, and
    at least one decimal (2 -> "2.0", 12.50 -> "12.5", 0.0000001 -> "0.0000001")."""
    text = format(value.copy_abs() if value.is_zero() else value, "f")
    if "." in text:
        text = text.rstrip("0")
        return text + "0" if text.endswith(".") else text
    return text + ".0"


def expression_value(value: Decimal | str) -> str:
    return value if isinstance(value, str) else decimal_text(value)
