"""Catalogue fixtures: the catalogue's gate actions and policies, an app with its routers
mounted, two departments with clerks, an operator, an auditor and a service account."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.hub.catalogue.api import register_gate_actions
from citybrain.kernel.gate import Resource
from citybrain.kernel.policy.engine import split_policies
from citybrain.kernel.policy.service import create_policy, known_names
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from tests.helpers import bearer, make_org, make_user

# The policies proposed for kernel/policies/default.cedar (see the catalogue report).
CATALOGUE_POLICIES = (Path(__file__).parent / "catalogue.cedar").read_text(encoding="utf-8")

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "junction_id", "type": "string", "constraints": {"required": True}},
        {"name": "phase", "type": "integer", "constraints": {"minimum": 0, "maximum": 8}},
        {"name": "ts", "type": "datetime"},
    ],
    "primaryKey": ["junction_id", "ts"],
}


def dataset_body(slug: str, provider: str, **over: Any) -> dict[str, Any]:
    """A valid dataset registration; override any key."""
    body: dict[str, Any] = {
        "id": slug,
        "title_zh": "交通信号灯配时",
        "title_en": "Traffic signal timing",
        "description_zh": "主要路口信号灯的相位与配时方案。",
        "description_en": "Phases and timing plans of the main junctions' signals.",
        "provider_code": provider,
        "theme": "transport",
        "keywords_zh": ["信号灯", "配时"],
        "keywords_en": ["signal", "timing"],
        "update_frequency": "PT5M",
        "schema": copy.deepcopy(SCHEMA),
        "grade": "general",
        "sharing": "unconditional",
        "open_data": True,
    }
    body.update(over)
    return body


def install_policies(runtime: Runtime) -> None:
    """Store the catalogue policies (as the local operator) and reload the engine; names
    already stored (once they ship among the kernel's defaults) are left alone."""
    with runtime.reader() as session:
        known = known_names(session)
    for name, description, text in split_policies(CATALOGUE_POLICIES):
        if name in known:
            continue
        with runtime.gate.system(
            SYSTEM_ACTOR,
            runtime.settings.city_code,
            "policy.create",
            Resource("Policy", name),
            request_id="catalogue-test",
        ) as session:
            create_policy(
                session, name=name, text=text, description=description, created_by=SYSTEM_ACTOR
            )
    runtime.policy_engine.invalidate()


def catalogue_app(runtime: Runtime) -> FastAPI:
    """The shared app (api/app.py mounts the catalogue routers)."""
    return create_app(runtime)


@dataclass
class World:
    """Who is who in the catalogue tests."""

    runtime: Runtime
    client: TestClient
    transport: str
    health: str
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who``."""
        return bearer(self.tokens[who])

    def register(self, who: str = "admin", **body: Any) -> dict[str, Any]:
        """Register a dataset (default: the transport department's) and return it."""
        slug = body.pop("id", "signal-timing")
        provider = body.pop("provider_code", self.transport)
        r = self.client.post(
            "/catalog/datasets", headers=self.h(who), json=dataset_body(slug, provider, **body)
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def world(runtime: Runtime) -> Iterator[World]:
    """Policies, actions, departments and accounts, and a client of the catalogue app."""
    register_gate_actions()
    install_policies(runtime)
    root = runtime.settings.city_code
    transport = make_org(runtime, 300)
    health = make_org(runtime, 301)
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["auditor"] = make_user(runtime, "aud", root, "auditor")
    tokens["clerk"] = make_user(runtime, "clerk", transport, "clerk")
    tokens["other_clerk"] = make_user(runtime, "nurse", health, "clerk")
    tokens["service"] = make_user(runtime, "svc", transport, "service", service_account=True)
    with TestClient(catalogue_app(runtime)) as client:
        yield World(runtime, client, transport, health, tokens)
