"""Identity tables: organisations in a hierarchy, posts (岗位), users, roles, API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from citybrain.kernel.db import Base, UTCDateTime

ORG_KINDS = ("government", "department", "enterprise", "other")
ORG_LEVELS = ("city", "district", "department", "unit")
ROLES = ("admin", "operator", "clerk", "auditor", "supervisor", "service", "citizen")


class Organisation(Base):
    """A government, department, enterprise or other organisation with its credit code."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(18), unique=True)  # unified social credit code
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])


class Post(Base):
    """A post (岗位) within an organisation; permissions attach to posts, not people."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))

    organisation: Mapped[Organisation] = relationship()


class User(Base):
    """A person (or a service account) who acts through the posts they hold."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()
    posts: Mapped[list[Post]] = relationship(secondary="user_posts", lazy="selectin")


class UserPost(Base):
    """A user holding a post."""

    __tablename__ = "user_posts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)


class ApiKey(Base):
    """An API key of a service account; only its hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class RevokedToken(Base):
    """A bearer token revoked before its expiry (kept until it would have expired)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
