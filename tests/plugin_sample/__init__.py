"""A scenario plugin used by the tests: one gated route and one gate action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from citybrain.kernel.gate import Resource
from citybrain.kernel.http import GovernedDep
from citybrain.kernel.plugins import hookimpl

router = APIRouter(prefix="/scenarios/plugin_sample", tags=["plugin_sample"])
started: list[Any] = []


@router.get("/free-spaces")
def free_spaces(g: GovernedDep) -> dict[str, int]:
    """Free parking spaces (a governed read)."""
    with g.read("parking.read", Resource("Dataset", "parking.lots", g.caller.organisation)):
        return {"free": 42}


@hookimpl
def citybrain_gate_actions() -> dict[str, str]:
    return {"parking.read": "use"}


@hookimpl
def citybrain_routers() -> list[APIRouter]:
    return [router]


@hookimpl
def citybrain_startup(runtime: Any) -> None:
    started.append(runtime)
