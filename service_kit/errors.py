"""One exception hierarchy and the handlers that render every failure in the API.md envelope."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    """A failure the client should see: an HTTP status, a stable `code`, a `message`, optional details.

    A class says its status and its default code and message; an instance may carry others (the order
    service relays the product service's code), and the envelope shows the instance's."""

    status_code: ClassVar[int] = 500
    code: str = "internal_error"
    message: str = "The server could not complete the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.message = message or type(self).message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "The request is malformed."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "The resource does not exist."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class VersionConflict(Conflict):
    code = "version_conflict"
    message = "The resource changed since the given version."


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    message = "The resource changed since the given If-Match version."


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is invalid."


class PreconditionRequired(AppError):
    status_code = 428
    code = "precondition_required"
    message = "Say which version you read: send If-Match or a version field."


class DependencyUnavailable(AppError):
    status_code = 503
    code = "dependency_unavailable"
    message = "A service this request depends on is unavailable."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "The service is not ready."


class _RetryLater(AppError):
    """A refusal that says when to come back: `Retry-After` in the headers and `retry_after_seconds` in the
    details, the field the gateway's own 429 uses too, so a client reads one name whoever refused it."""

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.details.setdefault("retry_after_seconds", retry_after)
        self.headers.setdefault("Retry-After", str(retry_after))


class Overloaded(_RetryLater):
    """Too much of one costly kind of work at once on this replica: nothing was done."""

    status_code = 503
    code = "overloaded"
    message = "The service is busy; try again shortly."


class SearchTimedOut(_RetryLater):
    """A search ran past its statement time limit (SEARCH_STATEMENT_SECONDS): nothing else waited for it."""

    status_code = 503
    code = "search_timeout"
    message = "The search took too long; make it more specific, or try again shortly."


class TooManyRequests(_RetryLater):
    status_code = 429
    code = "too_many_requests"
    message = "Too many requests; try again later."


class ErrorBody(BaseModel):
    code: str = Field(description="Stable and machine-readable: what went wrong.")
    message: str = Field(description="For people; may change.")
    details: dict[str, Any] = Field(description="What the code's documentation says it carries; may be empty.")
    request_id: str | None = Field(description="The X-Request-ID of this request, on every log line it left.")


class ErrorEnvelope(BaseModel):
    """Every error, from a service or from the gateway, is this one envelope."""

    error: ErrorBody


def error_responses(*errors: type[AppError], notes: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the errors a route raises, from the exception classes themselves: each status
    with the envelope and every code it can carry. `notes`: more words for a status (what its details hold).
    401, 422 and 503 need not be named: every document adds them where they apply (service_kit.openapi)."""
    lines: dict[int, list[str]] = {}
    for error in errors:
        lines.setdefault(error.status_code, []).append(f"`{error.code}`: {error.message}")
    for status, note in (notes or {}).items():
        lines.setdefault(status, []).append(note)
    return {status: {"model": ErrorEnvelope, "description": " ".join(text)} for status, text in sorted(lines.items())}


def request_id_of(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    return state.get("request_id")


def error_body(code: str, message: str, details: Mapping[str, Any] | None, request_id: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {}), "request_id": request_id}}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(code, message, details, request_id_of(request))
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _code_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def validation_details(errors: Any) -> dict[str, Any]:
    """Field and reason for each error; never the offending input, which may be a password."""
    fields = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        source = location[0] if location else "body"
        field = ".".join(location[1:]) if len(location) > 1 else source
        fields.append({"field": field, "in": source, "message": error.get("msg", ""), "type": error.get("type", "")})
    return {"fields": fields}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    return error_response(request, 422, ValidationFailed.code, ValidationFailed.message, details)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    headers = dict(exc.headers or {})
    documents = getattr(request.app.state, "openapi_documents", None)
    if status == 405 and documents is not None:
        # Every method the path takes, not only those of the first route Starlette matched.
        headers["Allow"] = ", ".join(documents.allowed_methods(request.url.path))
    return error_response(request, status, _code_for_status(status), message, headers=headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Not the client's fault and not a bug: the database is down, overloaded, or out of connections.
    log.warning("database_unavailable", error=type(exc).__name__, detail=str(exc)[:200])
    return error_response(request, 503, ServiceUnavailable.code, "The database is unavailable; try again.")


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure in the envelope (the unexpected ones: see RequestContextMiddleware)."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
