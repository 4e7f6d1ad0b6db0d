"""Dispute desk fixtures: a provider (civil affairs) with a dataset and one batch, a consumer
(health), a bystander (transport), the city's bureau with a clerk, two supervisors, an
operator and an auditor; time from a frozen clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.kernel.clock import FrozenClock
from citybrain.kernel.events import Event
from citybrain.kernel.identity import service as identity
from citybrain.kernel.runtime import Runtime
from tests.governance.conftest import dataset_body, residents_csv
from tests.helpers import bearer, make_org, make_user

T0 = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
DATASET = "assist-conditional"
ACCOUNTS = {  # name: (organisation key, role)
    "civil": ("civil", "clerk"),
    "doctor": ("health", "clerk"),
    "driver": ("transport", "clerk"),
    "hub": ("city", "clerk"),
    "sup1": ("city", "supervisor"),
    "sup2": ("city", "supervisor"),
    "op": ("city", "operator"),
    "aud": ("city", "auditor"),
}


@dataclass
class Desk:
    """Who is who, a client, the clock and the events published on the bus."""

    runtime: Runtime
    client: TestClient
    clock: FrozenClock
    orgs: dict[str, str]
    events: list[Event] = field(default_factory=list)
    _tokens: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who`` (a fresh token once the clock has moved)."""
        now = self.clock()
        issued = self._tokens.get(who)
        if issued is None or issued[0] != now:
            self._tokens[who] = (now, self.runtime.issue_token_for(who)[0])
        return bearer(self._tokens[who][1])

    def advance(self, days: float) -> None:
        """Move time forward."""
        self.clock.advance(timedelta(days=days).total_seconds())

    def file(self, who: str = "civil", **over: Any) -> Any:
        """POST a case (default: civil affairs against the hub about a rejected batch)."""
        body: dict[str, Any] = {
            "respondent": self.orgs["city"],
            "subject_type": "batch_rejected",
            "title": "批次被拒收 batch refused",
            "claim": "The batch met the schema; the rejection was wrong.",
            "dataset": DATASET,
        } | over
        return self.client.post("/disputes", headers=self.h(who), json=body)

    def post(self, case_id: int, step: str, who: str, body: dict[str, Any]) -> Any:
        """POST to a step of a case."""
        return self.client.post(f"/disputes/{case_id}/{step}", headers=self.h(who), json=body)

    def get(self, path: str, who: str, **params: Any) -> Any:
        """GET a dispute route."""
        return self.client.get(path, headers=self.h(who), params=params or None)


@pytest.fixture
def desk(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """The dispute desk's world, with one registered dataset and one batch of 10 rows."""
    # eight accounts: cheap (still argon2id) password hashes keep the setup fast
    monkeypatch.setattr(identity, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    clock = FrozenClock(T0)
    runtime.clock = clock  # type: ignore[method-assign]
    orgs = {"city": runtime.settings.city_code}
    for key, n in (("civil", 501), ("health", 502), ("transport", 503)):
        orgs[key] = make_org(runtime, n)
    for name, (org, role) in ACCOUNTS.items():
        make_user(runtime, name, orgs[org], role)
    with TestClient(create_app(runtime)) as client:
        world = Desk(runtime, client, clock, orgs)
        runtime.bus.subscribe("governance.disputes", world.events.append)
        r = client.post(
            "/catalog/datasets",
            headers=world.h("civil"),
            json=dataset_body(DATASET, orgs["civil"], "conditional"),
        )
        assert r.status_code == 201, r.text
        r = client.post(
            f"/hub/datasets/{DATASET}/batches",
            headers=world.h("civil") | {"Content-Type": "text/csv"},
            content=residents_csv(10),
        )
        assert r.status_code == 201, r.text
        yield world
