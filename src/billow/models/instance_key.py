from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import UTCDateTime
from billow.models.base import Base


class InstanceKey(Base):
    """A secret of the whole instance, created once on first use (e.g. the webhook signing key)."""

    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now)
