"""Transient or permanent: one answer, used by the API (503 + Retry-After), the tasks (retry) and the reaper.

A *transient* failure is an outage of something the service depends on: the database or object storage is
unreachable, times out, answers 5xx or throttles. The same work succeeds once it is back, so it is retried
with backoff (a task) or answered 503 with ``Retry-After`` (a request). Everything else is *permanent* for that
input: undecodable audio, a missing object, access denied. Retrying it only wastes time, so it fails at once.
"""

from __future__ import annotations

import errno

from botocore import exceptions as boto
from sqlalchemy import exc as sa

from service.errors import StorageUnavailable

__all__ = ["is_transient", "is_transient_database", "is_transient_storage"]

# S3 error codes that mean "slow down" or "try again", whatever the HTTP status says.
_RETRYABLE_S3_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
    }
)
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EPIPE,
        errno.EAGAIN,
    }
)
_BOTO_NETWORK = (
    boto.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, ...
    boto.HTTPClientError,  # ReadTimeoutError, ConnectionClosedError
    boto.ResponseStreamingError,
    boto.IncompleteReadError,
)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, without cycles.

    boto3's and s3transfer's ``RetriesExceededError`` (a download cut off mid-stream, retried and cut off
    again) carry the network error that ended their last try as ``last_exception``, outside the chain.
    """
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (current.__cause__ or current.__context__, getattr(current, "last_exception", None)):
            if isinstance(nxt, BaseException):
                pending.append(nxt)
    return seen


def is_transient_storage(exc: BaseException) -> bool:
    """True when object storage was unreachable, timed out, answered 5xx or throttled."""
    for item in _chain(exc):
        if isinstance(item, StorageUnavailable):
            return True
        if isinstance(item, _BOTO_NETWORK):
            return True
        if isinstance(item, boto.ClientError):
            error = item.response.get("Error", {})
            status = item.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if error.get("Code") in _RETRYABLE_S3_CODES or status >= 500 or status == 429:
                return True
    return False


def is_transient_database(exc: BaseException) -> bool:
    """True when the database was unreachable, dropped the connection, or no connection could be had in time."""
    for item in _chain(exc):
        if isinstance(item, sa.DBAPIError) and item.connection_invalidated:
            return True
        if isinstance(item, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is an outage of storage, the database or the network."""
    if is_transient_storage(exc) or is_transient_database(exc):
        return True
    for item in _chain(exc):
        if isinstance(item, ConnectionError | TimeoutError):
            return True
        if isinstance(item, OSError) and item.errno in _NETWORK_ERRNOS:
            return True
    return False
