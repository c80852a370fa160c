"""Lago's customer usage objects."""

from __future__ import annotations

from typing import Any

from billow.core.wire import iso_utc
from billow.usage.charges import ChargeUsage, serialize_bucket
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
                   "invoice_display_name": None},
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
