"""Listening prompt templates (admin), presets and prompts instantiated for a track."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["listening prompts"])
