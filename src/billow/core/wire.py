"""Lago's wire conventions for request and response bodies.

Requests: one root key per resource (400 when missing or empty), unknown keys ignored, explicit
``null`` treated as "not given" (so a PUT changes only the keys it carries), validation failures
turned into 422 ``error_details`` with Lago's machine codes.
Responses: ``lago_id`` UUIDs, ISO-8601 UTC times with ``Z``, decimals as strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar, get_args

from fastapi import Depends, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from billow.core import jsontext
from billow.core.errors import BadRequest, ErrorDetails, MissingRoot, ValidationFailed
from billow.core.money import is_currency

M = TypeVar("M", bound=BaseModel)

# Pydantic error types that map to a Lago code other than the generic `value_is_invalid`.
_PYDANTIC_CODES = {
    "missing": "value_is_mandatory",
    "greater_than": "value_is_out_of_range",
    "greater_than_equal": "value_is_out_of_range",
    "less_than": "value_is_out_of_range",
    "less_than_equal": "value_is_out_of_range",
}
# Every error type pydantic itself can produce; any other `type` is a Lago code raised on purpose.
_PYDANTIC_TYPES = frozenset(get_args(core_schema.ErrorType))


def lago_error(code: str, message: str | None = None) -> PydanticCustomError:
    """Raise from a validator to report exactly this Lago error code for the field."""
    return PydanticCustomError(code, message or code)


def _code_for(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind in _PYDANTIC_CODES:
        return _PYDANTIC_CODES[kind]
    if kind in _PYDANTIC_TYPES:
        return "value_is_invalid"
    return kind


def _field_for(loc: Sequence[Any], fallback: str) -> str:
    names = [str(part) for part in loc if isinstance(part, str) and not part.startswith("function-")]
    # Tagged unions insert the tag value (e.g. "standard") into the location; skip it.
    return names[-1] if names else fallback


def details_from_pydantic(errors: Iterable[dict[str, Any]], *, skip_prefix: int = 0, fallback: str = "base") -> ErrorDetails:
    details: ErrorDetails = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))[skip_prefix:]
        field = _field_for(loc, fallback)
        code = _code_for(error)
        codes = details.setdefault(field, [])
        if code not in codes:
            codes.append(code)
    return details


class WireIn(BaseModel):
    """Base of every request body: unknown keys dropped, explicit nulls mean "not given"."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def given(self, name: str) -> bool:
        return name in self.model_fields_set

    def changes(self, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """The fields the client actually sent (for partial updates)."""
        skip = set(exclude)
        return {name: getattr(self, name) for name in self.model_fields_set if name not in skip}


def validate(model: type[M], data: Any, *, fallback: str = "base") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(details_from_pydantic(exc.errors(), fallback=fallback)) from None


def parse_root(payload: Any, root: str, model: type[M]) -> M:
    if not isinstance(payload, dict):
        raise MissingRoot(root)
    body = payload.get(root)
    if not isinstance(body, dict) or not body:
        raise MissingRoot(root)
    return validate(model, body)


async def read_json(request: Request, *, exact: bool = False) -> Any:
    """The JSON body (None when empty); ``exact`` reads fractional numbers as ``Decimal``."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return jsontext.loads(raw) if exact else json.loads(raw)
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None


def RootBody(root: str, model: type[M]) -> Any:  # noqa: N802 - reads like a type in signatures
    """Dependency parsing ``{"<root>": {...}}`` into ``model``."""

    async def dependency(request: Request) -> M:
        return parse_root(await read_json(request), root, model)

    return Depends(dependency)


def JsonBody() -> Any:  # noqa: N802
    """Dependency giving the raw JSON body (None when empty)."""
    return Depends(read_json)


# ---- responses -------------------------------------------------------------------------------


def iso_utc(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (ISO 8601, UTC, whole seconds)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


UtcDateTime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str)]
IsoDate = Annotated[date, PlainSerializer(lambda d: d.isoformat(), return_type=str)]
DecimalString = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str)]


class WireOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def dump(model: type[WireOut], obj: Any) -> dict[str, Any]:
    return model.model_validate(obj).model_dump(mode="json")


def envelope(root: str, model: type[WireOut], obj: Any) -> dict[str, Any]:
    return {root: dump(model, obj)}


def dump_many(model: type[WireOut], objs: Iterable[Any]) -> list[dict[str, Any]]:
    return [dump(model, obj) for obj in objs]


Serializer = Callable[[Any], dict[str, Any]]


def _currency_code(value: str) -> str:
    if not is_currency(value):
        raise lago_error("value_is_invalid")
    return value


# An ISO 4217 code Billow knows (else `value_is_invalid`).
CurrencyCode = Annotated[str, AfterValidator(_currency_code)]
