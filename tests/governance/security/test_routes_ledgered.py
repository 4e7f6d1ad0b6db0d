"""Every security route goes through the gate: each call, allowed or denied, leaves a ledger
entry carrying its request id, under the route's own gate action."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from citybrain.governance.security.api import GATE_ACTIONS
from tests.governance.security.conftest import DATASET, World


def test_every_security_route_is_ledgered_with_its_request_id(world: World) -> None:
    rt = world.runtime
    incident = {
        "severity": "medium",
        "title": "t",
        "occurred_at": world.at(minutes=-1).isoformat(),
        "datasets": [DATASET],
    }
    bulletin = {
        "title_zh": "通报",
        "body_zh": "内容",
        "severity": "low",
        "audience": "chosen",
        "organisations": [world.health],
        "ack_deadline": world.at(days=1).isoformat(),
    }
    calls: list[tuple[str, str, str, Any, str]] = [
        ("PUT", f"/security/officers/{world.health}", "health_clerk", {"officer": "doctor"}, ""),
        ("GET", "/security/officers", "health_clerk", None, ""),
        ("GET", f"/security/officers/{world.health}", "health_clerk", None, ""),
        ("POST", "/security/incidents", "health_clerk", incident, ""),
        ("GET", "/security/incidents", "health_clerk", None, ""),
        ("GET", "/security/incidents/1", "health_clerk", None, ""),
        ("POST", "/security/incidents/1/updates", "health_clerk", {"note": "n"}, ""),
        ("POST", "/security/bulletins", "supervisor", bulletin, ""),
        ("GET", "/security/bulletins", "health_clerk", None, ""),
        ("GET", "/security/bulletins/1", "health_clerk", None, ""),
        ("POST", "/security/bulletins/1/ack", "health_clerk", None, ""),
        # denials are ledgered too
        ("PUT", f"/security/officers/{world.health}", "transport_clerk", {"officer": "x"}, "deny"),
        ("GET", "/security/incidents/1", "transport_clerk", None, "deny"),
        ("POST", "/security/bulletins/1/ack", "transport_clerk", None, "deny"),
    ]
    for n, (method, url, who, body, expect) in enumerate(calls):
        rid = f"security-walk-{n}"
        with rt.factory() as s:
            before = rt.ledger.size(s)
        r = world.client.request(
            method, url, headers=world.h(who) | {"X-Request-ID": rid}, json=body
        )
        assert (r.status_code == 403) == (expect == "deny"), f"{method} {url}: {r.text}"
        with rt.factory() as s:
            after = rt.ledger.size(s)
            entries = [e.data for e in rt.ledger.entries(s, before - 1, after - before)]
        mine = [e for e in entries if e.request_id == rid]
        assert len(mine) == 1, f"{method} {url} left no ledger entry"
        assert mine[0].decision == (expect or "allow")
        assert mine[0].purpose.startswith("security.")

    walked = {(m, u.replace(world.health, "{org_code}")) for m, u, *_ in calls}
    walked = {(m, u.replace("/1", "/{id}")) for m, u in walked}
    routes = {
        (m, r.path)
        for r in world.client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path.startswith("/security")
        for m in r.methods
    }
    assert routes == walked
    with rt.factory() as s:
        actions = {e.data.purpose.split(":")[0] for e in rt.ledger.entries(s, -1, 100_000)}
    assert set(GATE_ACTIONS) <= actions  # each route under its own action
