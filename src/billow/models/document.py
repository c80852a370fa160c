from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin


class Document(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """The PDF of one finalized invoice or one credit note, kept in the database
    (:mod:`billow.documents`). ``token`` is the unguessable name of its public URL."""

    __tablename__ = "documents"

    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("invoices.id"), unique=True)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("credit_notes.id"), unique=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
