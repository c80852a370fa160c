from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import JSONType, UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin


class PlanVersion(IdMixin, OrgScopedMixin, Base):
    """An immutable snapshot of everything a plan prices with, numbered from 1.

    Written at creation and after every change of the snapshot (see billow.plans.versions);
    ``cascade`` records whether the edit asked ``cascade_updates: true``.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("plans.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    cascade: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, nullable=False)
