from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from service.schemas import Schema

Role = Literal["user", "admin"]

_USER_EXAMPLE: dict[str, Any] = {
    "id": "5654690e-b47d-4363-8e04-e509c560724b",
    "email": "sam.reyes@northpier-studio.com",
    "name": "Sam Reyes",
    "role": "user",
    "is_active": True,
    "created_at": "2026-02-27T10:04:51.662410+00:00",
    "last_activity_at": "2026-04-02T09:15:40.981137+00:00",
}


class UserRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    id: uuid.UUID
    email: str
    name: str | None
    role: Role
    is_active: bool
    created_at: datetime
    last_activity_at: datetime | None


class UserList(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {
                            "id": "4da27ca1-8c25-41ee-b2f8-4563b86bd5c8",
                            "email": "local@reftrack.localhost",
                            "name": "Local producer",
                            "role": "admin",
                            "is_active": True,
                            "created_at": "2026-02-27T09:58:12.304917+00:00",
                            "last_activity_at": "2026-04-02T09:21:07.554028+00:00",
                        },
                        _USER_EXAMPLE,
                    ],
                    "count": 2,
                }
            ]
        }
    )

    data: list[UserRead]
    count: int


class UserAdminUpdate(BaseModel):
    """Fields left out are unchanged. Disabled users' tokens stop working at once; enabling restores them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": False}, {"role": "admin"}]})

    is_active: bool | None = None
    role: Role | None = None

    @field_validator("is_active", "role", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        return value


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "studio-mac", "ttl_days": 90}]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="A label to recognise the token by, e.g. the machine it is used on"
    )
    ttl_days: int | None = Field(
        default=None, ge=1, le=365, description="Days until it expires; defaults to the server's token lifetime"
    )


class TokenIssued(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "af1604f8-ad5e-48d5-a022-d6fec1b4a029",
                    "token": "rt_oBKv5h9XulLILYzpOTmo0z32Pfv50qyyHEfLel2sH94",
                    "name": "studio-mac",
                    "expires_at": "2026-07-01T09:30:12.845203+00:00",
                    "created_at": "2026-04-02T09:30:12.845203+00:00",
                }
            ]
        }
    )

    id: uuid.UUID
    token: str = Field(description="The bearer token. It is shown only this once: only its hash is stored.")
    name: str | None
    expires_at: datetime
    created_at: datetime


class SessionCreate(BaseModel):
    """Sign a browser in with an API token: the answer sets the session and CSRF cookies."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"token": "rt_oBKv5h9XulLILYzpOTmo0z32Pfv50qyyHEfLel2sH94"}]}
    )

    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="An API token of the user signing in (from `reftrack users create` or `POST /v1/auth/tokens`)"
    )
