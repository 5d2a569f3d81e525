"""Auth tokens, the current user and admin user management."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
