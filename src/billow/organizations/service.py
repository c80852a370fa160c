"""Organizations and their API keys. Keys are shown once and stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billow.core.errors import ValidationFailed
from billow.core.money import is_currency
from billow.models import ApiKey, Organization
from billow.organizations import repository

_KEY_PREFIX = "blw_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return _KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass
class CreatedOrganization:
    organization: Organization
    api_key: str


def create_organization(session: Session, name: str, *, api_key: str | None = None) -> CreatedOrganization:
    key = api_key or new_api_key()
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    add_api_key(session, organization, key)
    return CreatedOrganization(organization, key)


def add_api_key(session: Session, organization: Organization, key: str, name: str | None = None) -> ApiKey:
    if repository.find_by_key_digest(session, digest(key)) is not None:
        raise ValidationFailed.field("api_key", "value_already_exist")
    api_key = ApiKey(organization_id=organization.id, key_digest=digest(key), prefix=key[:8], name=name)
    session.add(api_key)
    session.flush()
    return api_key


def authenticate(session: Session, key: str) -> Organization | None:
    if not key:
        return None
    return repository.find_by_key_digest(session, digest(key))


def bootstrap(session: Session, name: str, api_key: str | None) -> CreatedOrganization | None:
    """On an empty database, create the first organization. Returns it, or None if one exists."""
    if repository.any_organization(session) is not None:
        return None
    return create_organization(session, name, api_key=api_key)


_BILLING_KEYS = ("invoice_footer", "invoice_grace_period", "document_locale")


def update_organization(session: Session, organization: Organization, changes: dict[str, Any]) -> Organization:
    billing = changes.pop("billing_configuration", None) or {}
    currency = changes.get("default_currency")
    if currency is not None and not is_currency(currency):
        raise ValidationFailed.field("default_currency", "value_is_invalid")
    for key, value in {**changes, **{k: v for k, v in billing.items() if k in _BILLING_KEYS}}.items():
        setattr(organization, key, value)
    session.flush()
    return organization
