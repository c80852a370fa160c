from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models import ApiKey, Organization


def find_by_key_digest(session: Session, digest: str) -> Organization | None:
    return session.scalar(
        select(Organization).join(ApiKey, ApiKey.organization_id == Organization.id).where(ApiKey.key_digest == digest)
    )


def any_organization(session: Session) -> Organization | None:
    return session.scalar(select(Organization).order_by(Organization.created_at).limit(1))


def list_organizations(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.created_at)))
