"""Lago's customer usage objects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.core.wire import iso_utc
from billow.usage.charges import ChargeUsage, serialize_bucket
from billow.usage.history import Projection
from billow.usage.service import Usage


def _charge_out(usage: ChargeUsage, currency: str) -> dict[str, Any]:
    charge, metric = usage.charge, usage.metric
    grouped = [b for b in usage.buckets if b.group]
    return {
        "units": str(usage.units),
        "total_aggregated_units": str(sum((b.total_aggregated_units for b in usage.buckets), 0)),
        "events_count": usage.events_count,
        "amount_cents": usage.amount_cents,
        "amount_currency": currency,
        "pricing_unit_details": None,
        "charge": {"lago_id": str(charge.id), "code": charge.code, "charge_model": charge.charge_model,
                   "invoice_display_name": charge.invoice_display_name},
        "billable_metric": {"lago_id": str(metric.id), "name": metric.name, "code": metric.code,
                            "aggregation_type": metric.aggregation_type},
        "filters": [serialize_bucket(b, charge, currency) for b in usage.buckets
                    if charge.filters and not b.group],
        "grouped_usage": [{**serialize_bucket(b, charge, currency), "grouped_by": b.group, "filters": []}
                          for b in grouped],
        "presentation_breakdowns": [],
    }


def usage_out(usage: Usage) -> dict[str, Any]:
    return {
        "from_datetime": iso_utc(usage.from_datetime),
        "to_datetime": iso_utc(usage.to_datetime),
        "issuing_date": usage.issuing_date.isoformat(),
        "lago_invoice_id": None,
        "currency": usage.currency,
        "amount_cents": usage.amount_cents,
        "taxes_amount_cents": usage.taxes_amount_cents,
        "total_amount_cents": usage.amount_cents + usage.taxes_amount_cents,
        "charges_usage": [_charge_out(charge, usage.currency) for charge in usage.charges],
    }


def projected_out(projection: Projection) -> dict[str, Any]:
    usage = projection.usage
    body = usage_out(usage)
    body["projected_amount_cents"] = projection.projected_amount_cents
    for index, charge_body in enumerate(body["charges_usage"]):
        buckets = projection.buckets[index]
        charge_body["projected_units"] = str(sum((units for units, _ in buckets), Decimal(0)))
        charge_body["projected_amount_cents"] = sum(cents for _, cents in buckets)
        charge_body["projected_presentation_breakdowns"] = []
        plain = [pair for pair, bucket in zip(buckets, usage.charges[index].buckets, strict=True) if not bucket.group]
        for filter_body, (units, cents) in zip(charge_body["filters"], plain if charge_body["filters"] else [],
                                               strict=True):
            filter_body["projected_units"], filter_body["projected_amount_cents"] = str(units), cents
        grouped = [pair for pair, bucket in zip(buckets, usage.charges[index].buckets, strict=True) if bucket.group]
        for group_body, (units, cents) in zip(charge_body["grouped_usage"], grouped, strict=True):
            group_body["projected_units"], group_body["projected_amount_cents"] = str(units), cents
    return body
