"""A raw HTTP/1.1 client over one socket, for what httpx hides: keep-alive reuse and a body sent slowly."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket, *, timeout: float = 10.0) -> RawResponse:
    """One response from ``sock``: headers, then a body of its Content-Length."""
    sock.settimeout(timeout)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a body")
        rest += chunk
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=rest[:length])


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class SlowSend:
    response: RawResponse | None
    sent: int
    seconds: float


def send_slowly(
    sock: socket.socket,
    head: bytes,
    *,
    total: int,
    chunk: bytes,
    pause_s: float = 0.005,
    deadline_s: float = 60.0,
) -> SlowSend:
    """Send ``head`` and then up to ``total`` body bytes in ``chunk``s, stopping as soon as a response arrives.

    ``chunk`` is sent as is, so a chunked body passes its framing in it. Returns the response (if one came) and
    how many body bytes had been sent by then.
    """
    started = time.monotonic()
    sock.sendall(head)
    sock.setblocking(False)
    sent = 0
    try:
        while sent < total and time.monotonic() - started < deadline_s:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk[: total - sent])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # the server answered and closed: what is read below
                    break
                time.sleep(pause_s)
    finally:
        sock.setblocking(True)
    try:
        response = read_response(sock)
    except (ConnectionError, TimeoutError, OSError):
        response = None
    return SlowSend(response=response, sent=sent, seconds=time.monotonic() - started)
