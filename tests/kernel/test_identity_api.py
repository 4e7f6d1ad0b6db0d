"""Identity through the API: login, organisations, posts, users, tokens, and their errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, credit_code, make_org, make_user


def test_login_and_me(client: TestClient, runtime: Runtime) -> None:
    pw = runtime.admin_password  # type: ignore[attr-defined]
    r = client.post("/auth/login", json={"name": "admin", "password": pw})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["must_change_password"] is True
    me = client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["roles"] == ["admin"]
    assert me.headers["X-Request-ID"]


def test_wrong_password_is_401_problem(client: TestClient) -> None:
    r = client.post("/auth/login", json={"name": "admin", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


def test_missing_token_401(client: TestClient) -> None:
    r = client.get("/me")
    assert r.status_code == 401
    assert r.json()["type"].endswith("/unauthenticated")


def test_garbage_token_401(client: TestClient) -> None:
    assert client.get("/me", headers=bearer("not.a.jwt")).status_code == 401


def test_expired_token_401(client: TestClient, runtime: Runtime) -> None:
    from datetime import timedelta

    from citybrain.kernel.identity import service

    with runtime.factory() as s:
        user = service.get_user(s, "admin")
        past = lambda: runtime.clock() - timedelta(hours=2)  # noqa: E731
        token, _ = service.issue_token(user, runtime.jwt_secret, 60, past)
    r = client.get("/me", headers=bearer(token))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


def test_logout_revokes_token(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert client.get("/me", headers=admin_headers).status_code == 200
    assert client.post("/auth/logout", headers=admin_headers).status_code == 204
    r = client.get("/me", headers=admin_headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_change_password_then_login(
    client: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    old = runtime.admin_password  # type: ignore[attr-defined]
    r = client.post(
        "/auth/password",
        headers=admin_headers,
        json={"old_password": old, "new_password": "a-much-better-one"},
    )
    assert r.status_code == 204, r.text
    assert client.post("/auth/login", json={"name": "admin", "password": old}).status_code == 401
    r = client.post("/auth/login", json={"name": "admin", "password": "a-much-better-one"})
    assert r.status_code == 200
    assert r.json()["must_change_password"] is False


def test_create_org_and_hierarchy(
    client: TestClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    district = credit_code(1)
    r = client.post(
        "/orgs",
        headers=admin_headers,
        json={
            "code": district,
            "name": "上城区人民政府",
            "kind": "government",
            "level": "district",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["parent_code"] == runtime.settings.city_code
    dept = credit_code(2)
    r = client.post(
        "/orgs",
        headers=admin_headers,
        json={
            "code": dept,
            "name": "上城区交通运输局",
            "name_en": "Shangcheng Transport",
            "kind": "department",
            "level": "department",
            "parent_code": district,
        },
    )
    assert r.status_code == 201
    listed = client.get("/orgs", headers=admin_headers, params={"under": district}).json()
    assert [o["code"] for o in listed["items"]] == [dept]


def test_invalid_credit_code_422_names_field(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    r = client.post(
        "/orgs",
        headers=admin_headers,
        json={"code": "91330100MA27XXXX0X", "name": "x", "kind": "enterprise", "level": "unit"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "code"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_duplicate_org_409(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = {"code": credit_code(3), "name": "甲", "kind": "department", "level": "department"}
    assert client.post("/orgs", headers=admin_headers, json=body).status_code == 201
    r = client.post("/orgs", headers=admin_headers, json=body)
    assert r.status_code == 409
    assert r.json()["field"] == "code"


def test_body_validation_names_field(client: TestClient, admin_headers: dict[str, str]) -> None:
    r = client.post(
        "/orgs",
        headers=admin_headers,
        json={"code": credit_code(4), "name": "x", "kind": "spaceship", "level": "unit"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "kind"


def test_failed_action_leaves_no_ledger_entry(
    client: TestClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    body = {"code": credit_code(5), "name": "乙", "kind": "department", "level": "department"}
    client.post("/orgs", headers=admin_headers, json=body)
    with runtime.factory() as s:
        before = runtime.ledger.size(s)
    assert client.post("/orgs", headers=admin_headers, json=body).status_code == 409
    with runtime.factory() as s:
        assert runtime.ledger.size(s) == before


def test_users_posts_and_pagination(
    client: TestClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    dept = make_org(runtime, 10)
    r = client.post(
        f"/orgs/{dept}/posts",
        headers=admin_headers,
        json={"name": "data-clerk", "role": "clerk", "title": "数据专员"},
    )
    assert r.status_code == 201
    for i in range(5):
        r = client.post(
            "/users",
            headers=admin_headers,
            json={"name": f"clerk{i}", "organisation_code": dept, "posts": ["data-clerk"]},
        )
        assert r.status_code == 201, r.text
        assert r.json()["one_time_password"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"org": dept, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/users", headers=admin_headers, params=params).json()
        seen += [u["name"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"clerk{i}" for i in range(5)]
    assert (
        client.get("/users", headers=admin_headers, params={"cursor": "%%%"}).json()["field"]
        == "cursor"
    )


def test_unknown_post_404(
    client: TestClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    dept = make_org(runtime, 11)
    r = client.post(
        "/users",
        headers=admin_headers,
        json={"name": "ghost", "organisation_code": dept, "posts": ["nope"]},
    )
    assert r.status_code == 404
    assert r.json()["field"] == "posts"


def test_service_account_api_key(client: TestClient, runtime: Runtime) -> None:
    dept = make_org(runtime, 12)
    key = make_user(runtime, "svc-sensors", dept, "service", service_account=True)
    assert key.startswith("cbk_")
    r = client.get("/orgs", headers=bearer(key), params={"under": dept})
    assert r.status_code == 200
    assert client.get("/orgs", headers=bearer(key[:-2] + "xx")).status_code == 401


def test_disabled_user_loses_access(
    client: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    dept = make_org(runtime, 13)
    token = make_user(runtime, "leaver", dept, "clerk")
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert client.post("/users/leaver/disable", headers=admin_headers).status_code == 200
    assert client.get("/me", headers=bearer(token)).status_code == 401


def test_request_id_round_trip_into_ledger(
    client: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    r = client.get("/me", headers=admin_headers | {"X-Request-ID": "trace-123"})
    assert r.headers["X-Request-ID"] == "trace-123"
    with runtime.factory() as s:
        last = runtime.ledger.entry(s, runtime.ledger.size(s) - 1)
    assert last.data.request_id == "trace-123"
    assert last.data.actor == "admin"
    assert last.data.action == "access"


def test_one_time_password_token_only_changes_the_password(
    client: TestClient, runtime: Runtime
) -> None:
    otp = runtime.admin_password  # type: ignore[attr-defined]
    token = client.post("/auth/login", json={"name": "admin", "password": otp}).json()
    headers = bearer(token["access_token"])
    r = client.get("/orgs", headers=headers | {"X-Request-ID": "otp-use"})
    assert r.status_code == 403
    assert r.json()["policies"] == ["must-change-password"]
    with runtime.factory() as s:
        last = runtime.ledger.entry(s, runtime.ledger.size(s) - 1)
    assert (last.data.decision, last.data.request_id) == ("deny", "otp-use")
    r = client.post(
        "/auth/password",
        headers=headers,
        json={"old_password": otp, "new_password": "brand-new-password"},
    )
    assert r.status_code == 204
    assert client.get("/me", headers=headers).status_code == 401  # the one-time token is spent
    fresh = client.post("/auth/login", json={"name": "admin", "password": "brand-new-password"})
    assert client.get("/orgs", headers=bearer(fresh.json()["access_token"])).status_code == 200


def test_problem_title_follows_accept_language(client: TestClient) -> None:
    en = client.get("/me")
    zh = client.get("/me", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert en.json()["title"] == "Authentication required"
    assert zh.json()["title"] == "需要身份认证"
    assert en.json()["type"] == zh.json()["type"]


def test_failed_logins_are_throttled_and_ledgered(client: TestClient, runtime: Runtime) -> None:
    runtime.login_throttle.limit = 3
    for _ in range(3):
        r = client.post("/auth/login", json={"name": "admin", "password": "guess"})
        assert r.status_code == 401
    r = client.post("/auth/login", json={"name": "admin", "password": "guess"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["field"] == "name"
    # even the right password waits: the throttle comes before the check
    pw = runtime.admin_password  # type: ignore[attr-defined]
    assert client.post("/auth/login", json={"name": "admin", "password": pw}).status_code == 429
    with runtime.reader() as s:
        rows = runtime.ledger.entries(s, -1, 10000)
    failed = [e for e in rows if e.data.purpose.endswith("failed login")]
    assert len(failed) == 3 and all(e.data.decision == "deny" for e in failed)


def test_throttle_window_slides() -> None:
    from citybrain.kernel.identity.throttle import LoginThrottle, TooManyAttempts

    now = [0.0]
    th = LoginThrottle(limit=2, window_s=10, clock=lambda: now[0])
    th.failed("name:a")
    th.failed("name:a")
    try:
        th.check("name:a")
        raise AssertionError("should have refused")
    except TooManyAttempts as exc:
        assert exc.extra["retry_after"] == 11
    now[0] = 10.5
    th.check("name:a")  # the old failures left the window
    th.check("name:b")
    th.failed("name:a")
    th.succeeded("name:a")
    th.check("name:a")


def test_address_limit_is_higher_than_name_limit() -> None:
    from citybrain.kernel.identity.throttle import LoginThrottle, TooManyAttempts

    th = LoginThrottle(limit=2, addr_limit=5, clock=lambda: 0.0)
    for i in range(4):
        th.failed(f"name:u{i}", "addr:proxy")
    th.check("name:new", "addr:proxy")  # 4 failures from one address: others still get in
    th.failed("name:u9", "addr:proxy")
    try:
        th.check("name:new", "addr:proxy")
        raise AssertionError("the address should now be refused")
    except TooManyAttempts as exc:
        assert exc.field is None
