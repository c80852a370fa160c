from __future__ import annotations

from sqlalchemy.orm import Session

from billow.core.errors import ValidationFailed
from billow.models import Organization, Tax
from billow.taxes import repository
from billow.taxes.schemas import TaxCreate, TaxUpdate


def _ensure_code_free(session: Session, organization: Organization, code: str) -> None:
    if repository.find_by_code(session, organization.id, code) is not None:
        raise ValidationFailed.field("code", "value_already_exist")


def create(session: Session, organization: Organization, data: TaxCreate) -> Tax:
    _ensure_code_free(session, organization, data.code)
    tax = Tax(organization_id=organization.id, **data.model_dump())
    session.add(tax)
    session.flush()
    return tax


def update(session: Session, organization: Organization, code: str, data: TaxUpdate) -> Tax:
    tax = repository.get(session, organization.id, code)
    changes = data.changes()
    if "code" in changes and changes["code"] != tax.code:
        _ensure_code_free(session, organization, changes["code"])
    for key, value in changes.items():
        setattr(tax, key, value)
    session.flush()
    return tax


def delete(session: Session, organization: Organization, code: str) -> Tax:
    tax = repository.get(session, organization.id, code)
    session.delete(tax)
    session.flush()
    return tax
