"""The user's reference collections (user_references)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/references", tags=["references"])
