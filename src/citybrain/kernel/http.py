"""HTTP plumbing shared by every package's router: runtime, caller, the gated handle, paging."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from citybrain.kernel.errors import Forbidden, InvalidInput, Unauthenticated
from citybrain.kernel.gate import Context, Resource
from citybrain.kernel.identity.service import Caller, resolve_bearer
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.schemas import has_nul

T = TypeVar("T")
MUST_CHANGE_PASSWORD = "must-change-password"
PASSWORD_CHANGE_PATHS = frozenset({"/auth/password", "/auth/logout", "/me"})
_bearer = HTTPBearer(auto_error=False, description="JWT from /auth/login or a service API key")


async def get_runtime(request: Request) -> Runtime:
    """The kernel runtime the app was built with (async: no worker-thread hop for it)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    """The id of this request (from X-Request-ID or generated)."""
    return getattr(request.state, "request_id", "")


def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Caller:
    """Authenticate the bearer token or API key; 401 when missing, expired or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    with runtime.reader() as session:
        caller = resolve_bearer(session, credentials.credentials, runtime.jwt_secret, runtime.clock)
    request.state.caller = caller
    return caller


@dataclass
class Governed:
    """What a governed route gets: the caller and the gate, bound to this request.

    Every route that touches governed data takes this dependency and does its work inside
    ``act``; a test walks the routes and fails for any that does not.
    """

    caller: Caller
    runtime: Runtime
    request_id: str

    def act(
        self,
        action: str,
        resource: Resource,
        *,
        purpose: str = "",
        context: dict[str, Any] | None = None,
    ) -> AbstractContextManager[Session]:
        """A change: decide, and commit the entry with the action (see ``Gate.act``)."""
        return self.runtime.gate.act(
            self.caller,
            action,
            resource,
            request_id=self.request_id,
            purpose=purpose,
            context=context,
        )

    def read(
        self,
        action: str,
        resource: Resource,
        *,
        purpose: str = "",
        context: Context = None,
    ) -> AbstractContextManager[Session]:
        """A read: decide, read, and make the entry durable before returning (``Gate.read``)."""
        return self.runtime.gate.read(
            self.caller,
            action,
            resource,
            request_id=self.request_id,
            purpose=purpose,
            context=context,
        )


def governed(
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Governed:
    """The gate dependency (see Governed)."""
    if caller.password_change_only and request.url.path not in PASSWORD_CHANGE_PATHS:
        runtime.gate.record_denial(
            caller,
            "self.read",
            Resource("Route", f"{request.method} {request.url.path}"),
            request_id=request_id(request),
            policy_ids=(MUST_CHANGE_PASSWORD,),
            purpose="one-time password token used beyond the password change",
        )
        raise Forbidden(
            "this token comes from a one-time password: change the password at "
            "POST /auth/password, then log in again",
            policies=[MUST_CHANGE_PASSWORD],
        )
    return Governed(caller, runtime, request_id(request))


GovernedDep = Annotated[Governed, Depends(governed)]

PUBLIC_ROLE = "public"
# The caller without a token: role ``public``, which no post can hold, so only policies that
# name it (open data, the map, the report desk) ever permit it anything.
ANONYMOUS = Caller(0, "public:anonymous", "", (PUBLIC_ROLE,), ())


def public_or_governed(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Governed:
    """The gate dependency for routes open to anonymous readers of open data.

    No ``Authorization`` header: the anonymous principal. Otherwise the token is checked like
    everywhere else (``Bearer X``, or a bare ``X`` as CKAN clients send their API key).
    """
    header = request.headers.get("authorization", "").strip()
    if not header:
        return Governed(ANONYMOUS, runtime, request_id(request))
    scheme, _, token = header.partition(" ")
    if not token:
        scheme, token = "Bearer", scheme
    if scheme.lower() != "bearer":
        raise Unauthenticated("use a bearer token or a bare API key")
    creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
    return governed(request, current_caller(request, creds, runtime), runtime)


PublicDep = Annotated[Governed, Depends(public_or_governed)]


def is_anonymous(g: Governed) -> bool:
    """True for the anonymous principal."""
    return g.caller.name == ANONYMOUS.name and g.caller.user_id == 0


class Page(BaseModel, Generic[T]):
    """A page of a list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = None


def keyset_page(
    session: Session,
    stmt: Select[Any],
    id_column: Any,
    cursor: str | None,
    limit: int,
    to_out: Callable[[Any], T],
) -> Page[T]:
    """One page of ``stmt`` ordered by an integer ``id_column``, after the cursor's id."""
    after = decode_cursor(cursor) or 0
    if not isinstance(after, int):
        raise InvalidInput("not a valid cursor", field="cursor")
    rows = session.scalars(stmt.where(id_column > after).order_by(id_column).limit(limit + 1)).all()
    items = [to_out(r) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page[T](items=items, next_cursor=nxt)


def encode_cursor(value: Any) -> str:
    """An opaque cursor for the position after ``value``."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The position a cursor stands for; 422 naming ``cursor`` when it is not one of ours."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a valid cursor", field="cursor") from exc


MAX_INDEX = 2**56  # node keys are (index << 6) | level in a signed 64-bit column
LimitQuery = Annotated[int, Query(ge=1, le=500, description="page size")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="from next_cursor")]


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is returned."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    request_id: str | None = None


_PROBLEM_TEXT = {
    400: "Malformed request (body is not valid JSON or UTF-8)",
    401: "Missing, invalid, expired or revoked credentials",
    403: "The policy engine denied the action; the deciding policies are named",
    404: "No such resource",
    409: "Conflicts with an existing resource",
    413: "The request body is larger than the configured limit",
    415: "The request body's media type is not accepted",
    422: "Invalid input; the field is named",
    429: "Too many failed logins; wait for Retry-After seconds",
    503: "The database did not answer",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json errors."""
    return {
        code: {
            "model": Problem,
            "description": _PROBLEM_TEXT[code],
            "content": {"application/problem+json": {}},
        }
        for code in codes
    }


GOVERNED_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 422, 503)


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 naming the parameter when a query string carries a key the route does not know.

    A typo such as ``?limt=5`` must not be silently ignored.
    """
    for key, value in request.path_params.items():
        if has_nul(value):
            raise InvalidInput("must not contain NUL characters", field=key)
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = getattr(route, "_citybrain_query_names", None)
    if known is None:
        known = _query_names(route.dependant)
        route._citybrain_query_names = known  # type: ignore[attr-defined]
    for key in request.query_params:
        if key not in known:
            raise InvalidInput(f"unknown query parameter {key!r}", field=key)
        if has_nul(key) or has_nul(request.query_params[key]):
            raise InvalidInput("must not contain NUL characters", field=key)
        if len(request.query_params.getlist(key)) > 1:
            raise InvalidInput(f"query parameter {key!r} given more than once", field=key)


STRICT_QUERY = [Depends(reject_unknown_query)]
