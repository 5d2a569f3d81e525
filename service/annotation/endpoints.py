"""Annotations and regions of a track: CRUD, snapping, from-sections, Audacity/JAMS import and export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/tracks", tags=["annotations"])
