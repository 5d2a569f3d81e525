"""HMAC signatures for URLs that carry their own authorisation (signed audio URLs).

The key is ``REFTRACK_SECRET_KEY`` when set, else a random key created once in ``REFTRACK_DATA_DIR/secret_key``
(readable by the service's user only), so the embedded default needs no setting and keeps its URLs valid across
restarts. Several API servers behind one address must share the setting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
import threading
from pathlib import Path

from service.config import Settings, settings

__all__ = ["sign", "signing_key", "verify"]

_KEY_BYTES = 32
_lock = threading.Lock()
_keys: dict[str, bytes] = {}


def signing_key(cfg: Settings = settings) -> bytes:
    """The HMAC key: from the setting, or from the data directory's key file (created on first use)."""
    if cfg.secret_key is not None:
        return cfg.secret_key.get_secret_value().encode()
    path = cfg.secret_key_file
    with _lock:
        cached = _keys.get(str(path))
        if cached is not None:
            return cached
        if path.exists():
            key = path.read_bytes().strip()
        else:
            key = _create_key_file(path)
        if len(key) < _KEY_BYTES:
            raise RuntimeError(f"{path} holds no usable key; delete it to have a new one made")
        _keys[str(path)] = key
        return key


def _create_key_file(path: Path) -> bytes:
    """Write a new key to ``path`` whole, or read the one another process wrote first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(_KEY_BYTES).encode()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key + b"\n")
        os.chmod(temporary, 0o600)
        try:
            # A hard link appears complete or not at all, and fails if the file exists: no reader sees half a key.
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        os.unlink(temporary)
    return key


def sign(message: str, *, cfg: Settings = settings) -> str:
    """The URL-safe signature of ``message``."""
    digest = hmac.new(signing_key(cfg), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(message: str, signature: str, *, cfg: Settings = settings) -> bool:
    return hmac.compare_digest(sign(message, cfg=cfg), signature)
