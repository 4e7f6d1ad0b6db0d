"""Identity logic: organisations, posts, users, service accounts, passwords, tokens. No HTTP."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload
from stdnum.cn import uscc

from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from citybrain.kernel.identity.models import (
    ORG_KINDS,
    ORG_LEVELS,
    ROLES,
    ApiKey,
    Organisation,
    Post,
    RevokedToken,
    User,
    UserPost,
)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("citybrain-timing-equaliser")
API_KEY_PREFIX = "cbk_"
JWT_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller as the gate sees it."""

    user_id: int
    name: str
    organisation: str
    roles: tuple[str, ...]
    posts: tuple[str, ...]
    disabled: bool = False
    is_service: bool = False
    token_id: str | None = None
    token_expires: datetime | None = None
    password_change_only: bool = False


def validate_credit_code(code: str, field: str = "code") -> str:
    """Return the compact unified social credit code (GB 32100) or raise InvalidInput."""
    try:
        return uscc.validate(code)
    except uscc.ValidationError as exc:
        raise InvalidInput(
            f"{code!r} is not a valid unified social credit code (GB 32100): {exc.message}",
            field=field,
        ) from exc


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the stored argon2 hash."""
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _one_of(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=field)
    return value


def get_organisation(session: Session, code: str, field: str = "code") -> Organisation:
    """The organisation with this credit code, or NotFound."""
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"no organisation with code {code}", field=field)
    return org


def ancestors(session: Session, org: Organisation) -> tuple[str, ...]:
    """Codes of the organisation's parents, nearest first."""
    chain: list[str] = []
    current = org.parent
    while current is not None and len(chain) < 32:
        chain.append(current.code)
        current = current.parent
    return tuple(chain)


def create_organisation(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    level: str,
    parent_code: str | None = None,
    name_en: str = "",
    clock: Clock = system_clock,
) -> Organisation:
    """Create an organisation; 422 for a bad code/kind/level, 409 if the code exists."""
    code = validate_credit_code(code)
    _one_of(kind, ORG_KINDS, "kind")
    _one_of(level, ORG_LEVELS, "level")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    parent = get_organisation(session, parent_code, "parent_code") if parent_code else None
    if session.scalar(select(Organisation.id).where(Organisation.code == code)) is not None:
        raise Conflict(f"organisation {code} already exists", field="code")
    org = Organisation(
        code=code,
        name=name.strip(),
        name_en=name_en.strip(),
        kind=kind,
        level=level,
        parent=parent,
        created_at=clock(),
    )
    session.add(org)
    _flush(session, f"organisation {code} already exists", "code")
    return org


def _flush(session: Session, conflict_message: str, field: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict_message, field=field) from exc


def create_post(
    session: Session, *, organisation_code: str, name: str, role: str, title: str = ""
) -> Post:
    """Create a post (岗位) in an organisation; the post carries one role."""
    org = get_organisation(session, organisation_code, "organisation_code")
    _one_of(role, ROLES, "role")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    exists = session.scalar(
        select(Post.id).where(Post.organisation_id == org.id, Post.name == name.strip())
    )
    if exists is not None:
        raise Conflict(f"post {name!r} already exists in {org.code}", field="name")
    post = Post(organisation=org, name=name.strip(), role=role, title=title)
    session.add(post)
    _flush(session, f"post {name!r} already exists in {org.code}", "name")
    return post


def get_post(session: Session, organisation_code: str, name: str) -> Post:
    """A post by organisation code and post name, or NotFound."""
    org = get_organisation(session, organisation_code, "organisation_code")
    post = session.scalar(select(Post).where(Post.organisation_id == org.id, Post.name == name))
    if post is None:
        raise NotFound(f"no post {name!r} in {organisation_code}", field="posts")
    return post


def create_user(
    session: Session,
    *,
    name: str,
    organisation_code: str,
    posts: list[str],
    password: str | None = None,
    display_name: str = "",
    is_service: bool = False,
    clock: Clock = system_clock,
) -> tuple[User, str | None]:
    """Create a user holding posts of its organisation.

    Returns the user and, when no password was given (and it is not a service account), a
    generated one-time password the user must change.
    """
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("name must be letters, digits, '-', '_' or '.'", field="name")
    org = get_organisation(session, organisation_code, "organisation_code")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    if password is not None and len(password) < 10:
        raise InvalidInput("password must have at least 10 characters", field="password")
    generated = None
    if password is None and not is_service:
        generated = secrets.token_urlsafe(12)
    secret = password or generated
    user = User(
        name=name,
        display_name=display_name,
        organisation=org,
        password_hash=hash_password(secret) if secret else None,
        is_service=is_service,
        must_change_password=generated is not None,
        created_at=clock(),
    )
    user.posts = [get_post(session, org.code, p) for p in posts]
    session.add(user)
    _flush(session, f"user {name!r} already exists", "name")
    return user, generated


def get_user(session: Session, name: str) -> User:
    """A user by name, or NotFound."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}", field="user")
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password (at least 10 characters)."""
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters", field="new_password")
    user.password_hash = hash_password(password)
    user.must_change_password = False


def caller_for(user: User, token_id: str | None = None, expires: datetime | None = None) -> Caller:
    """The gate's view of a user."""
    roles = tuple(sorted({p.role for p in user.posts}))
    return Caller(
        user_id=user.id,
        name=user.name,
        organisation=user.organisation.code,
        roles=roles,
        posts=tuple(sorted(f"{p.organisation.code}/{p.name}" for p in user.posts)),
        disabled=user.disabled,
        is_service=user.is_service,
        token_id=token_id,
        token_expires=expires,
    )


def authenticate_password(session: Session, name: str, password: str) -> User:
    """The user with this name and password, or Unauthenticated (same message either way)."""
    user = session.scalar(select(User).where(User.name == name))
    # Always pay for one argon2 verification, so timing does not reveal which names exist.
    matches = check_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or user.disabled or not matches:
        raise Unauthenticated("wrong user name or password")
    return user


def issue_token(
    user: User,
    secret: str,
    ttl_s: int,
    clock: Clock = system_clock,
    *,
    password_change_only: bool = False,
) -> tuple[str, datetime]:
    """A signed bearer token (JWT HS256) for ``user``; returns token and expiry.

    A token from a one-time password login is ``password_change_only``: it opens nothing but
    the password change (and /me, logout).
    """
    now = clock()
    exp = now + timedelta(seconds=ttl_s)
    claims = {
        "sub": user.name,
        "uid": user.id,
        "org": user.organisation.code,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "typ": "password-change" if password_change_only else "access",
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), exp


def decode_token(token: str, secret: str, clock: Clock = system_clock) -> dict[str, object]:
    """Verify signature and expiry of a bearer token; Unauthenticated otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "jti"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    if int(claims["exp"]) <= int(clock().timestamp()):
        raise Unauthenticated("token expired")
    return claims


def resolve_bearer(
    session: Session, token: str, secret: str, clock: Clock = system_clock
) -> Caller:
    """Authenticate a bearer token or API key and return the caller."""
    if token.startswith(API_KEY_PREFIX):
        return caller_for(resolve_api_key(session, token))
    claims = decode_token(token, secret, clock)
    jti = str(claims["jti"])
    if session.get(RevokedToken, jti) is not None:
        raise Unauthenticated("token revoked")
    user = session.scalar(
        select(User)
        .options(
            joinedload(User.organisation), selectinload(User.posts).joinedload(Post.organisation)
        )
        .where(User.name == claims["sub"])
    )  # one round trip for the user and its organisation, one for its posts
    if user is None or user.disabled:
        raise Unauthenticated("account no longer active")
    caller = caller_for(user, jti, datetime.fromtimestamp(int(claims["exp"]), UTC))
    if claims.get("typ") == "password-change":
        if not user.must_change_password:
            raise Unauthenticated("one-time token already used; log in with the new password")
        return replace(caller, password_change_only=True)
    return caller


def revoke_token(
    session: Session, jti: str, expires_at: datetime, clock: Clock = system_clock
) -> None:
    """Put a token on the revocation list; expired entries are pruned at the same time."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < clock()))
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))


def create_api_key(session: Session, user: User, clock: Clock = system_clock) -> str:
    """A new API key for a service account; the plaintext is returned once, only its hash kept."""
    if not user.is_service:
        raise InvalidInput("API keys are for service accounts", field="user")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    session.add(
        ApiKey(
            prefix=prefix,
            key_hash=hashlib.sha256(secret.encode()).hexdigest(),
            user_id=user.id,
            created_at=clock(),
        )
    )
    session.flush()
    return f"{API_KEY_PREFIX}{prefix}_{secret}"


def resolve_api_key(session: Session, key: str) -> User:
    """The service account owning an API key, or Unauthenticated."""
    try:
        prefix, secret = key[len(API_KEY_PREFIX) :].split("_", 1)
    except ValueError as exc:
        raise Unauthenticated("malformed API key") from exc
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if row is None or row.revoked or not secrets.compare_digest(row.key_hash, digest):
        raise Unauthenticated("unknown or revoked API key")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise Unauthenticated("account no longer active")
    return user


def user_count(session: Session) -> int:
    """How many accounts exist."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count(User.id))) or 0)


def organisation_count(session: Session) -> int:
    """How many organisations exist."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count(Organisation.id))) or 0)


__all__ = [
    "Caller",
    "UserPost",
    "authenticate_password",
    "caller_for",
    "create_api_key",
    "create_organisation",
    "create_post",
    "create_user",
    "issue_token",
    "resolve_bearer",
    "revoke_token",
    "validate_credit_code",
]
