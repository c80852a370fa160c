from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Uuid
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
from billow.models.billable_metric import BillableMetric
from billow.models.tax import Tax, applied_taxes, tax_links

if TYPE_CHECKING:
    from billow.models.charge_filter import ChargeFilter

# Taxes of a charge; when set they replace the plan's taxes on this charge's fees.
charge_taxes = tax_links("charge_taxes", "charge_id", "charges")


class Charge(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A usage-based price of a plan: one billable metric priced by one charge model.

    Soft-deleted (fees keep referring to it); ``code`` is unique among the plan's live charges.
    """

    __tablename__ = "charges"
    __table_args__ = (unique_live_code("charges", "plan_id", "code"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("plans.id", ondelete="CASCADE"), nullable=False, index=True)
    billable_metric_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billable_metrics.id"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    # standard, package, graduated, volume, percentage, graduated_percentage, dynamic
    charge_model: Mapped[str] = mapped_column(String(32), nullable=False)
    # Lago's wire JSON, validated by billow.pricing.properties (parse it back with parse_properties).
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False, default=dict)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # null or "invoice"
    regroup_paid_fees: Mapped[str | None] = mapped_column(String(16))
    prorated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    min_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # On the charges of a plan override copy: the parent plan's charge this one overrides.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("charges.id"), nullable=True)

    billable_metric: Mapped[BillableMetric] = relationship(lazy="selectin")
    taxes: Mapped[list[Tax]] = applied_taxes(charge_taxes)
    # Live filters, oldest first (read-only view: expire the charge after writing filters).
    filters: Mapped[list[ChargeFilter]] = relationship(
        primaryjoin="and_(ChargeFilter.charge_id == Charge.id, ChargeFilter.deleted_at.is_(None))",
        order_by="(ChargeFilter.created_at, ChargeFilter.id)",
        viewonly=True,
        lazy="selectin",
    )
