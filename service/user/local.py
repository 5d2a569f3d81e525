"""The embedded default's local user: created on first start, its API token written to the token file."""

from __future__ import annotations

import os

from service.config import settings
from service.db import session_scope
from service.user.repository import user_repository
from service.user.service import user as user_service

LOCAL_USER_EMAIL = "local@reftrack.localhost"


def ensure_local_user() -> str | None:
    """Create the local user when there is no user yet; return its new token (shown once), else ``None``."""
    with session_scope() as session:
        if user_repository.list(session):
            return None
        local = user_service.create(session, email=LOCAL_USER_EMAIL, name="Local producer", role="admin")
        token = user_service.issue_token(session, user=local).token
    token_file = settings.token_file
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(token_file, 0o600)
    return token
