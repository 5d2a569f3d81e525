"""Kernels compiled by numba on first use, which keeps numba (about a second to import) off the import path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["njit"]


def njit(function: Callable[..., Any], **options: Any) -> Any:
    """Compile ``function`` with ``numba.njit(**options)``, importing numba now."""
    import numba

    return numba.njit(**options)(function)
