from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)
from billow.models.tax import Tax, applied_taxes, tax_links

add_on_taxes = tax_links("add_on_taxes", "add_on_id", "add_ons")


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

    taxes: Mapped[list[Tax]] = applied_taxes(add_on_taxes)
