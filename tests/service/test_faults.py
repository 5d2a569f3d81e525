"""Which failures are outages (retry, 503) and which are permanent for the input."""

from __future__ import annotations

import errno

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from sqlalchemy.exc import IntegrityError, OperationalError

from analysis.errors import AnalysisError
from service.errors import StorageUnavailable
from service.faults import is_transient, is_transient_database, is_transient_storage


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        _client_error("SlowDown", 503),
        _client_error("InternalError", 500),
        _client_error("Whatever", 502),
        _client_error("TooManyRequestsException", 429),
        StorageUnavailable("storage is down"),
    ],
)
def test_storage_outages_are_transient(exc: BaseException) -> None:
    assert is_transient_storage(exc) is True
    assert is_transient(exc) is True
    assert is_transient_database(exc) is False


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("NoSuchKey", 404),
        _client_error("AccessDenied", 403),
        _client_error("NoSuchBucket", 404),
        AnalysisError("not audio"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        ValueError("bad"),
        OSError(errno.ENOENT, "No such file"),
    ],
)
def test_permanent_failures_are_not_transient(exc: BaseException) -> None:
    assert is_transient(exc) is False


def test_database_outage_is_transient() -> None:
    exc = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert is_transient_database(exc) is True
    assert is_transient_storage(exc) is False


@pytest.mark.parametrize("exc", [ConnectionResetError(), TimeoutError(), OSError(errno.ECONNREFUSED, "refused")])
def test_network_errors_are_transient(exc: BaseException) -> None:
    assert is_transient(exc) is True


def test_cause_is_followed() -> None:
    # given a domain error raised from a connection failure
    outer = RuntimeError("could not fetch the original")
    outer.__cause__ = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    # then the outage shows through
    assert is_transient(outer) is True


def test_a_download_cut_off_on_every_try_is_transient() -> None:
    # given: boto3's error for a download whose every try broke off mid-stream, raised while handling
    # s3transfer's own, which holds the network error of the last try
    from boto3.exceptions import RetriesExceededError
    from botocore.exceptions import ResponseStreamingError
    from s3transfer.exceptions import RetriesExceededError as TransferRetriesExceededError

    last = ResponseStreamingError(error=ConnectionResetError(errno.ECONNRESET, "reset"))
    try:
        try:
            raise TransferRetriesExceededError(last)
        except TransferRetriesExceededError as inner:
            raise RetriesExceededError(inner.last_exception)  # noqa: B904 (boto3 raises it this way)
    except RetriesExceededError as exc:
        outer = exc
    # then
    assert is_transient_storage(outer) is True
    assert is_transient(outer) is True


def test_a_permanent_error_is_not_made_transient_by_an_unrelated_attribute() -> None:
    exc = ValueError("bad")
    exc.last_exception = "not an exception"  # type: ignore[attr-defined]
    assert is_transient(exc) is False
