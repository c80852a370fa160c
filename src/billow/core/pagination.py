"""``page`` / ``per_page`` query parameters and Lago's ``meta`` object."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

DEFAULT_PER_PAGE = 100


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


def _page_params(
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1)] = DEFAULT_PER_PAGE,
) -> PageParams:
    return PageParams(page=page, per_page=per_page)


Paging = Annotated[PageParams, Depends(_page_params)]


def meta(total: int, params: PageParams) -> dict[str, Any]:
    if total == 0:
        # Lago reports an empty collection as page 0 of 0.
        return {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0}
    pages = math.ceil(total / params.per_page)
    return {
        "current_page": params.page,
        "next_page": params.page + 1 if params.page < pages else None,
        "prev_page": params.page - 1 if params.page > 1 else None,
        "total_pages": pages,
        "total_count": total,
    }


def paginate(session: Session, stmt: Select[Any], params: PageParams) -> tuple[Sequence[Any], dict[str, Any]]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(params.per_page).offset((params.page - 1) * params.per_page)).all()
    return rows, meta(total, params)


def page_response(
    root: str, session: Session, stmt: Select[Any], params: PageParams, serialize: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    rows, page_meta = paginate(session, stmt, params)
    return {root: [serialize(row) for row in rows], "meta": page_meta}
