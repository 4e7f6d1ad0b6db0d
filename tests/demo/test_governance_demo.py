"""The governance demo: a conditional dataset about residents, two grants (rows under masks,
sandbox), one pending request, a retention term, and a read a citizen can find — once only."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citybrain.api.app import create_app
from citybrain.demo.governance import RESIDENTS, SLUG, id_number, seed_governance
from citybrain.demo.seed import seed_demo
from citybrain.governance.retention.models import RetentionRule
from citybrain.governance.sharing.models import Grant, ShareRequest
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.runtime import Runtime

NOW = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)


def test_governance_demo_once_and_visible_to_the_citizen(runtime: Runtime) -> None:
    seed_demo(runtime, seed=7, now=NOW, offer=None, progress=False)
    first = seed_governance(runtime, seed=7, now=NOW)
    assert (first.residents, first.grants, first.pending) == (RESIDENTS, 2, 1)
    assert first.sample_id_number == id_number(0) and first.describe("zh-CN").count("/citizen")
    with runtime.reader() as s:
        records = s.scalar(
            select(func.count(DatasetRecord.id)).where(DatasetRecord.dataset_id == SLUG)
        )
        grants = s.scalars(select(Grant).order_by(Grant.id)).all()
        states = sorted(s.scalars(select(ShareRequest.status)))
        rule = s.get(RetentionRule, SLUG)
        ledger = runtime.ledger.size(s)
    assert records == RESIDENTS and states == ["approved", "approved", "pending"]
    assert [g.mode for g in grants] == ["records", "sandbox"]
    assert grants[0].masks == {"id_number": "SHOW_LAST_4", "name": "MASK"}
    assert rule is not None and rule.days == 3650
    again = seed_governance(runtime, seed=7, now=NOW)
    assert (again.residents, again.grants, again.pending) == (0, 0, 0)
    with runtime.reader() as s:
        assert runtime.ledger.size(s) == ledger  # the repeat run wrote nothing
    with TestClient(create_app(runtime)) as client:
        password = "demo-citizen-pass"
        r = client.post(
            "/citizen/register",
            json={"name": "resident0", "id_number": id_number(0), "password": password},
        )
        assert r.status_code == 201, r.text
        token = client.post("/auth/login", json={"name": "resident0", "password": password})
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        uses = client.get("/citizen/me/uses", headers=h).json()
    assert len(uses) == 1 and uses[0]["dataset"] == SLUG and uses[0]["grant"] == grants[0].id
