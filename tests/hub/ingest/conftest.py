"""A CityBrain app with the ingest router mounted, a department, its dataset and a clerk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citybrain.api.app import create_app
from citybrain.hub.ingest.models import DatasetRecord, IngestBatch, IngestQuarantine
from citybrain.hub.ingest.service import GATE_ACTIONS, InMemoryDirectory
from citybrain.kernel.gate import register_action
from citybrain.kernel.policy.service import create_policy
from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, make_org, make_user

# The policy proposed for production: a department's clerks and service accounts collect into
# and read their own organisation's datasets.
COLLECT_POLICY = """permit (
  principal,
  action in [CityBrain::Action::"dataset.collect", CityBrain::Action::"dataset.read"],
  resource
)
when {
  (principal in CityBrain::Role::"clerk" || principal in CityBrain::Role::"service") &&
  resource in principal.organisation
};"""

AIR_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "station", "type": "string", "constraints": {"required": True}},
        {"name": "name", "type": "string"},
        {"name": "ts", "type": "datetime"},
        {"name": "pm25", "type": "number", "constraints": {"minimum": 0, "maximum": 1000}},
        {"name": "ok", "type": "boolean"},
        {"name": "location", "type": "geopoint"},
    ],
    "primaryKey": ["station", "ts"],
}
DATASET = "air-quality"


@dataclass
class Hub:
    """What an ingest test needs."""

    client: TestClient
    runtime: Runtime
    dept: str
    headers: dict[str, str]
    admin: dict[str, str]

    def count(self, model: type) -> int:
        """Rows in one of the ingest tables."""
        with self.runtime.factory() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def counts(self) -> tuple[int, int, int]:
        """(batches, records, quarantined rows)."""
        return (self.count(IngestBatch), self.count(DatasetRecord), self.count(IngestQuarantine))

    def collect_entries(self) -> list[Any]:
        """Ledger entries of collected batches."""
        with self.runtime.factory() as s:
            entries = self.runtime.ledger.entries(s, -1, 100_000)
        return [e for e in entries if e.data.purpose.startswith("dataset.collect")]

    def upload(
        self,
        data: bytes,
        content_type: str = "text/csv",
        dataset: str = DATASET,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> Any:
        """POST a raw batch."""
        return self.client.post(
            f"/hub/datasets/{dataset}/batches",
            content=data,
            headers=(headers or self.headers) | {"Content-Type": content_type},
            params=params,
        )


@pytest.fixture
def hub(runtime: Runtime) -> Iterator[Hub]:
    """The app with the ingest router, a department that provides ``air-quality``, a clerk."""
    for action, category in GATE_ACTIONS.items():
        register_action(action, category)
    with runtime.factory.begin() as s:
        create_policy(s, name="hub-collect-own", text=COLLECT_POLICY, created_by="test")
    runtime.policy_engine.invalidate()
    dept = make_org(runtime, 300)
    directory = InMemoryDirectory()
    directory.add(DATASET, AIR_SCHEMA, dept)
    app = create_app(runtime)
    app.state.dataset_directory = directory
    app.state.ingest_max_bytes = 200_000
    token = make_user(runtime, "collector", dept, "clerk")
    admin_token, _ = runtime.issue_token_for("admin")
    with TestClient(app) as client:
        yield Hub(client, runtime, dept, bearer(token), bearer(admin_token))
