from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import DecimalText
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin


class Tax(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    __tablename__ = "taxes"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    # Percent, e.g. 20 for 20 %.
    rate: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    applied_to_organization: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


def tax_links(name: str, owner_column: str, owner_table: str) -> Table:
    """Association table applying taxes to one kind of owner (plan, charge, customer, ...)."""
    return Table(
        name,
        Base.metadata,
        Column(owner_column, Uuid, ForeignKey(f"{owner_table}.id", ondelete="CASCADE"), primary_key=True),
        Column("tax_id", Uuid, ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
    )


def applied_taxes(links: Table) -> Mapped[list[Tax]]:
    """The owner's taxes, ordered by code."""
    return relationship(secondary=links, order_by=Tax.code, lazy="selectin")
