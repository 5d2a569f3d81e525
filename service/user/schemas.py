from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from service.schemas import Schema

Role = Literal["user", "admin"]


class UserRead(Schema):
    id: uuid.UUID
    email: str
    name: str | None
    role: Role
    is_active: bool
    created_at: datetime
    last_activity_at: datetime | None


class UserList(Schema):
    data: list[UserRead]
    count: int


class UserAdminUpdate(BaseModel):
    """Fields left out are unchanged. Disabled users' tokens stop working at once; enabling restores them."""

    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    role: Role | None = None

    @field_validator("is_active", "role", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        return value


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="A label to recognise the token by, e.g. the machine it is used on"
    )
    ttl_days: int | None = Field(
        default=None, ge=1, le=365, description="Days until it expires; defaults to the server's token lifetime"
    )


class TokenIssued(Schema):
    id: uuid.UUID
    token: str = Field(description="The bearer token. It is shown only this once: only its hash is stored.")
    name: str | None
    expires_at: datetime
    created_at: datetime
