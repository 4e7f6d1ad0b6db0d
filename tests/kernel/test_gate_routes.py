"""Every route that touches governed data passes the gate; the rest are a short public list."""

from __future__ import annotations

from datetime import timedelta

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.governance.retention.service import destroy_expired
from citybrain.hub.ingest.service import InMemoryDirectory
from citybrain.kernel.http import governed, public_or_governed
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.signing import CheckpointSigner
from tests.governance.conftest import id_number
from tests.helpers import bearer, credit_code, make_org, make_user

# Routes that serve no governed data: liveness, the login exchange (ledgered by itself as
# token.create), the public home page with aggregate counts, and the API description.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/auth/login"),
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/status.json"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/map"),
    ("HEAD", "/map"),
    ("GET", "/quality"),
    ("HEAD", "/quality"),
    ("GET", "/sharing"),
    ("HEAD", "/sharing"),
    ("GET", "/citizen"),
    ("HEAD", "/citizen"),
    ("GET", "/report"),
    ("HEAD", "/report"),
    ("GET", "/oversight"),
    ("HEAD", "/oversight"),
}
MIN_ROUTES = 60  # a walk that sees fewer routes than the app has would prove nothing
NGSI = "/ngsi-ld/v1"
THING = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "temperature": 1}
THING2 = {"id": "urn:ngsi-ld:Thing:2", "type": "Thing", "temperature": 1}


def _uses_gate(dependant: object) -> bool:
    call = getattr(dependant, "call", None)
    if call is governed or call is public_or_governed:
        return True
    return any(_uses_gate(d) for d in getattr(dependant, "dependencies", []))


def api_routes(runtime: Runtime) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every API route of the app."""
    app = create_app(runtime)
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                out.append((method, route.path, route))
    assert len(out) >= MIN_ROUTES, f"only {len(out)} routes visible: the walk cannot see them"
    return out


def test_every_non_public_route_uses_the_gate(runtime: Runtime) -> None:
    missing = [
        f"{m} {p}"
        for m, p, r in api_routes(runtime)
        if (m, p) not in PUBLIC and not _uses_gate(r.dependant)
    ]
    assert missing == [], f"routes that bypass the gate: {missing}"


def test_public_routes_really_are_public(runtime: Runtime) -> None:
    gated_public = [
        f"{m} {p}"
        for m, p, r in api_routes(runtime)
        if (m, p) in PUBLIC and _uses_gate(r.dependant)
    ]
    assert gated_public == []


def _fill(path: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


def test_every_gated_route_writes_a_ledger_entry_with_its_request_id(
    client: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    """Call each gated route as admin; each call that succeeds adds its own ledger entry."""
    dept = make_org(runtime, 100)
    make_user(runtime, "svc", dept, "service", service_account=True)
    schema = {"fields": [{"name": "a", "type": "string"}]}
    # share-ds's one field holds the data subject's ID number, so reads show in the citizen view
    subject_schema = {"fields": [{"name": "a", "type": "string", "pii": True, "subject": True}]}
    directory = {
        "ds1": (schema, dept),
        "share-ds": (subject_schema, dept),
        "old-ds": (schema, dept),
        "rel-ds": (schema, dept),
    }
    client.app.state.dataset_directory = InMemoryDirectory(directory)  # type: ignore[attr-defined]
    # Sharing: a conditional dataset with 12 rows, requests from the city (admin's
    # organisation): 1, 3 and 4 approved (grants 1, 2 and the sandbox grant 3), 2 left for the
    # route walk to decide.
    shared = {
        "id": "share-ds",
        "title_zh": "共享数据",
        "description_zh": "共享数据",
        "provider_code": dept,
        "theme": "transport",
        "update_frequency": "P1D",
        "schema": subject_schema,
        "grade": "general",
        "sharing": "conditional",
    }
    assert client.post("/catalog/datasets", headers=admin_headers, json=shared).status_code == 201
    r = client.post(
        "/hub/datasets/share-ds/batches",
        headers=admin_headers,
        json=[{"a": id_number(i)} for i in range(12)],
    )
    assert r.status_code == 201, r.text
    # Retention: a dataset whose one record has outlived its one-day term, destroyed (a
    # certificate to read), and a term for share-ds to read.
    old = shared | {"id": "old-ds", "title_zh": "过期数据", "schema": schema}
    assert client.post("/catalog/datasets", headers=admin_headers, json=old).status_code == 201
    client.post("/hub/datasets/old-ds/batches", headers=admin_headers, json=[{"a": "y"}])
    for slug in ("old-ds", "share-ds"):
        r = client.put(f"/retention/rules/{slug}", headers=admin_headers, json={"days": 1})
        assert r.status_code == 200, r.text
    # A plain dataset with four rows for a k-anonymous release (k=2).
    rel = shared | {"id": "rel-ds", "title_zh": "开放数据", "schema": schema}
    assert client.post("/catalog/datasets", headers=admin_headers, json=rel).status_code == 201
    rows = [{"a": v} for v in ("x1", "x2", "y1", "y2")]
    client.post("/hub/datasets/rel-ds/batches", headers=admin_headers, json=rows)
    later = runtime.clock() + timedelta(days=2)
    certificate = destroy_expired(runtime, "old-ds", later).certificate
    assert certificate is not None
    ask = {"dataset": "share-ds", "fields": ["a"], "purpose": "statistics"}
    for n in (1, 2, 3, 4):  # 4: a sandbox grant (grant 3)
        body = ask | {"mode": "sandbox"} if n == 4 else ask
        r = client.post("/sharing/requests", headers=admin_headers, json=body)
        assert r.status_code == 201 and r.json()["id"] == n, r.text
        if n != 2:
            r = client.post(
                f"/sharing/requests/{n}/decision", headers=admin_headers, json={"approve": True}
            )
            assert r.status_code == 200, r.text
    bodies = {
        ("POST", "/hub/datasets/{dataset_id}/batches"): [{"a": "x"}],
        ("POST", "/hub/provider-keys"): {
            "organisation": dept,
            "public_key": CheckpointSigner.generate().public_key_b64,
        },
        ("POST", "/orgs"): {
            "code": credit_code(101),
            "name": "丙",
            "kind": "department",
            "level": "department",
        },
        ("POST", "/orgs/{code}/posts"): {"name": "p1", "role": "clerk"},
        ("POST", "/users"): {"name": "u1", "organisation_code": dept, "posts": []},
        ("POST", "/policies"): {
            "name": "extra",
            "text": "permit(principal, action, resource) when { false };",
        },
        ("POST", "/catalog/datasets"): {
            "id": "cat-ds",
            "title_zh": "交通信号灯配时",
            "description_zh": "配时方案",
            "provider_code": dept,
            "theme": "transport",
            "update_frequency": "PT5M",
            "schema": {"fields": [{"name": "id"}]},
            "grade": "general",
            "sharing": "unconditional",
        },
        ("PUT", "/catalog/datasets/{id}"): {
            "title_zh": "交通信号灯配时方案",
            "description_zh": "配时方案",
            "provider_code": dept,
            "theme": "transport",
            "update_frequency": "PT5M",
            "schema": {"fields": [{"name": "id"}]},
            "grade": "general",
            "sharing": "unconditional",
        },
        ("POST", "/catalog/apis"): {
            "id": "cat-api",
            "title_zh": "接口",
            "description_zh": "接口",
            "owner_code": dept,
            "endpoint": "https://example.gov.cn/api",
            "schema": {"type": "object"},
            "rate_limit_per_min": 60,
        },
        ("POST", "/api/3/action/package_show"): {"id": "cat-ds"},
        ("POST", "/api/action/package_show"): {"id": "cat-ds"},
        ("POST", NGSI + "/entities"): THING,
        ("PUT", NGSI + "/entities/{entityId}"): {"type": "Thing", "temperature": 2},
        ("POST", NGSI + "/entities/{entityId}/attrs"): {"humidity": 40},
        ("PATCH", NGSI + "/entities/{entityId}/attrs"): {"temperature": 3},
        ("PATCH", NGSI + "/entities/{entityId}/attrs/{attrId}"): {"value": 4},
        ("POST", NGSI + "/entityOperations/create"): [THING2],
        ("POST", NGSI + "/entityOperations/upsert"): [THING2],
        ("POST", NGSI + "/entityOperations/update"): [THING2],
        ("POST", NGSI + "/entityOperations/delete"): [THING2["id"]],
        ("POST", NGSI + "/subscriptions"): {
            "id": "urn:ngsi-ld:Subscription:1",
            "type": "Subscription",
            "entities": [{"type": "Thing"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        },
        ("PATCH", NGSI + "/subscriptions/{subscriptionId}"): {"throttling": 5},
        ("POST", "/hub/quality/rounds"): {"threshold": 100},
        ("POST", "/sharing/requests"): ask,
        ("POST", "/sharing/requests/{id}/decision"): {"approve": False, "reason": "route walk"},
        ("POST", "/sharing/grants/{id}/revoke"): {"reason": "route walk"},
        ("POST", "/sharing/grants/{id}/sandbox"): {
            "purpose": "statistics",
            "query": {"aggregates": [{"fn": "count"}]},
        },
        ("PUT", "/sharing/budgets/{dataset}"): {"total_epsilon": 2},
        ("PUT", "/retention/rules/{dataset}"): {"days": 30},
        ("PUT", "/security/officers/{org_code}"): {"officer": "admin"},
        ("POST", "/security/incidents"): {
            "severity": "low",
            "title": "route walk",
            "occurred_at": runtime.clock().isoformat(),
            "datasets": ["share-ds"],
        },
        ("POST", "/security/incidents/{id}/updates"): {"status": "contained"},
        ("POST", "/security/bulletins"): {
            "title_zh": "风险通报",
            "body_zh": "路由巡检",
            "severity": "low",
            "audience": "chosen",
            "organisations": [runtime.settings.city_code],
            "ack_deadline": (runtime.clock() + timedelta(days=7)).isoformat(),
        },
        ("POST", "/citizen/register"): {
            "name": "citizen1",
            "id_number": id_number(1),
            "password": "citizen-password",
        },
        ("PUT", "/sharing/lineage/{dataset}"): {"sources": ["old-ds"]},
        ("POST", "/privacy/datasets/{dataset}/proposal/confirm"): {
            "columns": {"a": "pii"},
            "grade": None,
        },
        ("POST", "/privacy/datasets/{dataset}/releases"): {
            "k": 2,
            "qi": ["a"],
            "max_suppression": 0,
        },
        ("POST", "/sharing/grants/{id}/destruction"): {"method": "route walk"},
        ("POST", "/supervision/rules"): {
            "code": "walk-rule",
            "kind": "denied",
            "params": {"policies": ["no-such-policy"]},
            "article": "23(7)",
            "severity": "low",
            "title_zh": "路由巡检",
            "title_en": "Route walk",
        },
        ("PUT", "/supervision/rules/{code}"): {"severity": "medium", "note": "route walk"},
        ("POST", "/supervision/findings/{id}/status"): {"status": "acknowledged"},
        ("POST", "/disputes"): {
            "respondent": dept,
            "subject_type": "batch_rejected",
            "title": "route walk",
            "claim": "route walk",
        },
        ("POST", "/disputes/{id}/claims"): {"text": "route walk"},
        ("POST", "/disputes/{id}/evidence"): {"ledger_seq": 0},
        ("POST", "/disputes/{id}/accept"): {"accept": True},
        ("POST", "/disputes/{id}/decision"): {"outcome": "dismissed", "text": "route walk"},
        ("POST", "/disputes/{id}/appeal"): {"reason": "route walk"},
        ("POST", "/disputes/{id}/appeal-decision"): {"outcome": "upheld", "text": "route walk"},
        ("POST", "/reports"): {"category": "other", "description": "route walk report"},
        ("POST", "/reports/{id}/triage"): {"severity": "low", "assignee": "desk-sup"},
        ("POST", "/reports/{id}/status"): {"status": "dismissed", "outcome": "route walk"},
        ("POST", "/auth/password"): {
            "old_password": runtime.admin_password,  # type: ignore[attr-defined]
            "new_password": "another-password-1",
        },
    }
    params = {
        "/ledger/proofs/inclusion": {"seq": 0},
        "/ledger/proofs/consistency": {"first": 1},
        "/api/3/action/package_show": {"id": "cat-ds"},
        "/api/action/package_show": {"id": "cat-ds"},
        NGSI + "/entities": {"type": "Thing"},
        "/sharing/grants/{id}/records": {"purpose": "statistics"},
    }
    values = {
        "code": dept,
        "name": "svc",
        "seq": "0",
        "dataset_id": "ds1",
        "batch_id": "1",
        "id": "cat-ds",
        "entityId": THING["id"],
        "attrId": "temperature",
        "typeName": "Thing",
        "attrName": "temperature",
        "subscriptionId": "urn:ngsi-ld:Subscription:1",
        "slug": "cat-ds",
    }
    # A citizen whose record (resident 0) was read through grant 1: one use to object to.
    r = client.post(
        "/citizen/register",
        json={"name": "citizen0", "id_number": id_number(0), "password": "citizen-password"},
    )
    assert r.status_code == 201, r.text
    r = client.get(
        "/sharing/grants/1/records", headers=admin_headers, params={"purpose": "statistics"}
    )
    assert r.status_code == 200, r.text
    login = client.post("/auth/login", json={"name": "citizen0", "password": "citizen-password"})
    citizen_headers = bearer(login.json()["access_token"])
    use_id = client.get("/citizen/me/uses", headers=citizen_headers).json()[0]["id"]
    bodies[("POST", "/citizen/me/objections")] = {"use_id": use_id, "text": "route walk"}
    # Report desk: case 1 (named: its reporter's identity is read, by a supervisor only) to
    # triage, case 2 to dismiss; the receipt code of case 2 to follow.
    supervisor_headers = bearer(
        make_user(runtime, "desk-sup", runtime.settings.city_code, "supervisor")
    )
    for n, reporter in ((1, {"name": "举报人"}), (2, None)):
        report = {"category": "leak", "description": "route walk report", "reporter": reporter}
        r = client.post("/reports", json=report)
        assert r.status_code == 201 and r.json()["id"] == n, r.text
    bodies[("POST", "/reports/receipt")] = {"code": r.json()["receipt_code"]}
    # A read for a purpose outside grant 1: finding 1, once the detector has scanned.
    r = client.get("/sharing/grants/1/records", headers=admin_headers, params={"purpose": "other"})
    assert r.status_code == 403, r.text
    scanned = client.post("/supervision/scan", headers=admin_headers)
    assert scanned.json()["opened"] == [1], scanned.text
    # Security: the city's officer (admin), incident 1 of the city and bulletin 1 to the city.
    for method, path in (
        ("PUT", "/security/officers/{org_code}"),
        ("POST", "/security/incidents"),
        ("POST", "/security/bulletins"),
    ):
        url = path.replace("{org_code}", runtime.settings.city_code)
        r = client.request(method, url, headers=admin_headers, json=bodies[(method, path)])
        assert r.status_code < 400, r.text
    routes = [(m, p) for m, p, r in api_routes(runtime) if _uses_gate(r.dependant)]
    # a batch must exist before it is read; logout last: it revokes the token used for the others
    # deletes after everything else, the entity itself after its attribute
    routes.sort(
        key=lambda mp: (
            mp[1] == "/auth/logout",
            mp[0] == "DELETE" and mp[1].endswith("{entityId}"),
            mp[0] == "DELETE",
            mp[1] == "/hub/batches/{batch_id}",
        )
    )
    overrides = {
        "/policies/{name}/deactivate": {"name": "extra"},
        "/hub/quality/alerts/{id}/ack": {"id": "1"},
        "/sharing/requests/{id}": {"id": "1"},
        "/sharing/requests/{id}/decision": {"id": "2"},
        "/sharing/grants/{id}": {"id": "1"},
        "/sharing/grants/{id}/records": {"id": "1"},
        "/sharing/grants/{id}/revoke": {"id": "2"},
        "/sharing/grants/{id}/sandbox": {"id": "3"},
        "/sharing/budgets/{dataset}": {"dataset": "share-ds"},
        "/retention/rules/{dataset}": {"dataset": "share-ds"},
        "/sharing/lineage/{dataset}": {"dataset": "share-ds"},
        "/privacy/datasets/{dataset}/profile": {"dataset": "share-ds"},
        "/privacy/datasets/{dataset}/proposal": {"dataset": "share-ds"},
        "/privacy/datasets/{dataset}/proposal/confirm": {"dataset": "share-ds"},
        "/privacy/datasets/{dataset}/releases": {"dataset": "rel-ds"},
        "/privacy/releases/{id}": {"id": "1"},
        "/privacy/releases/{id}.csv": {"id": "1"},
        "/retention/certificates/{code}": {"code": certificate.code},
        "/sharing/grants/{id}/destruction": {"id": "1"},
        "/supervision/rules/{code}": {"code": "bulk-read"},
        "/security/officers/{org_code}": {"org_code": runtime.settings.city_code},
        "/security/incidents/{id}": {"id": "1"},
        "/security/incidents/{id}/updates": {"id": "1"},
        "/security/bulletins/{id}": {"id": "1"},
        "/security/bulletins/{id}/ack": {"id": "1"},
        "/disputes/{id}": {"id": "1"},
        "/disputes/{id}/claims": {"id": "1"},
        "/disputes/{id}/evidence": {"id": "1"},
        "/disputes/{id}/evidence-bundle": {"id": "1"},
        "/disputes/{id}/accept": {"id": "1"},
        "/disputes/{id}/decision": {"id": "1"},
        "/disputes/{id}/appeal": {"id": "1"},
        "/disputes/{id}/appeal-decision": {"id": "1"},
        "/reports/{id}": {"id": "1"},
        "/reports/{id}/triage": {"id": "1"},
        "/reports/{id}/status": {"id": "2"},
        "/reports/{id}/reporter": {"id": "1"},
        "/supervision/findings/{id}": {"id": "1"},
        "/supervision/findings/{id}/status": {"id": "1"},
        "/supervision/findings/{id}/evidence": {"id": "1"},
        "/supervision/org-reports/{org}": {"org": runtime.settings.city_code},
        "/supervision/org-reports/{org}/pdf": {"org": runtime.settings.city_code},
    }
    for method, path in routes:
        url = _fill(path, overrides.get(path, values))
        with runtime.factory() as s:
            before = runtime.ledger.size(s)
        rid = f"route-{method}-{path}".replace("/", "_").replace("{", "").replace("}", "")
        r = client.request(
            method,
            url,
            headers=(
                citizen_headers
                if path.startswith("/citizen/me")
                else supervisor_headers
                if path == "/reports/{id}/reporter"
                else admin_headers
            )
            | {"X-Request-ID": rid},
            json=bodies.get((method, path)),
            params=params.get(path) if method == "GET" else None,
        )
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text}"
        with runtime.factory() as s:
            after = runtime.ledger.size(s)
            rows = runtime.ledger.entries(s, before - 1, after - before)
        assert after > before, f"{method} {path} left no ledger entry"
        assert any(e.data.request_id == rid for e in rows), (
            f"{method} {path}: request id not ledgered"
        )
