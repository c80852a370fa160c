"""Which event properties the aggregates of a metric keep apart, and when they must be rebuilt.

A metric's *profile* is its aggregation type, field name and dimension keys: the metric's filter
keys plus every ``pricing_group_keys`` its charges (and charge filters) use on any plan. Aggregates
are stored per distinct value of those keys; when the profile changes they are rebuilt from the
raw events (:func:`billow.usage.rebuild.rebuild`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from billow.models import BillableMetric, Charge, ChargeFilter, Plan, UsageProfile
from billow.pricing.aggregation import event_text


@dataclass(frozen=True)
class Profile:
    code: str
    aggregation_type: str
    field_name: str | None
    expression: str | None
    dim_keys: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return json.dumps([self.aggregation_type, self.field_name, list(self.dim_keys)])

    @property
    def keeps_tail(self) -> bool:
        """Whether the aggregates keep level-seconds (``tail``): only a weighted sum reads them."""
        return self.aggregation_type == "weighted_sum_agg"

    @property
    def keeps_values(self) -> bool:
        return self.aggregation_type == "unique_count_agg"

    def dims(self, properties: dict[str, Any]) -> str:
        """Canonical text of the event's values for the dimension keys (absent keys left out)."""
        if not self.dim_keys:
            return ""
        values = tuple(event_text(properties.get(key)) for key in self.dim_keys)
        known = _DIMS.get((self.dim_keys, values))
        if known is None:
            picked = {key: text for key, text in zip(self.dim_keys, values, strict=True) if text is not None}
            known = _dims_text(picked)
            if len(_DIMS) >= _DIMS_KEPT:
                _DIMS.clear()
            _DIMS[(self.dim_keys, values)] = known
        return known


def _dims_text(picked: dict[str, str]) -> str:
    return json.dumps(picked, sort_keys=True, separators=(",", ":")) if picked else ""


# (dimension keys, their values' texts) -> dims text: most events repeat a few combinations.
_DIMS: dict[tuple[tuple[str, ...], tuple[str | None, ...]], str] = {}
_DIMS_KEPT = 100_000


def _group_keys(properties: dict[str, Any]) -> list[str]:
    keys = properties.get("pricing_group_keys") or properties.get("grouped_by") or []
    return [str(key) for key in keys] if isinstance(keys, list) else []


def load(session: Session, organization_id: uuid.UUID, codes: set[str]) -> dict[str, Profile]:
    """Profiles of the live metrics among ``codes`` (unknown codes are absent)."""
    if not codes:
        return {}
    metrics = session.scalars(
        select(BillableMetric).where(
            BillableMetric.organization_id == organization_id,
            BillableMetric.code.in_(codes),
            BillableMetric.deleted_at.is_(None),
        )
    ).all()
    if not metrics:
        return {}
    keys: dict[uuid.UUID, set[str]] = {m.id: {f.key for f in m.filters} for m in metrics}
    live_charges = (
        select(Charge.billable_metric_id, Charge.properties, Charge.id)
        .join(Plan, Plan.id == Charge.plan_id)
        .where(Charge.billable_metric_id.in_(keys), Charge.deleted_at.is_(None), Plan.deleted_at.is_(None))
    )
    charge_metric: dict[uuid.UUID, uuid.UUID] = {}
    for metric_id, properties, charge_id in session.execute(live_charges):
        keys[metric_id].update(_group_keys(properties or {}))
        charge_metric[charge_id] = metric_id
    if charge_metric:
        filters = select(ChargeFilter.charge_id, ChargeFilter.properties).where(
            ChargeFilter.charge_id.in_(charge_metric), ChargeFilter.deleted_at.is_(None)
        )
        for charge_id, properties in session.execute(filters):
            keys[charge_metric[charge_id]].update(_group_keys(properties or {}))
    return {
        m.code: Profile(m.code, m.aggregation_type, m.field_name, m.expression, tuple(sorted(keys[m.id])))
        for m in metrics
    }


_FINGERPRINTS = select(UsageProfile.code, UsageProfile.fingerprint).where(
    UsageProfile.organization_id == bindparam("organization_id"), UsageProfile.code.in_(bindparam("codes", expanding=True)))


def stale(session: Session, organization_id: uuid.UUID, profiles: dict[str, Profile]) -> list[Profile]:
    """The profiles whose stored fingerprint differs from the current one."""
    if not profiles:
        return []
    stored = dict(session.connection().execute(
        _FINGERPRINTS, {"organization_id": organization_id, "codes": list(profiles)}).all())
    return [p for code, p in profiles.items() if stored.get(code) != p.fingerprint]
