"""Authorisation matrix: every role × every governed route → expected allow or deny.

A wrong allow fails the test; every deny is a 403 naming the deciding policy and is ledgered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, credit_code, make_org, make_user

ROLES = ("admin", "operator", "auditor", "clerk", "service")
ALL = set(ROLES)
READERS = {"admin", "operator", "auditor"}


@dataclass
class World:
    root: str
    district: str
    dept: str
    other: str
    tokens: dict[str, str]


@pytest.fixture
def world(runtime: Runtime) -> World:
    root = runtime.settings.city_code
    district = make_org(runtime, 200, level="district")
    dept = make_org(runtime, 201, parent=district)
    other = make_org(runtime, 202)
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["auditor"] = make_user(runtime, "aud", root, "auditor")
    tokens["clerk"] = make_user(runtime, "clerk", dept, "clerk")
    tokens["service"] = make_user(runtime, "svc", dept, "service", service_account=True)
    make_user(runtime, "victim", other, "clerk")
    return World(root, district, dept, other, tokens)


_counter = iter(range(1000, 100000))


def cases(w: World) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(method, url, request kwargs, roles that must be allowed)."""

    def new_org() -> dict[str, Any]:
        return {
            "json": {
                "code": credit_code(next(_counter)),
                "name": "新机构",
                "kind": "department",
                "level": "department",
                "parent_code": w.dept,
            }
        }

    def new_user() -> dict[str, Any]:
        return {"json": {"name": f"u{next(_counter)}", "organisation_code": w.dept, "posts": []}}

    return [
        ("GET", "/me", {}, ALL),
        ("GET", "/orgs", {}, ALL),
        ("GET", "/orgs", {"params": {"under": w.root}}, READERS | {"admin", "service"}),
        ("GET", f"/orgs/{w.dept}", {}, ALL),
        ("GET", f"/orgs/{w.other}", {}, READERS | {"service"}),
        ("GET", f"/orgs/{w.dept}/posts", {}, ALL),
        ("GET", f"/orgs/{w.district}/posts", {}, READERS | {"service"}),
        ("POST", "/orgs", "new_org", {"admin", "operator"}),
        ("POST", f"/orgs/{w.dept}/posts", "new_post", {"admin", "operator"}),
        ("GET", "/users", {"params": {"org": w.dept}}, READERS | {"clerk"}),
        ("GET", "/users", {"params": {"org": w.other}}, READERS),
        ("GET", "/users/victim", {}, READERS),
        ("GET", "/users/clerk", {}, READERS | {"clerk"}),
        ("POST", "/users", "new_user", {"admin", "operator"}),
        ("POST", "/users/victim/disable", {}, {"admin"}),
        ("POST", "/users/svc/api-keys", {}, {"admin"}),
        ("GET", "/policies", {}, READERS),
        (
            "POST",
            "/policies",
            {"json": {"name": "p", "text": "forbid(principal, action, resource) when { false };"}},
            {"admin"},
        ),
        ("GET", "/ledger", {}, READERS),
        ("GET", "/ledger/entries", {}, READERS),
        ("GET", "/ledger/entries/0", {}, READERS),
        ("GET", "/ledger/proofs/inclusion", {"params": {"seq": 0}}, READERS),
        ("GET", "/ledger/proofs/consistency", {"params": {"first": 1}}, READERS),
        ("GET", "/ledger/checkpoints", {}, READERS),
        ("GET", "/ledger/export", {}, READERS),
        ("POST", "/ledger/checkpoints", {}, {"admin"}),
    ], {
        "new_org": new_org,
        "new_user": new_user,
        "new_post": lambda: {"json": {"name": f"p{next(_counter)}", "role": "clerk"}},
    }


def test_authorisation_matrix(client: TestClient, runtime: Runtime, world: World) -> None:
    table, makers = cases(world)
    wrong: list[str] = []
    for method, url, kwargs, allowed in table:
        for role in ROLES:
            args = makers[kwargs]() if isinstance(kwargs, str) else dict(kwargs)
            rid = f"m-{role}-{method}-{len(wrong)}-{next(_counter)}"
            r = client.request(
                method, url, headers=bearer(world.tokens[role]) | {"X-Request-ID": rid}, **args
            )
            expect_allow = role in allowed
            if expect_allow and r.status_code in (401, 403):
                wrong.append(f"wrong DENY {role} {method} {url}: {r.status_code} {r.text[:120]}")
            elif not expect_allow and r.status_code != 403:
                wrong.append(f"wrong ALLOW {role} {method} {url}: {r.status_code}")
            elif not expect_allow:
                body = r.json()
                assert body["policies"], body
                assert body["policies"][0] in body["detail"]
                with runtime.factory() as s:
                    rows = runtime.ledger.entries(s, -1, 100000)
                denied = [e for e in rows if e.data.request_id == rid]
                assert len(denied) == 1 and denied[0].data.decision == "deny", (role, method, url)
                assert list(denied[0].data.policy_ids) == body["policies"]
    assert wrong == []


def test_forbid_disabled_policy_names_itself(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    """A forbid policy beats a permit and is the one named."""
    client.post(
        "/policies",
        headers=bearer(world.tokens["admin"]),
        json={
            "name": "freeze-auditors",
            "text": 'forbid(principal in CityBrain::Role::"auditor", action, resource);',
        },
    )
    r = client.get("/ledger", headers=bearer(world.tokens["auditor"]))
    assert r.status_code == 403
    assert r.json()["policies"] == ["freeze-auditors@v1"]


def test_operator_cannot_make_administrators(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    op = bearer(world.tokens["operator"])
    r = client.post(f"/orgs/{world.dept}/posts", headers=op, json={"name": "boss", "role": "admin"})
    assert r.status_code == 403
    assert r.json()["policies"] == ["only-admins-grant-admin@v1"]
    admin = bearer(world.tokens["admin"])
    assert (
        client.post(
            f"/orgs/{world.dept}/posts", headers=admin, json={"name": "boss", "role": "admin"}
        ).status_code
        == 201
    )
    r = client.post(
        "/users",
        headers=op,
        json={"name": "mole", "organisation_code": world.dept, "posts": ["boss"]},
    )
    assert r.status_code == 403
    assert r.json()["policies"] == ["only-admins-grant-admin@v1"]
    assert (
        client.post(
            "/users",
            headers=op,
            json={"name": "fine", "organisation_code": world.dept, "posts": []},
        ).status_code
        == 201
    )


def test_every_role_changes_own_password_and_logs_out(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    for role in ("operator", "auditor", "clerk"):
        h = bearer(world.tokens[role])
        r = client.post(
            "/auth/password",
            headers=h,
            json={"old_password": "correct-horse-battery", "new_password": "new-password-123"},
        )
        assert r.status_code == 204, (role, r.text)
        assert client.post("/auth/logout", headers=h).status_code == 204
        assert client.get("/me", headers=h).status_code == 401
