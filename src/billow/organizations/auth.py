"""`Authorization: Bearer <api key>` -> the caller's organization."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from billow.core.db import DbSession, ReadSession
from billow.core.errors import Unauthorized
from billow.models import Organization
from billow.organizations import service


def current_organization(request: Request, session: DbSession) -> Organization:
    return _authenticate(request, session)


def reading_organization(request: Request, session: ReadSession) -> Organization:
    return _authenticate(request, session)


def _authenticate(request: Request, session: Session) -> Organization:
    header = request.headers.get("authorization", "")
    parts = header.split()
    # Like Lago, take the second token and do not insist on the word "Bearer".
    key = parts[1] if len(parts) >= 2 else ""
    organization = service.authenticate(session, key)
    if organization is None:
        raise Unauthorized()
    return organization


CurrentOrg = Annotated[Organization, Depends(current_organization)]
# For endpoints whose writes go through the group commit: authenticate without a write transaction.
ReadingOrg = Annotated[Organization, Depends(reading_organization)]
