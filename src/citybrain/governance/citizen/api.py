"""Citizen routes: ``/citizen/...`` — register with a resident ID number, see and export who
used the records linked to it, object to a use (a case for the supervision desk)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from citybrain.governance.citizen import service
from citybrain.governance.citizen.models import SubjectUse
from citybrain.kernel.db import PerDatabase
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.events import Event
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import GovernedDep, PublicDep, problem_responses
from citybrain.kernel.identity.throttle import LoginThrottle
from citybrain.kernel.schemas import Input

GATE_ACTIONS: dict[str, str] = {
    "citizen.register": "admin",  # a citizen account, by the citizen
    "citizen.view": "access",  # the citizen's own record of uses
    "citizen.export": "export",  # the same, downloaded
    "citizen.object": "admin",  # an objection to a use
}


def register_gate_actions() -> None:
    """Declare the citizen gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["citizen"])


class ObjectionOpened(Event):
    """A citizen objects to a use of their records (for the supervision desk)."""

    topic: ClassVar[str] = "governance.citizen.objection_opened"
    objection_id: int
    use_id: int
    dataset: str
    organisation: str


class RegisterIn(Input):
    """A citizen account: a user name, a password and the resident ID number it stands for."""

    name: str = Field(min_length=3, max_length=100)
    display_name: str = Field("", max_length=200)
    id_number: str = Field(min_length=15, max_length=18, description="居民身份证号码")
    password: str = Field(min_length=10, max_length=200)


class RegisteredOut(BaseModel):
    """The account made (the ID number is not echoed)."""

    name: str
    verified_at: datetime
    method: str


class UseOut(BaseModel):
    """One governed action that touched the citizen's records."""

    id: int
    at: datetime
    organisation: str
    actor: str
    action: str
    dataset: str
    grant: int | None
    purpose: str
    ledger_seq: int | None
    request_id: str


class ObjectionIn(Input):
    """What the citizen objects to."""

    use_id: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=4000)


class ObjectionOut(BaseModel):
    """An objection case."""

    id: int
    use_id: int
    text: str
    status: str
    created_at: datetime


# Failed registrations (a bad ID number, a name or ID already registered) per client address:
# a 409 tells that an ID number has an account, so probing many numbers is slowed to
# REGISTER_FAILURES per window (in-process, like the login throttle).
REGISTER_FAILURES, REGISTER_WINDOW_S = 20, 600.0
_THROTTLES: PerDatabase[LoginThrottle] = PerDatabase(
    lambda: LoginThrottle(
        limit=REGISTER_FAILURES,
        addr_limit=REGISTER_FAILURES,
        window_s=REGISTER_WINDOW_S,
        what="failed registrations",
    )
)


@router.post(
    "/citizen/register",
    response_model=RegisteredOut,
    status_code=201,
    responses=problem_responses(409, 429),
)
def register(body: RegisterIn, g: PublicDep, request: Request) -> RegisteredOut:
    """Open a citizen account; the ID number's check digit, birth date and region are checked
    and only its keyed hash is kept. Sign in afterwards at /auth/login. Too many failed
    attempts from one address: 429 with Retry-After."""
    throttle = _THROTTLES.of(g.runtime.engine)
    key = f"addr:{request.client.host if request.client else '?'}"
    throttle.check(key)
    city = g.runtime.settings.city_code
    res = Resource("User", body.name, city)
    try:
        with g.act("citizen.register", res, purpose="citizen account") as session:
            link = service.register(
                session,
                name=body.name,
                display_name=body.display_name,
                id_number=body.id_number,
                password=body.password,
                city_code=city,
                now=g.runtime.clock(),
            )
            return RegisteredOut(
                name=link.user_name, verified_at=link.verified_at, method=link.method
            )
    except CityBrainError as exc:
        if exc.status in (409, 422):
            throttle.failed(key)
        raise


def _me(g: GovernedDep) -> Resource:
    return Resource("User", g.caller.name, g.caller.organisation)


@router.get("/citizen/me/uses", response_model=list[UseOut])
def my_uses(g: GovernedDep) -> list[UseOut]:
    """Every use of records linked to my ID number: when, which department, what for, under
    which grant, and the ledger entry that proves it."""
    with g.read("citizen.view", _me(g)) as session:
        return [UseOut(**u) for u in service.uses(session, g.caller.name)]


@router.get(
    "/citizen/me/uses.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_uses(g: GovernedDep) -> Response:
    """The same, as CSV."""
    with g.read("citizen.export", _me(g)) as session:
        text = service.uses_csv(service.uses(session, g.caller.name))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="my-data-uses.csv"'},
    )


@router.post("/citizen/me/objections", response_model=ObjectionOut, status_code=201)
def object_to_use(body: ObjectionIn, g: GovernedDep) -> ObjectionOut:
    """Object to one use of my records; the supervision desk receives the case."""
    with g.act("citizen.object", _me(g), purpose=f"objection to use {body.use_id}") as session:
        case = service.object_to(session, g.caller.name, body.use_id, body.text, g.runtime.clock())
        use: Any = session.get(SubjectUse, body.use_id)
        out = ObjectionOut(
            id=case.id,
            use_id=case.use_id,
            text=case.text,
            status=case.status,
            created_at=case.created_at,
        )
        event = ObjectionOpened(
            objection_id=case.id,
            use_id=case.use_id,
            dataset=use.dataset,
            organisation=use.organisation,
        )
    g.runtime.bus.publish(event)
    return out


@router.get("/citizen/me/objections", response_model=list[ObjectionOut])
def my_objections(g: GovernedDep) -> list[ObjectionOut]:
    """My objections and their status."""
    with g.read("citizen.view", _me(g), purpose="objections") as session:
        return [
            ObjectionOut(
                id=o.id, use_id=o.use_id, text=o.text, status=o.status, created_at=o.created_at
            )
            for o in service.objections(session, g.caller.name)
        ]


ROUTERS = (router,)
