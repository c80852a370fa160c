"""Lago's metadata sub-endpoints of a resource whose metadata is a flat map of strings:
``POST .../metadata`` replaces the map, ``PATCH`` merges into it, ``DELETE`` clears it and
``DELETE .../metadata/{key}`` removes one key (an unknown key is no error). Each answers
``{"metadata": {...}}`` with the map now stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from billow.core.db import DbSession
from billow.core.errors import MissingRoot, ValidationFailed
from billow.core.wire import JsonBody

Change = Callable[[dict[str, Any]], dict[str, Any]]
# update(session, organization, resource identifier from the path, change) -> the stored map;
# it locks the resource's row, applies ``change`` to its map and stores the result.
Update = Callable[[Session, Any, str, Change], dict[str, Any]]


def is_flat(value: Any) -> bool:
    """A flat map of non-empty keys to strings or nulls."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and key and (item is None or isinstance(item, str)) for key, item in value.items()
    )


def body(payload: Any) -> dict[str, Any]:
    """Top-level ``{"metadata": {...}}`` (an empty map is allowed)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("metadata"), dict):
        raise MissingRoot("metadata")
    if not is_flat(payload["metadata"]):
        raise ValidationFailed.field("metadata", "value_is_invalid")
    return payload["metadata"]  # type: ignore[no-any-return]


def add_routes(router: APIRouter, path: str, param: str, organization: Any, update: Update) -> None:
    """The four routes under ``{path}/metadata``; ``param`` names the path parameter that
    identifies the resource, ``organization`` is the caller's organization dependency."""

    def replace(request: Request, session: DbSession, org: Any = organization,
                payload: Any = JsonBody()) -> dict[str, Any]:
        new = body(payload)
        return {"metadata": update(session, org, request.path_params[param], lambda _: dict(new))}

    def merge(request: Request, session: DbSession, org: Any = organization,
              payload: Any = JsonBody()) -> dict[str, Any]:
        new = body(payload)
        return {"metadata": update(session, org, request.path_params[param], lambda old: {**old, **new})}

    def clear(request: Request, session: DbSession, org: Any = organization) -> dict[str, Any]:
        return {"metadata": update(session, org, request.path_params[param], lambda _: {})}

    def remove(request: Request, key: str, session: DbSession, org: Any = organization) -> dict[str, Any]:
        return {"metadata": update(session, org, request.path_params[param],
                                   lambda old: {k: v for k, v in old.items() if k != key})}

    router.add_api_route(f"{path}/metadata", replace, methods=["POST"])
    router.add_api_route(f"{path}/metadata", merge, methods=["PATCH"])
    router.add_api_route(f"{path}/metadata", clear, methods=["DELETE"])
    router.add_api_route(f"{path}/metadata/{{key}}", remove, methods=["DELETE"])
