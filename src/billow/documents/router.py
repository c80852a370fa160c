"""``GET /documents/{token}.pdf``: a document's ``file_url``. No API key: the unguessable token is
the credential, as Lago's signed file URLs are (HTTP only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from billow.core.db import ReadSession
from billow.documents import service

router = APIRouter(tags=["documents"])


@router.get("/documents/{token}.pdf")
def get_document(token: str, session: ReadSession) -> Response:
    document = service.stored(session, token)
    return Response(document.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{document.filename}"',
                             "Cache-Control": "private, max-age=3600"})
