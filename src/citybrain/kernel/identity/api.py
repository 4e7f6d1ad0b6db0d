"""Identity routes: login, own profile, organisations, posts, users, API keys. Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from citybrain.kernel.errors import Unauthenticated
from citybrain.kernel.events import OrganisationCreated
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import (
    CursorQuery,
    GovernedDep,
    LimitQuery,
    Page,
    get_runtime,
    keyset_page,
    problem_responses,
    request_id,
)
from citybrain.kernel.identity import service
from citybrain.kernel.identity.models import Organisation, Post, User
from citybrain.kernel.identity.schemas import (
    ApiKeyOut,
    LoginIn,
    OrgIn,
    OrgOut,
    PasswordIn,
    PostIn,
    PostOut,
    TokenOut,
    UserCreated,
    UserIn,
    UserOut,
)
from citybrain.kernel.runtime import Runtime

router = APIRouter(tags=["identity"])
LOGIN_POLICY = "password-login"
CodePath = Annotated[str, "unified social credit code"]


def org_out(org: Organisation) -> OrgOut:
    """Response model of an organisation."""
    return OrgOut(
        code=org.code,
        name=org.name,
        name_en=org.name_en,
        kind=org.kind,
        level=org.level,
        parent_code=org.parent.code if org.parent else None,
        created_at=org.created_at,
    )


def user_out(user: User) -> UserOut:
    """Response model of a user."""
    return UserOut(
        name=user.name,
        display_name=user.display_name,
        organisation_code=user.organisation.code,
        posts=sorted(p.name for p in user.posts),
        roles=sorted({p.role for p in user.posts}),
        is_service=user.is_service,
        disabled=user.disabled,
        created_at=user.created_at,
    )


def _parent_code(runtime: Runtime, code: str) -> str | None:
    with runtime.reader() as session:
        org = service.get_organisation(session, code)
        return org.parent.code if org.parent else None


@router.post(
    "/auth/login", response_model=TokenOut, tags=["auth"], responses=problem_responses(429)
)
def login(body: LoginIn, request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]):
    """Exchange a user name and password for a bearer token (the login itself is ledgered)."""
    rid = request_id(request)
    keys = (f"name:{body.name}", f"addr:{request.client.host if request.client else '?'}")
    runtime.login_throttle.check(*keys)
    with runtime.reader() as session:
        try:
            user = service.authenticate_password(session, body.name, body.password)
        except Unauthenticated:
            runtime.login_throttle.failed(*keys)
            failed = service.Caller(0, body.name[:100], "", (), ())
            runtime.gate.record_denial(
                failed,
                "token.create",
                Resource("User", body.name[:100]),
                request_id=rid,
                policy_ids=(LOGIN_POLICY,),
                purpose="failed login",
            )
            raise
        org, must_change = user.organisation.code, user.must_change_password
    runtime.login_throttle.succeeded(keys[0])
    res = Resource("User", body.name, org)
    with runtime.gate.system(
        body.name, org, "token.create", res, request_id=rid, purpose="login", policy=LOGIN_POLICY
    ) as session:
        user = service.get_user(session, body.name)
        token, exp = service.issue_token(
            user,
            runtime.jwt_secret,
            runtime.settings.token_ttl_s,
            runtime.clock,
            password_change_only=must_change,
        )
    return TokenOut(access_token=token, expires_at=exp, must_change_password=must_change)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(g: GovernedDep) -> None:
    """Revoke the token used for this call."""
    res = Resource("User", g.caller.name, g.caller.organisation)
    with g.act("self.update", res, purpose="logout") as session:
        if g.caller.token_id is None or g.caller.token_expires is None:
            raise Unauthenticated("API keys are revoked by an administrator, not by logout")
        service.revoke_token(session, g.caller.token_id, g.caller.token_expires, g.runtime.clock)


@router.post("/auth/password", status_code=204, tags=["auth"])
def change_password(body: PasswordIn, g: GovernedDep) -> None:
    """Change one's own password (required after a one-time password)."""
    res = Resource("User", g.caller.name, g.caller.organisation)
    with g.act("self.update", res, purpose="change password") as session:
        user = service.get_user(session, g.caller.name)
        if not service.check_password(user.password_hash, body.old_password):
            raise Unauthenticated("old password does not match")
        service.set_password(session, user, body.new_password)


@router.get("/me", response_model=UserOut, tags=["auth"])
def me(g: GovernedDep) -> UserOut:
    """The signed-in account."""
    with g.read("self.read", Resource("User", g.caller.name, g.caller.organisation)) as session:
        return user_out(service.get_user(session, g.caller.name))


@router.get("/orgs", response_model=Page[OrgOut])
def list_organisations(
    g: GovernedDep,
    under: Annotated[str | None, Query(max_length=40, description="parent; default: own")] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[OrgOut]:
    """Organisations directly under ``under`` (default: the caller's own organisation)."""
    code = under or g.caller.organisation
    res = Resource("Organisation", code, _parent_code(g.runtime, code))
    with g.read("org.read", res, purpose="list organisations") as session:
        parent = service.get_organisation(session, code, "under")
        stmt = select(Organisation).where(Organisation.parent_id == parent.id)
        return keyset_page(session, stmt, Organisation.id, cursor, limit, org_out)


@router.post("/orgs", response_model=OrgOut, status_code=201)
def create_organisation(body: OrgIn, g: GovernedDep) -> OrgOut:
    """Create an organisation (422 for an invalid credit code, 409 if it exists)."""
    code = service.validate_credit_code(body.code)
    parent = body.parent_code or g.caller.organisation
    with g.act("org.create", Resource("Organisation", code, parent)) as session:
        org = service.create_organisation(
            session,
            code=code,
            name=body.name,
            name_en=body.name_en,
            kind=body.kind,
            level=body.level,
            parent_code=parent,
            clock=g.runtime.clock,
        )
        out = org_out(org)
    g.runtime.gate.ancestry.forget()
    g.runtime.bus.publish(
        OrganisationCreated(code=out.code, name=out.name, kind=out.kind, parent_code=parent)
    )
    return out


@router.get("/orgs/{code}", response_model=OrgOut)
def get_organisation(code: CodePath, g: GovernedDep) -> OrgOut:
    """One organisation."""
    res = Resource("Organisation", code, _parent_code(g.runtime, code))
    with g.read("org.read", res) as session:
        return org_out(service.get_organisation(session, code))


@router.get("/orgs/{code}/posts", response_model=list[PostOut])
def list_posts(code: CodePath, g: GovernedDep) -> list[PostOut]:
    """The posts of an organisation."""
    res = Resource("Organisation", code, _parent_code(g.runtime, code))
    with g.read("org.read", res, purpose="list posts") as session:
        org = service.get_organisation(session, code)
        posts = session.scalars(
            select(Post).where(Post.organisation_id == org.id).order_by(Post.id)
        )
        return [
            PostOut(organisation_code=code, name=p.name, role=p.role, title=p.title) for p in posts
        ]


@router.post("/orgs/{code}/posts", response_model=PostOut, status_code=201)
def create_post(code: CodePath, body: PostIn, g: GovernedDep) -> PostOut:
    """Create a post in an organisation."""
    res = Resource("Post", f"{code}/{body.name}", code)
    ctx = {"grants_admin": body.role == "admin"}
    with g.act("post.create", res, context=ctx) as session:
        post = service.create_post(
            session, organisation_code=code, name=body.name, role=body.role, title=body.title
        )
        return PostOut(organisation_code=code, name=post.name, role=post.role, title=post.title)


@router.get("/users", response_model=Page[UserOut])
def list_users(
    g: GovernedDep,
    org: Annotated[
        str | None, Query(max_length=40, description="default: own organisation")
    ] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[UserOut]:
    """Users of one organisation."""
    code = org or g.caller.organisation
    res = Resource("Organisation", code, _parent_code(g.runtime, code))
    with g.read("user.read", res, purpose="list users") as session:
        organisation = service.get_organisation(session, code, "org")
        stmt = select(User).where(User.organisation_id == organisation.id)
        return keyset_page(session, stmt, User.id, cursor, limit, user_out)


@router.post("/users", response_model=UserCreated, status_code=201)
def create_user(body: UserIn, g: GovernedDep) -> UserCreated:
    """Create a user (or service account) holding posts of its organisation."""
    res = Resource("User", body.name, body.organisation_code)
    ctx = {"grants_admin": "admin" in _post_roles(g.runtime, body.organisation_code, body.posts)}
    with g.act("user.create", res, context=ctx) as session:
        user, otp = service.create_user(
            session,
            name=body.name,
            organisation_code=body.organisation_code,
            posts=body.posts,
            password=body.password,
            display_name=body.display_name,
            is_service=body.is_service,
            clock=g.runtime.clock,
        )
        return UserCreated(**user_out(user).model_dump(), one_time_password=otp)


def _post_roles(runtime: Runtime, code: str, posts: list[str]) -> set[str]:
    """Roles the named posts of organisation ``code`` carry (unknown posts are skipped here and
    refused, with their name, inside the action)."""
    with runtime.reader() as session:
        rows = session.execute(
            select(Post.role)
            .join(Organisation, Post.organisation_id == Organisation.id)
            .where(Organisation.code == code, Post.name.in_(posts))
        ).scalars()
        return set(rows)


def _user_org(runtime: Runtime, name: str) -> str:
    with runtime.reader() as session:
        return service.get_user(session, name).organisation.code


@router.get("/users/{name}", response_model=UserOut)
def get_user(name: str, g: GovernedDep) -> UserOut:
    """One user."""
    with g.read("user.read", Resource("User", name, _user_org(g.runtime, name))) as session:
        return user_out(service.get_user(session, name))


@router.post("/users/{name}/disable", response_model=UserOut)
def disable_user(name: str, g: GovernedDep) -> UserOut:
    """Disable an account: its tokens and API keys stop working at once."""
    with g.act(
        "user.update", Resource("User", name, _user_org(g.runtime, name)), purpose="disable account"
    ) as session:
        user = service.get_user(session, name)
        user.disabled = True
        return user_out(user)


@router.post("/users/{name}/api-keys", response_model=ApiKeyOut, status_code=201)
def create_api_key(name: str, g: GovernedDep) -> ApiKeyOut:
    """Issue an API key for a service account (shown once)."""
    with g.act("apikey.create", Resource("User", name, _user_org(g.runtime, name))) as session:
        return ApiKeyOut(
            api_key=service.create_api_key(
                session, service.get_user(session, name), g.runtime.clock
            )
        )
