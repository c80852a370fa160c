from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.invoice import Invoice


class Credit(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """What a coupon or a progressive-billing invoice (before taxes) or a credit note (after taxes)
    took off one invoice.

    The ledger of coupon and credit-note use: a once fixed coupon has what its credits have not
    granted left; a credit note's balance went down by its credits. ``terminated_coupon`` says the
    use ended the coupon, so that pricing the invoice again can give it back exactly.
    """

    __tablename__ = "credits"

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), nullable=False, index=True)
    applied_coupon_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("applied_coupons.id"), index=True)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("credit_notes.id"), index=True)
    # A progressive-billing invoice of the same period whose fees this invoice deducts (before taxes).
    progressive_billing_invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("invoices.id"),
                                                                             index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    before_taxes: Mapped[bool] = mapped_column(Boolean, nullable=False)
    terminated_coupon: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    invoice: Mapped[Invoice] = relationship(lazy="joined", innerjoin=True, foreign_keys=[invoice_id])
