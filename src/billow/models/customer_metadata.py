from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin

if TYPE_CHECKING:
    from billow.models.customer import Customer


class CustomerMetadata(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """One `{key, value, display_in_invoice}` item of a customer's metadata list."""

    __tablename__ = "customer_metadata"
    __table_args__ = (UniqueConstraint("customer_id", "key"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str] = mapped_column(String(255), nullable=False)
    display_in_invoice: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    customer: Mapped[Customer] = relationship(back_populates="metadata_items")
