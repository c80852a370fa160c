from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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
