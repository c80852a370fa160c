"""Rebuild the aggregates of a metric from the raw events, which stay the source of truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from billow.core.types import sqlite_uuid
from billow.models import Event as EventRow
from billow.models import UsageAggregate, UsageProfile, UsageValueState
from billow.usage import profiles, store
from billow.usage.profiles import Profile

CHUNK = 5000


def rebuild(session: Session, organization_id: uuid.UUID, profile: Profile) -> int:
    """Recompute every aggregate of ``profile``'s metric; returns the number of events read."""
    store.exclude_writers(session)
    for model in (UsageAggregate, UsageValueState):
        session.execute(delete(model).where(model.organization_id == organization_id, model.code == profile.code))
    query = (
        select(EventRow.id, EventRow.transaction_id, EventRow.timestamp, EventRow.properties,
               EventRow.external_subscription_id, EventRow.code)
        .where(EventRow.organization_id == organization_id, EventRow.code == profile.code)
        .order_by(EventRow.id)
        .execution_options(yield_per=CHUNK)
    )
    count = 0
    for chunk in session.execute(query).partitions():
        count += len(chunk)
        stored = [store.Stored(row.external_subscription_id, row.code, store.as_event(row)) for row in chunk]
        store.add(session, organization_id, {profile.code: profile}, stored)
    mark_built(session, organization_id, [profile])
    return count


def mark_built(session: Session, organization_id: uuid.UUID, built: Iterable[Profile]) -> None:
    for profile in built:
        row = session.get(UsageProfile, (organization_id, profile.code))
        if row is None:
            session.add(UsageProfile(organization_id=organization_id, code=profile.code,
                                     fingerprint=profile.fingerprint))
        else:
            row.fingerprint = profile.fingerprint
    session.flush()


def forget(session: Session, organization_id: uuid.UUID, codes: Iterable[str]) -> None:
    """Codes with no live metric: their next metric must be built from scratch."""
    codes = list(codes)
    if codes:
        session.execute(delete(UsageProfile).where(UsageProfile.organization_id == organization_id,
                                                   UsageProfile.code.in_(codes)))


def refresh(session: Session, organization_id: uuid.UUID, codes: set[str]) -> dict[str, Profile]:
    """Current profiles of ``codes``, rebuilding the aggregates of those that changed."""
    current = profiles.load(session, organization_id, codes)
    for profile in profiles.stale(session, organization_id, current):
        rebuild(session, organization_id, profile)
    return current


# On the driver's own cursor: this read runs in every ingest transaction, where SQLAlchemy's
# statement handling cost more than the read itself.
_REVISION_SQL = {"sqlite": "SELECT catalog_revision FROM organizations WHERE id = ?",
                 "postgresql": "SELECT catalog_revision FROM organizations WHERE id = %s"}


def catalog_revision(session: Session, organization_id: uuid.UUID) -> int | None:
    """The organization's catalog revision, read once per transaction."""
    known: dict[uuid.UUID, int | None] = session.info.setdefault("catalog_revisions", {})
    if organization_id not in known:
        connection = session.connection()
        dialect = connection.dialect.name
        key: object = sqlite_uuid(organization_id) if dialect == "sqlite" else organization_id
        cursor = connection.connection.cursor()
        try:
            row = cursor.execute(_REVISION_SQL[dialect], (key,)).fetchone()
        finally:
            cursor.close()
        known[organization_id] = None if row is None else row[0]
    return known[organization_id]


# (database, organization) -> (catalog revision, profiles known built at that revision)
_KNOWN: dict[tuple[str, uuid.UUID], tuple[int, dict[str, Profile]]] = {}


def current(session: Session, organization_id: uuid.UUID, codes: set[str]) -> dict[str, Profile]:
    """What ingest aggregates ``codes`` with: :func:`refresh`, then :func:`forget` the codes with no
    live metric. While the organization's catalog revision stays the same, profiles already
    refreshed are reused without reading the catalog again (a handful of queries per ingest call
    otherwise). Codes without a metric always take the full path, so their forgetting is never
    skipped. Should a rebuild done here be rolled back, usage reads still find the stored
    fingerprint stale and rebuild from the raw events."""
    revision = catalog_revision(session, organization_id)
    key = (str(session.get_bind().engine.url), organization_id)
    known = _KNOWN.get(key)
    if known is not None and known[0] == revision and codes <= known[1].keys():
        return {code: known[1][code] for code in codes}
    profiles_now = refresh(session, organization_id, codes)
    forget(session, organization_id, codes - profiles_now.keys())
    if revision is not None:
        kept = known[1] if known is not None and known[0] == revision else {}
        _KNOWN[key] = (revision, {**kept, **profiles_now})
    return profiles_now


def known(engine: Engine, organization_id: uuid.UUID, codes: set[str]) -> tuple[int, dict[str, Profile]] | None:
    """The organization's last catalog revision :func:`current` read, with the profiles of ``codes``
    it gave at that revision, without reading anything (``None`` if one is not known). They still
    hold if the revision is still the same: :func:`current` tells, in a transaction."""
    known_now = _KNOWN.get((str(engine.url), organization_id))
    if known_now is None or not codes <= known_now[1].keys():
        return None
    return known_now[0], {code: known_now[1][code] for code in codes}


def rebuild_all(session: Session, organization_id: uuid.UUID | None = None) -> dict[str, int]:
    """``billow usage rebuild``: every metric of one or every organization."""
    from billow.models import BillableMetric

    query = select(BillableMetric.organization_id, BillableMetric.code).where(BillableMetric.deleted_at.is_(None))
    if organization_id is not None:
        query = query.where(BillableMetric.organization_id == organization_id)
    done: dict[str, int] = {}
    for org_id, code in session.execute(query).all():
        profile = profiles.load(session, org_id, {code})[code]
        done[f"{org_id}/{code}"] = rebuild(session, org_id, profile)
    return done


def stale_codes(session: Session, organization_id: uuid.UUID, codes: set[str]) -> list[str]:
    """Codes among ``codes`` whose aggregates were built with another profile."""
    return [p.code for p in profiles.stale(session, organization_id, profiles.load(session, organization_id, codes))]
