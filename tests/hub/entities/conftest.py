"""Entity API fixtures: the app, two departments with clerks, an operator, an auditor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, make_org, make_user

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
LD = "application/ld+json"


def station(n: int, pm25: float = 35.0, lon: float = 120.15, lat: float = 30.28, **extra: Any):
    """A normalized AirQualityObserved entity."""
    doc: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:{n}",
        "type": "AirQualityObserved",
        "pm25": {
            "type": "Property",
            "value": pm25,
            "unitCode": "GQ",
            "observedAt": "2026-11-25T08:00:00Z",
        },
        "name": {"type": "Property", "value": f"站点{n}"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }
    doc.update(extra)
    return doc


@dataclass
class City:
    """Who is who in the entity tests."""

    runtime: Runtime
    client: TestClient
    env: str
    health: str
    tokens: dict[str, str]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        """Authorization header of ``who`` plus ``extra`` headers."""
        return {**bearer(self.tokens[who]), **extra}

    def create(self, who: str, doc: dict[str, Any], **headers: str) -> Any:
        """POST /entities as ``who``."""
        return self.client.post("/ngsi-ld/v1/entities", headers=self.h(who, **headers), json=doc)

    def ledger_size(self) -> int:
        """Entries in the ledger now."""
        with self.runtime.reader() as session:
            return self.runtime.ledger.size(session)


@pytest.fixture
def city(runtime: Runtime) -> Iterator[City]:
    """The app and its accounts."""
    root = runtime.settings.city_code
    env = make_org(runtime, 400)
    health = make_org(runtime, 401)
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["auditor"] = make_user(runtime, "aud", root, "auditor")
    tokens["clerk"] = make_user(runtime, "envclerk", env, "clerk")
    tokens["other"] = make_user(runtime, "nurse", health, "clerk")
    tokens["service"] = make_user(runtime, "sensor-gw", env, "service", service_account=True)
    with TestClient(create_app(runtime)) as client:
        yield City(runtime, client, env, health, tokens)
