"""Lago's error envelope and the exceptions services raise to produce it.

Every error body carries ``status`` (equal to the HTTP status) and ``error``; 403/404/405/422 add
a machine ``code``; 422 adds ``error_details`` mapping a field (or, for batches, an index) to a
list of codes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

ErrorDetails = dict[str, Any]


class LagoError(Exception):
    status: int = 400
    error: str = "BadRequest"

    def __init__(self, code: str | None = None, details: ErrorDetails | None = None, error: str | None = None):
        super().__init__(code or error or self.error)
        self.code = code
        self.details = details
        if error is not None:
            self.error = error

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "error": self.error}
        if self.code is not None:
            body["code"] = self.code
        if self.details is not None:
            body["error_details"] = self.details
        return body


class BadRequest(LagoError):
    status = 400

    def __init__(self, detail: str):
        super().__init__(error=f"BadRequest: {detail}")


class MissingRoot(BadRequest):
    def __init__(self, root: str):
        super().__init__(f"param is missing or the value is empty or invalid: {root}")


class Unauthorized(LagoError):
    status = 401
    error = "Unauthorized"


class Forbidden(LagoError):
    status = 403
    error = "Forbidden"


class NotFound(LagoError):
    """404 ``<resource>_not_found``."""

    status = 404
    error = "Not Found"

    def __init__(self, resource: str):
        super().__init__(code=f"{resource}_not_found")
        self.resource = resource


class NotAllowed(LagoError):
    """405: a business rule refuses the action on an existing object."""

    status = 405
    error = "Method Not Allowed"

    def __init__(self, code: str):
        super().__init__(code=code)


class ValidationFailed(LagoError):
    """422 ``validation_errors`` with per-field error codes."""

    status = 422
    error = "Unprocessable Entity"

    def __init__(self, details: ErrorDetails):
        super().__init__(code="validation_errors", details=details)

    @classmethod
    def field(cls, field: str, code: str) -> ValidationFailed:
        return cls({field: [code]})


def _lago_response(exc: LagoError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    async def on_lago_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LagoError)
        return _lago_response(exc)

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # Lago answers unknown routes *and* unsupported verbs with 404 resource_not_found.
        if exc.status_code in (404, 405):
            return _lago_response(NotFound("resource"))
        return JSONResponse({"status": exc.status_code, "error": str(exc.detail)}, status_code=exc.status_code)

    async def on_request_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        from billow.core.wire import details_from_pydantic

        for err in exc.errors():
            if err.get("type") == "json_invalid" or (err.get("loc") or ("",))[0] == "body":
                return _lago_response(BadRequest("invalid JSON body"))
        return _lago_response(ValidationFailed(details_from_pydantic(exc.errors(), skip_prefix=1)))

    app.add_exception_handler(LagoError, on_lago_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
