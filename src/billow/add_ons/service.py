from __future__ import annotations

from sqlalchemy.orm import Session

from billow.add_ons import repository
from billow.add_ons.schemas import AddOnCreate, AddOnUpdate
from billow.core import clock
from billow.core.errors import ValidationFailed
from billow.models import AddOn, Organization
from billow.taxes.repository import resolve_codes


def _ensure_code_free(session: Session, organization: Organization, code: str) -> None:
    if repository.find_by_code(session, organization.id, code) is not None:
        raise ValidationFailed.field("code", "value_already_exist")


def create(session: Session, organization: Organization, data: AddOnCreate) -> AddOn:
    _ensure_code_free(session, organization, data.code)
    taxes = resolve_codes(session, organization.id, data.tax_codes or [])
    add_on = AddOn(organization_id=organization.id, taxes=taxes, **data.model_dump(exclude={"tax_codes"}))
    session.add(add_on)
    session.flush()
    session.expire(add_on, ["taxes"])  # reload in stored order
    return add_on


def update(session: Session, organization: Organization, code: str, data: AddOnUpdate) -> AddOn:
    add_on = repository.get(session, organization.id, code)
    changes = data.changes(exclude={"tax_codes"})
    if "code" in changes and changes["code"] != add_on.code:
        _ensure_code_free(session, organization, changes["code"])
    taxes = resolve_codes(session, organization.id, data.tax_codes) if data.tax_codes is not None else None
    for key, value in changes.items():
        setattr(add_on, key, value)
    if taxes is not None:
        add_on.taxes = taxes
    session.flush()
    session.expire(add_on, ["taxes"])
    return add_on


def delete(session: Session, organization: Organization, code: str) -> AddOn:
    """Soft delete: past invoices keep their add-on; the code becomes free again."""
    add_on = repository.get(session, organization.id, code)
    add_on.deleted_at = clock.now()
    session.flush()
    return add_on
