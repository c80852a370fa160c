from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import DecimalText, JSONType, UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.customer import Customer
from billow.models.fee import Fee
from billow.models.invoice import Invoice

REASONS = ("duplicated_charge", "product_unsatisfactory", "order_change", "order_cancellation",
           "fraudulent_charge", "other")
CREDIT_STATUSES = ("available", "consumed", "voided")
REFUND_STATUSES = ("pending", "succeeded", "failed")


class CreditNote(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """Money given back on a finalized invoice: credited to the customer's balance (consumed by
    later invoices), refunded, or offset against what the invoice still owes.

    ``sequential_id`` counts the invoice's credit notes; the number is ``<invoice number>-CN<n>``.
    ``balance_amount_cents`` is what is left of the credit part for later invoices.
    """

    __tablename__ = "credit_notes"
    __table_args__ = (UniqueConstraint("invoice_id", "sequential_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"), nullable=False, index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), nullable=False, index=True)
    sequential_id: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[str] = mapped_column(String(80), nullable=False)
    issuing_date: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    credit_status: Mapped[str | None] = mapped_column(String(16))  # available | consumed | voided
    refund_status: Mapped[str | None] = mapped_column(String(16))  # pending | succeeded | failed
    currency: Mapped[str] = mapped_column(String(3), nullable=False)

    total_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refund_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    offset_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    coupons_adjustment_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    precise_coupons_adjustment_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    precise_taxes_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    taxes_rate: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    # Per tax code: code, name, rate, description, tax id, base and amount.
    applied_taxes: Mapped[list[Any]] = mapped_column(JSONType(), nullable=False, default=list)
    # Lago's flat {key: value} map.
    credit_note_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType(), nullable=False, default=dict)

    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The public URL of its PDF (billow.documents), once rendered.
    file_url: Mapped[str | None] = mapped_column(String(1024))

    customer: Mapped[Customer] = relationship()
    invoice: Mapped[Invoice] = relationship()
    items: Mapped[list[CreditNoteItem]] = relationship(order_by="CreditNoteItem.position", lazy="selectin")


class CreditNoteItem(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """The part of one invoice fee a credit note gives back, before coupons and taxes."""

    __tablename__ = "credit_note_items"

    credit_note_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("credit_notes.id"), nullable=False, index=True)
    fee_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("fees.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    precise_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    amount_currency: Mapped[str] = mapped_column(String(3), nullable=False)

    fee: Mapped[Fee] = relationship(lazy="joined", innerjoin=True)
