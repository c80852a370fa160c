"""`Authorization: Bearer <api key>` -> the caller's organization."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from billow.core.db import Database, DbSession, ReadSession
from billow.core.errors import Unauthorized
from billow.models import Organization
from billow.organizations import service


def current_organization(request: Request, session: DbSession) -> Organization:
    return _authenticate(request, session)


def reading_organization(request: Request, session: ReadSession) -> Organization:
    return _authenticate(request, session)


def _key(request: Request) -> str:
    parts = request.headers.get("authorization", "").split()
    # Like Lago, take the second token and do not insist on the word "Bearer".
    return parts[1] if len(parts) >= 2 else ""


def _authenticate(request: Request, session: Session) -> Organization:
    organization = service.authenticate(session, _key(request))
    if organization is None:
        raise Unauthorized()
    return organization


class KeyCache:
    """API key digest -> organization id, remembered for ``seconds`` (unknown keys are not
    remembered, so a new key works at once). The event and usage endpoints authenticate through
    it: a database read per request cost more than storing a single event."""

    def __init__(self, seconds: float = 30.0):
        self.seconds = seconds
        self._known: dict[str, tuple[uuid.UUID, float]] = {}

    async def organization_id(self, request: Request) -> uuid.UUID:
        key = _key(request)
        if not key:
            raise Unauthorized()
        digest = service.digest(key)
        known = self._known.get(digest)
        now = time.monotonic()
        if known is not None and known[1] > now:
            return known[0]
        database: Database = request.app.state.db

        def lookup() -> uuid.UUID | None:
            with database.unit_of_work(write=False) as session:
                organization = service.authenticate(session, key)
                return None if organization is None else organization.id

        organization_id = await run_in_threadpool(lookup)
        if organization_id is None:
            raise Unauthorized()
        self._known[digest] = (organization_id, now + self.seconds)
        return organization_id


async def cached_organization_id(request: Request) -> uuid.UUID:
    cache: KeyCache = request.app.state.api_keys
    return await cache.organization_id(request)


# The caller's organization id from :class:`KeyCache`, without a thread or a transaction.
CachedOrgId = Annotated[uuid.UUID, Depends(cached_organization_id)]
CurrentOrg = Annotated[Organization, Depends(current_organization)]
# For endpoints whose writes go through the group commit: authenticate without a write transaction.
ReadingOrg = Annotated[Organization, Depends(reading_organization)]
