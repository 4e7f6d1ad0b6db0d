"""HTTP plumbing shared by every package's router: runtime, caller, the gated handle, paging."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from citybrain.kernel.errors import InvalidInput, Unauthenticated
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import Caller, resolve_bearer
from citybrain.kernel.runtime import Runtime

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="JWT from /auth/login or a service API key")


def get_runtime(request: Request) -> Runtime:
    """The kernel runtime the app was built with."""
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
    with runtime.factory() as session:
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

    @contextmanager
    def act(
        self,
        action: str,
        resource: Resource,
        *,
        purpose: str = "",
        context: dict[str, Any] | None = None,
    ) -> Iterator[Session]:
        """Decide and ledger ``action`` on ``resource``; yields the transaction's session."""
        with self.runtime.gate.act(
            self.caller,
            action,
            resource,
            request_id=self.request_id,
            purpose=purpose,
            context=context,
        ) as session:
            yield session


def governed(
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Governed:
    """The gate dependency (see Governed)."""
    return Governed(caller, runtime, request_id(request))


GovernedDep = Annotated[Governed, Depends(governed)]


class Page(BaseModel, Generic[T]):
    """A page of a list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = None


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


LimitQuery = Annotated[int, Query(ge=1, le=500, description="page size")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="from next_cursor")]
