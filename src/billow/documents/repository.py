"""Queries on stored documents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models import Document, Job


def by_token(session: Session, token: str) -> Document | None:
    return session.scalar(select(Document).where(Document.token == token))


def job_state(session: Session, dedupe_key: str) -> str | None:
    """The state of the job enqueued under ``dedupe_key`` (None when there is none)."""
    return session.scalar(select(Job.state).where(Job.dedupe_key == dedupe_key))

