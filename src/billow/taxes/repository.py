from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.core.repository import find, get_or_404, newest_first, scoped
from billow.models import Tax


def get(session: Session, organization_id: uuid.UUID, code: str) -> Tax:
    return get_or_404(session, Tax, organization_id, "tax", code=code)


def find_by_code(session: Session, organization_id: uuid.UUID, code: str) -> Tax | None:
    return find(session, Tax, organization_id, code=code)


def list_query(organization_id: uuid.UUID) -> Select[tuple[Tax]]:
    return newest_first(scoped(Tax, organization_id), Tax)


def resolve_codes(session: Session, organization_id: uuid.UUID, codes: Sequence[str]) -> list[Tax]:
    """Taxes for a list of codes, in the given order; an unknown code is a 404 tax_not_found."""
    taxes = []
    for code in dict.fromkeys(codes):
        tax = find_by_code(session, organization_id, code)
        if tax is None:
            raise NotFound("tax")
        taxes.append(tax)
    return taxes


def organization_taxes(session: Session, organization_id: uuid.UUID) -> list[Tax]:
    return list(session.scalars(scoped(Tax, organization_id).where(Tax.applied_to_organization.is_(True)).order_by(Tax.code)))

