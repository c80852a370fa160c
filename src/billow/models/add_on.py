from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)
from billow.models.tax import Tax

add_on_taxes = Table(
    "add_on_taxes",
    Base.metadata,
    Column("add_on_id", Uuid, ForeignKey("add_ons.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_id", Uuid, ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class AddOn(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A one-off priced item (one-off invoices, fixed charges)."""

    __tablename__ = "add_ons"
    __table_args__ = (unique_live_code("add_ons", "organization_id", "code"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_currency: Mapped[str] = mapped_column(String(3), nullable=False)

    taxes: Mapped[list[Tax]] = relationship(secondary=add_on_taxes, order_by=Tax.code, lazy="selectin")
