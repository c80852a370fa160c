from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import JSONType
from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)


class BillableMetric(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "billable_metrics"
    __table_args__ = (unique_live_code("billable_metrics", "organization_id", "code"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # count_agg, sum_agg, max_agg, unique_count_agg, latest_agg, weighted_sum_agg
    aggregation_type: Mapped[str] = mapped_column(String(32), nullable=False)
    field_name: Mapped[str | None] = mapped_column(String(255))
    recurring: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    weighted_interval: Mapped[str | None] = mapped_column(String(16))
    rounding_function: Mapped[str | None] = mapped_column(String(16))
    rounding_precision: Mapped[int | None] = mapped_column(Integer)
    expression: Mapped[str | None] = mapped_column(Text)

    filters: Mapped[list[BillableMetricFilter]] = relationship(
        back_populates="billable_metric",
        order_by="BillableMetricFilter.key",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class BillableMetricFilter(IdMixin, TimestampMixin, Base):
    """A dimension charges may price on: a property key and its allowed values."""

    __tablename__ = "billable_metric_filters"

    billable_metric_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billable_metrics.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    values: Mapped[list[Any]] = mapped_column(JSONType(), nullable=False, default=list)

    billable_metric: Mapped[BillableMetric] = relationship(back_populates="filters")
