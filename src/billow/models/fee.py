from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import DecimalText, JSONType, UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin

FEE_TYPES = ("subscription", "charge", "commitment", "add_on")


class Fee(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """One line of an invoice: the subscription fee, one charge's filter/group bucket (or its
    min-amount true-up), the minimum-commitment true-up, or an add-on of a one-off invoice.

    Amounts are integer minor units, rounded once; the unrounded values are kept as decimal text.
    ``item`` snapshots what the line bills (type, code, name, filters) as the invoice showed it.

    A pay-in-advance charge's fee is created for one event (``pay_in_advance_event_id``, the
    event's ingestion id): at most one per charge and event, by the unique constraint. Without an
    invoice (``invoice_id`` null) when the charge is not invoiceable.
    """

    __tablename__ = "fees"
    __table_args__ = (UniqueConstraint("charge_id", "pay_in_advance_event_id"),)

    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("invoices.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("subscriptions.id"), index=True)
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    charge_filter_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # A charge's min-amount true-up points at the charge's first fee of the invoice.
    true_up_parent_fee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    fee_type: Mapped[str] = mapped_column(String(16), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    item: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False, default=dict)
    grouped_by: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False, default=dict)
    amount_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    precise_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    units: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    total_aggregated_units: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    events_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    precise_coupons_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, default=Decimal(0))
    taxes_rate: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, default=Decimal(0))
    taxes_precise_amount_cents: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, default=Decimal(0))
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    applied_taxes: Mapped[list[Any]] = mapped_column(JSONType(), nullable=False, default=list)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    from_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    to_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The line's text on a one-off invoice (the add-on's description unless one is sent).
    description: Mapped[str | None] = mapped_column(Text)
    pay_in_advance_event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_transaction_id: Mapped[str | None] = mapped_column(String(255))
    # A fee without invoice is paid on its own (``PUT /fees/{id}``); an invoiced one follows its invoice.
    payment_status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending",
                                                server_default="pending")
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ``DELETE /fees/{id}`` (a fee without invoice): hidden, kept so its event is not billed again.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
