"""Policy routes: list, create a version, deactivate. Thin."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from citybrain.kernel.gate import Resource
from citybrain.kernel.http import GovernedDep
from citybrain.kernel.policy import service
from citybrain.kernel.policy.models import Policy
from citybrain.kernel.schemas import Input

router = APIRouter(prefix="/policies", tags=["policies"])


class PolicyIn(Input):
    """A new version of a named Cedar policy."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    text: str = Field(min_length=1, max_length=20000, description="one Cedar policy")
    description: str = Field("", max_length=500)


class PolicyOut(BaseModel):
    """A stored policy version; ``id`` is how decisions name it."""

    id: str
    name: str
    version: int
    description: str
    text: str
    active: bool
    created_at: datetime
    created_by: str


def policy_out(p: Policy) -> PolicyOut:
    """Response model of a policy."""
    return PolicyOut(
        id=f"{p.name}@v{p.version}",
        name=p.name,
        version=p.version,
        description=p.description,
        text=p.text,
        active=p.active,
        created_at=p.created_at,
        created_by=p.created_by,
    )


@router.get("", response_model=list[PolicyOut])
def list_policies(g: GovernedDep, include_inactive: bool = Query(False)) -> list[PolicyOut]:
    """Active policies (and, when asked, every past version)."""
    with g.read("policy.read", Resource("Policy", "*", g.runtime.settings.city_code)) as session:
        return [policy_out(p) for p in service.list_policies(session, include_inactive)]


@router.post("", response_model=PolicyOut, status_code=201)
def create_policy(body: PolicyIn, g: GovernedDep) -> PolicyOut:
    """Add a policy or a new version of it; takes effect at once in this process."""
    with g.act("policy.create", Resource("Policy", body.name, g.runtime.settings.city_code)) as s:
        out = policy_out(
            service.create_policy(
                s,
                name=body.name,
                text=body.text,
                description=body.description,
                created_by=g.caller.name,
                clock=g.runtime.clock,
            )
        )
    g.runtime.policy_engine.invalidate()
    return out


@router.post("/{name}/deactivate", response_model=PolicyOut)
def deactivate_policy(name: str, g: GovernedDep) -> PolicyOut:
    """Switch a policy off (its history stays)."""
    with g.act("policy.update", Resource("Policy", name, g.runtime.settings.city_code)) as s:
        out = policy_out(service.deactivate_policy(s, name))
    g.runtime.policy_engine.invalidate()
    return out
