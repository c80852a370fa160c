from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.core.db import DbSession
from billow.core.wire import RootBody, dump
from billow.models import Organization
from billow.organizations import service
from billow.organizations.auth import CurrentOrg
from billow.organizations.schemas import OrganizationOut, OrganizationUpdate
from billow.taxes.repository import organization_taxes

router = APIRouter(prefix="/organizations", tags=["organizations"])


def organization_json(session: Session, organization: Organization) -> dict[str, Any]:
    return dump(
        OrganizationOut,
        {
            **{column.key: getattr(organization, column.key) for column in Organization.__table__.columns},
            "lago_id": organization.id,
            "billing_configuration": {
                "invoice_footer": organization.invoice_footer,
                "invoice_grace_period": organization.invoice_grace_period,
                "document_locale": organization.document_locale,
            },
            "events_store": "postgres",
            "taxes": organization_taxes(session, organization.id),
        },
    )


@router.get("")
def get_organization(org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"organization": organization_json(session, org)}


@router.put("")
def update_organization(
    org: CurrentOrg, session: DbSession, data: OrganizationUpdate = RootBody("organization", OrganizationUpdate)
) -> dict[str, Any]:
    changes = data.changes()
    if data.billing_configuration is not None:
        changes["billing_configuration"] = data.billing_configuration.changes()
    service.update_organization(session, org, changes)
    return {"organization": organization_json(session, org)}
