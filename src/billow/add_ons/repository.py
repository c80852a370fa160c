from __future__ import annotations

import uuid

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.core.repository import find, get_or_404, newest_first, scoped
from billow.models import AddOn


def get(session: Session, organization_id: uuid.UUID, code: str) -> AddOn:
    return get_or_404(session, AddOn, organization_id, "add_on", code=code)


def find_by_code(session: Session, organization_id: uuid.UUID, code: str) -> AddOn | None:
    return find(session, AddOn, organization_id, code=code)


def list_query(organization_id: uuid.UUID) -> Select[tuple[AddOn]]:
    return newest_first(scoped(AddOn, organization_id), AddOn)
