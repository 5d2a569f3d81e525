"""A TCP proxy on loopback that a test can cut and restore, to put a real outage between a process and a server.

:meth:`TcpProxy.cut` drops every open connection and closes the listening socket, so connections in flight
fail mid-request and new ones are refused, as when a server or the network to it goes down;
:meth:`TcpProxy.restore` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from tests.fixtures.storage import free_port

_CHUNK = 1 << 16


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cuts = 0
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._closed = False
        self._listen()

    @classmethod
    def to_url(cls, url: str) -> TcpProxy:
        parts = urlsplit(url)
        assert parts.hostname is not None, url
        assert parts.port is not None, url
        return cls(parts.hostname, parts.port)

    def proxied_url(self, url: str) -> str:
        """``url`` (http or a database URL) with its host and port replaced by this proxy's."""
        if "://" in url and url.split("://", 1)[0].startswith(("postgres", "sqlite", "mysql")):
            return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))

    @property
    def is_cut(self) -> bool:
        with self._lock:
            return self._listener is None

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        if listener is not None:
            _close(listener)
        for client, upstream in pairs:
            _close(client)
            _close(upstream)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self.is_cut and not self._closed:
            self._listen()

    def close(self) -> None:
        self._closed = True
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # One side finished or the proxy was cut: end both directions.
            _close(src)
            _close(dst)
            with self._lock:
                self._pairs = [p for p in self._pairs if src not in p]


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
