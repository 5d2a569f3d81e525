"""Values as people read them in a prompt."""

from __future__ import annotations

import math
from typing import Any


def format_time(seconds: float) -> str:
    """``m:ss``, rounded down so that cueing at the shown time never starts after the moment."""
    whole = max(0, math.floor(seconds + 1e-6))
    return f"{whole // 60}:{whole % 60:02d}"


def _signed(value: float, digits: int = 1) -> str:
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _plain(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _bpm(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _hz(value: float) -> str:
    return f"{value:.0f} Hz" if value < 999.5 else f"{value / 1000.0:.1f} kHz"


def _band_label(name: str, low_hz: float | None = None, high_hz: float | None = None) -> str:
    """``low-mid (250 Hz-2 kHz)``: the band's name as producers write it, with its range when known."""
    label = name.replace("_", "-")
    if low_hz is None or high_hz is None:
        return label
    if high_hz < 1000.0:
        return f"{label} ({low_hz:g}-{high_hz:g} Hz)"
    if low_hz >= 1000.0:
        return f"{label} ({low_hz / 1000.0:g}-{high_hz / 1000.0:g} kHz)"
    return f"{label} ({low_hz:g} Hz-{high_hz / 1000.0:g} kHz)"


def _number(value: float, digits: int = 4) -> float:
    return round(float(value), digits) + 0.0


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
