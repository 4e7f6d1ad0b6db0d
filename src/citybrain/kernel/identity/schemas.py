"""Request and response models of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from citybrain.kernel.schemas import Input

OrgKind = Literal["government", "department", "enterprise", "other"]
OrgLevel = Literal["city", "district", "department", "unit"]
Role = Literal["admin", "operator", "clerk", "auditor", "supervisor", "service", "citizen"]
Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class LoginIn(Input):
    """User name and password."""

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    must_change_password: bool = False


class PasswordIn(Input):
    """Change one's own password."""

    old_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


class OrgIn(Input):
    """A new organisation."""

    code: str = Field(min_length=1, max_length=40, description="unified social credit code")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    kind: OrgKind
    level: OrgLevel
    parent_code: str | None = Field(None, max_length=40)


class OrgOut(BaseModel):
    """An organisation."""

    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    name_en: str
    kind: str
    level: str
    parent_code: str | None = None
    created_at: datetime


class PostIn(Input):
    """A new post (岗位)."""

    name: str = Name
    role: Role
    title: str = Field("", max_length=200)


class PostOut(BaseModel):
    """A post."""

    organisation_code: str
    name: str
    role: str
    title: str


class UserIn(Input):
    """A new user or service account."""

    name: str = Name
    organisation_code: str = Field(min_length=1, max_length=40)
    posts: list[str] = Field(default_factory=list, max_length=20)
    display_name: str = Field("", max_length=200)
    password: str | None = Field(None, min_length=10, max_length=200)
    is_service: bool = False


class UserOut(BaseModel):
    """A user as others see it (never a password hash)."""

    name: str
    display_name: str
    organisation_code: str
    posts: list[str]
    roles: list[str]
    is_service: bool
    disabled: bool
    created_at: datetime


class UserCreated(UserOut):
    """A just-created user; ``one_time_password`` is shown once."""

    one_time_password: str | None = None


class ApiKeyOut(BaseModel):
    """A new API key, shown once."""

    api_key: str
