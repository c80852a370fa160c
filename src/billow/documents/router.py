"""``GET /documents/{token}.pdf``: a document's ``file_url``. No API key: the unguessable token is
the credential, as Lago's signed file URLs are (HTTP only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Response

from billow.core.db import ReadSession
from billow.documents import service

router = APIRouter(tags=["documents"])

T = TypeVar("T")


def downloaded(root: str, found: T | None, to_json: Callable[[T], dict[str, Any]]) -> dict[str, Any] | Response:
    """A ``download`` answer: the object once its document exists, else an empty 200 (as Lago
    answers while it makes the document)."""
    if found is None:
        return Response(status_code=200)
    return {root: to_json(found)}


@router.get("/documents/{token}.pdf")
def get_document(token: str, session: ReadSession) -> Response:
    document = service.stored(session, token)
    return Response(document.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{document.filename}"',
                             "Cache-Control": "private, max-age=3600"})
