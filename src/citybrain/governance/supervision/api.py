"""Routes of supervision (filled in as the package grows)."""

from __future__ import annotations

from fastapi import APIRouter

GATE_ACTIONS: dict[str, str] = {}


def register_gate_actions() -> None:
    """Declare the gate actions of this package (idempotent)."""
    from citybrain.kernel.gate import register_action

    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


ROUTERS: list[APIRouter] = []
