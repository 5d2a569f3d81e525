"""HTTP caching helpers shared by the API's endpoints: conditional requests and private cache lifetimes."""

from __future__ import annotations

from fastapi import Request

# A private answer that may change at any time: kept, but checked with If-None-Match before each use.
REVALIDATE = "private, no-cache"


def matches(request: Request, current: str) -> bool:
    """Whether ``If-None-Match`` names ``current`` (weak comparison, as RFC 9110 prescribes for it)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == current for tag in header.split(","))
