"""Analysis data of a track: history, re-analysis, features by window, events, waveforms."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/tracks", tags=["analysis"])
