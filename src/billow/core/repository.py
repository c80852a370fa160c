"""Query helpers shared by every organization-scoped table."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.core.errors import NotFound

T = TypeVar("T")


def scoped(model: type[T], organization_id: uuid.UUID, *, include_deleted: bool = False) -> Select[tuple[T]]:
    """Rows of `model` belonging to the organization (live rows only, unless asked)."""
    stmt = select(model).where(model.organization_id == organization_id)  # type: ignore[attr-defined]
    if not include_deleted and hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
    return stmt


def newest_first(stmt: Select[Any], model: type[Any]) -> Select[Any]:
    return stmt.order_by(model.created_at.desc(), model.id.desc())


def find(session: Session, model: type[T], organization_id: uuid.UUID, *, for_update: bool = False,
         **keys: Any) -> T | None:
    stmt = scoped(model, organization_id)
    for column, value in keys.items():
        stmt = stmt.where(getattr(model, column) == value)
    return session.scalar(stmt.limit(1).with_for_update() if for_update else stmt.limit(1))


def get_or_404(session: Session, model: type[T], organization_id: uuid.UUID, resource: str, *,
               for_update: bool = False, **keys: Any) -> T:
    row = find(session, model, organization_id, for_update=for_update, **keys)
    if row is None:
        raise NotFound(resource)
    return row


def parse_uuid(value: str, resource: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(resource) from None
