"""Security fixtures: a health department (with a sub-unit) and a transport department, their
clerks, a chief without any post (named officer in some tests), the bureau's operator,
supervisor and auditor, one catalogued dataset, and a clock that moves only when told."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner, Result

from citybrain.api.app import create_app
from citybrain.governance.security.cli import app as security_cli
from citybrain.kernel.clock import FrozenClock, system_clock
from citybrain.kernel.events import Event
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity import service as identity
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from tests.governance.conftest import dataset_body
from tests.helpers import bearer, make_org, make_user

DATASET = "health-records"


def make_person(rt: Runtime, name: str, org: str) -> str:
    """A user of ``org`` holding no post (no role); returns a bearer token."""
    with rt.gate.system(
        SYSTEM_ACTOR, org, "user.create", Resource("User", name, org), request_id="test"
    ) as s:
        identity.create_user(
            s, name=name, organisation_code=org, posts=[], password="correct-horse-battery"
        )
    return rt.issue_token_for(name)[0]


def disable(rt: Runtime, name: str) -> None:
    """Disable a user (as the local operator would)."""
    with rt.gate.system(
        SYSTEM_ACTOR, rt.settings.city_code, "user.update", Resource("User", name), request_id="t"
    ) as s:
        identity.get_user(s, name).disabled = True


@dataclass
class World:
    """Who is who in the security tests."""

    runtime: Runtime
    client: TestClient
    clock: FrozenClock
    root: str
    health: str  # department A
    ward: str  # a unit under health
    transport: str  # department B
    tokens: dict[str, str]
    events: list[Event] = field(default_factory=list)

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who``."""
        return bearer(self.tokens[who])

    def put_officer(self, who: str, org: str, **body: Any) -> Response:
        """PUT /security/officers/{org}."""
        return self.client.put(f"/security/officers/{org}", headers=self.h(who), json=body)

    def incident(self, who: str = "health_clerk", **over: Any) -> Response:
        """POST an incident (default: a high one of the caller's organisation an hour ago)."""
        body: dict[str, Any] = {
            "severity": "high",
            "title": "病历库异常导出",
            "description": "发现异常批量导出",
            "occurred_at": (self.clock() - timedelta(hours=1)).isoformat(),
            "datasets": [DATASET],
        }
        body.update(over)
        return self.client.post("/security/incidents", headers=self.h(who), json=body)

    def bulletin(self, who: str = "operator", **over: Any) -> Response:
        """POST a bulletin (default: to every organisation, deadline in ten minutes)."""
        body: dict[str, Any] = {
            "title_zh": "传感器固件漏洞",
            "title_en": "Vulnerable sensor firmware",
            "body_zh": "固件版本 X < 2.3 存在远程执行漏洞，请立即升级。",
            "severity": "critical",
            "ack_deadline": self.at(minutes=10).isoformat(),
        }
        body.update(over)
        return self.client.post("/security/bulletins", headers=self.h(who), json=body)

    def cli(self, *args: str) -> Result:
        """Run ``citybrain security ARGS`` against this world's database, in English."""
        where = ["--db", self.runtime.settings.database_url, "--lang", "en"]
        where += ["--data-dir", str(self.runtime.settings.data_dir)]
        return CliRunner().invoke(security_cli, [*args, *where], env={"COLUMNS": "240"})

    def at(self, **delta: float) -> datetime:
        """Now plus ``delta`` on the test clock."""
        return self.clock() + timedelta(**delta)


# Real argon2id at its cheapest settings: ten accounts per test would otherwise cost seconds.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def world(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The organisations, their people and a dataset; events are collected."""
    monkeypatch.setattr(identity, "hash_password", FAST_HASHER.hash)
    # a day behind the wall clock: commands that read the system clock see deadlines as past
    clock = FrozenClock(system_clock().replace(microsecond=0) - timedelta(days=1))
    runtime.clock = clock  # type: ignore[method-assign]
    root = runtime.settings.city_code
    health, transport = make_org(runtime, 501), make_org(runtime, 502)
    ward = make_org(runtime, 503, parent=health, level="unit")
    tokens = {
        "admin": runtime.issue_token_for("admin")[0],
        "operator": make_user(runtime, "op", root, "operator"),
        "supervisor": make_user(runtime, "sup", root, "supervisor"),
        "auditor": make_user(runtime, "aud", root, "auditor"),
        "health_clerk": make_user(runtime, "doctor", health, "clerk"),
        "health_clerk2": make_user(runtime, "nurse", health, "clerk"),
        "health_service": make_user(runtime, "his", health, "service", service_account=True),
        "ward_clerk": make_user(runtime, "warden", ward, "clerk"),
        "transport_clerk": make_user(runtime, "driver", transport, "clerk"),
        "chief": make_person(runtime, "chief", health),
    }
    with TestClient(create_app(runtime)) as client:
        w = World(runtime, client, clock, root, health, ward, transport, tokens)
        runtime.bus.subscribe("governance.security", w.events.append)
        r = client.post(
            "/catalog/datasets",
            headers=w.h("health_clerk"),
            json=dataset_body(DATASET, health, "conditional"),
        )
        assert r.status_code == 201, r.text
        yield w
