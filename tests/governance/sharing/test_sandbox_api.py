"""The sandbox through a grant (可用不可见): aggregates leave, rows and personal fields never do,
every refusal is ledgered with its reason, DP queries are charged to the dataset's budget."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from citybrain.governance.privacy.budget import SandboxQueryLog
from tests.governance.conftest import ROWS, Sharing

FIELDS = ["name", "district", "age", "allowance"]


def sandbox_grant(world: Sharing) -> int:
    req = world.request(dataset="assist-unconditional", fields=FIELDS, mode="sandbox")
    return int(req["grant"]["id"])


def ask(world: Sharing, grant: int, query: dict[str, Any], who: str = "health_clerk") -> Any:
    return world.client.post(
        f"/sharing/grants/{grant}/sandbox",
        headers=world.h(who),
        json={"purpose": "public-health", "query": query},
    )


def denials(world: Sharing) -> list[Any]:
    with world.runtime.factory() as s:
        rows = world.runtime.ledger.entries(s, -1, 100000)
    return [e.data for e in rows if e.data.decision == "deny"]


def test_aggregates_leave_and_are_logged(sharing: Sharing) -> None:
    grant = sandbox_grant(sharing)
    r = ask(
        sharing,
        grant,
        {
            "group_by": ["district"],
            "aggregates": [{"fn": "count"}, {"fn": "mean", "column": "age"}],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    by_district = {row[0]: row[1:] for row in body["rows"]}
    assert set(by_district) == {"西湖区", "上城区", "滨江区"}
    assert sum(v[0] for v in by_district.values()) == ROWS
    ages = [76 - n % 50 for n in range(0, ROWS, 3)]  # 西湖区 holds every third resident
    assert abs(by_district["西湖区"][1] - sum(ages) / len(ages)) < 1e-9
    assert "张" not in r.text
    with sharing.runtime.reader() as s:
        log = s.scalars(select(SandboxQueryLog)).all()
    assert len(log) == 1 and log[0].fingerprint == body["query_fingerprint"]
    assert log[0].rows_selected == ROWS and log[0].actor == "doctor"


def test_columns_outside_the_grant_and_personal_fields_are_refused(sharing: Sharing) -> None:
    grant = sandbox_grant(sharing)
    r = ask(sharing, grant, {"group_by": ["phone"], "aggregates": [{"fn": "count"}]})
    assert r.status_code == 403 and "sharing-fields-within-grant@v1" in r.json()["policies"]
    r = ask(sharing, grant, {"group_by": ["name"], "aggregates": [{"fn": "count"}]})
    assert r.status_code == 422 and r.json()["reason"] == "column_not_allowed"
    r = ask(
        sharing,
        grant,
        {"aggregates": [{"fn": "count"}], "where": [{"column": "age", "op": "=", "value": 76}]},
    )
    assert r.status_code == 422 and r.json()["reason"] == "singles_out"
    r = ask(sharing, grant, {"aggregates": [{"fn": "median", "column": "age"}]})
    assert r.status_code == 422 and r.json()["field"].startswith("aggregates[0]")
    reasons = [e.policy_ids for e in denials(sharing)]
    assert ("sandbox-refused:column_not_allowed",) in reasons
    assert ("sandbox-refused:singles_out",) in reasons
    r = ask(sharing, grant, {"aggregates": [{"fn": "count"}]}, who="transport_clerk")
    assert r.status_code == 403 and "sharing-grantee-only@v1" in r.json()["policies"]


def test_dp_queries_spend_the_budget_and_stop_when_it_is_gone(sharing: Sharing) -> None:
    grant = sandbox_grant(sharing)
    path = "/sharing/budgets/assist-unconditional"
    fresh = sharing.client.get(path, headers=sharing.h("health_clerk")).json()
    assert fresh["spent_epsilon"] == 0 and fresh["remaining_epsilon"] == fresh["total_epsilon"]
    dp_count = {"aggregates": [{"fn": "count"}], "dp": {"epsilon": 1.0}}
    r = ask(sharing, grant, dp_count)
    assert r.status_code == 200, r.text
    assert r.json()["epsilon_spent"] == 1.0 and r.json()["rows_selected"] is None
    assert abs(r.json()["rows"][0][0] - ROWS) < 40  # noisy, but a count of 30
    r = ask(sharing, grant, {"aggregates": [{"fn": "sum", "column": "age"}], "dp": {"epsilon": 1}})
    assert r.status_code == 422 and r.json()["reason"] == "bounds_required"
    denied = sharing.client.put(path, headers=sharing.h("health_clerk"), json={"total_epsilon": 9})
    assert denied.status_code == 403
    r = sharing.client.put(path, headers=sharing.h("civil_clerk"), json={"total_epsilon": 1.5})
    assert r.status_code == 200 and r.json()["remaining_epsilon"] == 0.5
    r = ask(sharing, grant, dp_count)
    assert r.status_code == 422 and r.json()["reason"] == "budget_exhausted"
    after = sharing.client.get(path, headers=sharing.h("civil_clerk")).json()
    assert after["spent_epsilon"] == 1.0  # the refused query cost nothing
    assert ("sandbox-refused:budget_exhausted",) in [e.policy_ids for e in denials(sharing)]
