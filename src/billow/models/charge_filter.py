from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import JSONType
from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
)


class ChargeFilter(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A price of a charge for the events whose properties match ``values``.

    ``values`` maps filter keys of the charge's billable metric to allowed values (or to the
    single wildcard ``__ALL_FILTER_VALUES__``); ``properties`` follow the charge's model.
    """

    __tablename__ = "charge_filters"

    charge_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("charges.id", ondelete="CASCADE"), nullable=False, index=True
    )
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False, default=dict)
    values: Mapped[dict[str, list[str]]] = mapped_column(JSONType(), nullable=False, default=dict)
