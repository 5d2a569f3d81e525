from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from service.audit.models import AuditLog


class AuditService:
    def record(
        self,
        session: Session,
        *,
        user_id: uuid.UUID | None,
        action: str,
        target_type: str | None = None,
        target_id: str | None = None,
        ip_address: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditLog:
        entry = AuditLog(
            user_id=user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip_address=ip_address,
            details=details or {},
        )
        session.add(entry)
        return entry


audit = AuditService()
