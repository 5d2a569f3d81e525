"""Service errors. One handler renders every one as ``{"error": <class>, "detail": <message>, "field": <name>?}``."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 500

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers
        if status_code is not None:
            self.status_code = status_code
        self.field = field
        self.extra = extra


class BadRequest(ServiceError):
    status_code = 400


class Unauthorized(ServiceError):
    status_code = 401


class Forbidden(ServiceError):
    status_code = 403


class CsrfFailed(Forbidden):
    """A state-changing request authenticated by the session cookie without the matching CSRF header."""


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class UnsupportedMediaType(ServiceError):
    status_code = 415


class UnprocessableAudio(ServiceError):
    status_code = 422


class InvalidInput(ServiceError):
    """A request that is well-formed but breaks a rule (a time outside the track, end before start): 422."""

    status_code = 422


class ValidationError(InvalidInput):
    """Input the request's schema refuses (a NUL character, a non-finite number): named like FastAPI's own."""


class RangeNotSatisfiable(ServiceError):
    status_code = 416


class ServiceUnavailable(ServiceError):
    """Something the service depends on is down or overloaded; the same request succeeds later (503 + Retry-After)."""

    status_code = 503


class StorageUnavailable(ServiceUnavailable):
    pass


class DatabaseUnavailable(ServiceUnavailable):
    pass


class InternalError(ServiceError):
    """An unexpected failure: logged with the request id, answered without details."""

    status_code = 500


def error_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route, so OpenAPI lists the errors it can return."""
    from service.schemas import ErrorRead

    return {err.status_code: {"model": ErrorRead, "description": err.__name__} for err in errors}
