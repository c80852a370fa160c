from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import JSONType, UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.customer import Customer

# draft -> finalized -> voided; a draft has no number until it is finalized.
STATUSES = ("draft", "finalized", "voided")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")
INVOICE_TYPES = ("subscription", "one_off", "progressive_billing")


class Invoice(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """A bill: its fees (``fees``), the subscription periods it covers (``invoice_subscriptions``)
    and every total in integer minor units of ``currency``.

    ``sequential_id`` counts the customer's finalized invoices, ``organization_sequential_id`` the
    organization's; both are given at finalization (drafts carry neither) and are unique.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("customer_id", "sequential_id"),
        UniqueConstraint("organization_id", "organization_sequential_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"), nullable=False, index=True)
    sequential_id: Mapped[int | None] = mapped_column(BigInteger)
    organization_sequential_id: Mapped[int | None] = mapped_column(BigInteger)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    payment_status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    invoice_type: Mapped[str] = mapped_column(String(32), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    issuing_date: Mapped[date] = mapped_column(Date, nullable=False)
    payment_due_date: Mapped[date] = mapped_column(Date, nullable=False)
    net_payment_term: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Drafts are finalized by the billing clock once this instant has passed.
    grace_period_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    progressive_billing_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    coupons_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sub_total_including_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    credit_notes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    prepaid_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Per tax code: code, name, rate, description, tax id, base and amount (the invoice's document).
    applied_taxes: Mapped[list[Any]] = mapped_column(JSONType(), nullable=False, default=list)
    # Lago's [{lago_id, key, value, created_at}] list.
    invoice_metadata: Mapped[list[Any]] = mapped_column("metadata", JSONType(), nullable=False, default=list)

    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The public URL of its PDF (billow.documents), once rendered.
    file_url: Mapped[str | None] = mapped_column(String(1024))

    customer: Mapped[Customer] = relationship()
