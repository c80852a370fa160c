from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import JSONType
from billow.models.base import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    # Secret for HMAC webhook signatures (a random UUID string, as Lago does).
    hmac_key: Mapped[str] = mapped_column(String(64), nullable=False, default=lambda: str(uuid.uuid4()))
    default_currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    country: Mapped[str | None] = mapped_column(String(2))
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    net_payment_term: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    document_numbering: Mapped[str] = mapped_column(String(32), nullable=False, default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    finalize_zero_amount_invoice: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    invoice_footer: Mapped[str | None] = mapped_column(String(600))
    invoice_grace_period: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    document_locale: Mapped[str] = mapped_column(String(16), nullable=False, default="en")
    email_settings: Mapped[list[Any]] = mapped_column(JSONType(), nullable=False, default=list)
    # Raised in the same transaction as any change to the organization's metrics, plans, charges
    # or filters (billow.models.catalog): what the ingest path checks before reusing what it
    # derived from the catalog.
    catalog_revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
