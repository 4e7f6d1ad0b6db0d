"""The catalogue's REST API: registration rules, versions, the API registry, the gate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hub.conftest import World, dataset_body


def _post(world: World, body: dict[str, Any], who: str = "admin") -> Any:
    return world.client.post("/catalog/datasets", headers=world.h(who), json=body)


def test_register_and_read_back_in_both_languages(world: World) -> None:
    created = world.register()
    assert created["id"] == "signal-timing"
    assert created["version"] == 1
    assert created["grade"] == {"code": "general", "zh": "一般数据", "en": "General data"}
    assert created["sharing"] == {
        "code": "unconditional",
        "zh": "无条件共享",
        "en": "Shared unconditionally",
    }
    assert created["theme"]["zh"] == "交通出行"
    assert created["provider"]["code"] == world.transport
    assert created["schema"]["primaryKey"] == ["junction_id", "ts"]
    got = world.client.get("/catalog/datasets/signal-timing", headers=world.h("service"))
    assert got.status_code == 200
    assert got.json() == created


def test_labels_are_accepted_for_codes(world: World) -> None:
    created = world.register(grade="重要", sharing="有条件共享", open_data=False)
    assert created["grade"]["code"] == "important"
    assert created["sharing"]["code"] == "conditional"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title_zh": ""}, "title_zh"),
        ({"title_zh": "   "}, "title_zh"),
        ({"id": "Not A Slug"}, "id"),
        ({"theme": "weather"}, "theme"),
        ({"grade": "secret"}, "grade"),
        ({"sharing": "maybe"}, "sharing"),
        ({"update_frequency": "5 minutes"}, "update_frequency"),
        ({"update_frequency": "PT0S"}, "update_frequency"),
        ({"update_frequency": "P"}, "update_frequency"),
        ({"schema": {"fields": []}}, "schema.fields"),
        ({"schema": {"fields": [{"name": "a", "type": "text"}]}}, "schema.fields.0.type"),
        (
            {"schema": {"fields": [{"name": "a"}, {"name": "a"}]}},
            "schema.fields.1.name",
        ),
        ({"schema": {"fields": [{"name": "a"}], "primaryKey": ["b"]}}, "schema.primaryKey"),
        (
            {"schema": {"fields": [{"name": "a", "constraints": {"pattern": "("}}]}},
            "schema.fields.0.constraints.pattern",
        ),
        (
            {
                "schema": {
                    "fields": [{"name": "a", "type": "integer", "constraints": {"minimum": "x"}}]
                }
            },
            "schema.fields.0.constraints.minimum",
        ),
        ({"schema": {"fields": [{"name": "a", "colour": "red"}]}}, "schema.fields.0.colour"),
        ({"unexpected": 1}, "unexpected"),
        ({"keywords_zh": [""]}, "keywords_zh.0"),
    ],
)
def test_invalid_input_names_the_field(world: World, change: dict[str, Any], field: str) -> None:
    r = _post(world, dataset_body("bad-one", world.transport, **change))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert (
        world.client.get("/catalog/datasets/bad-one", headers=world.h("admin")).status_code == 404
    )


def test_provider_must_exist(world: World) -> None:
    r = _post(world, dataset_body("orphan", "91330100MA2XXXXX0X"))
    assert r.status_code in (403, 404, 422)
    r = _post(world, dataset_body("orphan", "91330100MA2XXXXX0X"), who="admin")
    assert r.json()["field"] == "provider_code"


def test_not_shared_requires_a_legal_basis(world: World) -> None:
    body = dataset_body("closed", world.transport, sharing="none", open_data=False)
    r = _post(world, body)
    assert r.status_code == 422
    assert r.json()["field"] == "legal_basis"
    body["legal_basis"] = "   "
    assert _post(world, body).json()["field"] == "legal_basis"
    body["legal_basis"] = "《中华人民共和国个人信息保护法》第十三条"
    r = _post(world, body)
    assert r.status_code == 201, r.text
    assert r.json()["sharing"]["zh"] == "不予共享"


def test_open_data_rules(world: World) -> None:
    r = _post(
        world,
        dataset_body("o1", world.transport, sharing="none", legal_basis="法规", open_data=True),
    )
    assert (r.status_code, r.json()["field"]) == (422, "sharing")
    r = _post(world, dataset_body("o2", world.transport, grade="core", open_data=True))
    assert (r.status_code, r.json()["field"]) == (422, "grade")
    schema = {"fields": [{"name": "plate"}, {"name": "name", "pii": True}]}
    r = _post(world, dataset_body("o3", world.transport, schema=schema, open_data=True))
    assert (r.status_code, r.json()["field"]) == (422, "schema.fields.1.pii")
    schema = {"fields": [{"name": "idcard", "sensitive_pii": True}]}
    r = _post(world, dataset_body("o4", world.transport, schema=schema, open_data=True))
    assert (r.status_code, r.json()["field"]) == (422, "schema.fields.0.pii")
    r = _post(world, dataset_body("o5", world.transport, schema=schema, open_data=False))
    assert r.status_code == 201
    assert r.json()["pii_fields"] == ["idcard"]
    assert r.json()["sensitive_pii_fields"] == ["idcard"]


def test_updates_bump_the_version_and_keep_history(world: World) -> None:
    world.register()
    body = dataset_body("signal-timing", world.transport, title_zh="交通信号灯配时方案")
    del body["id"]
    r = world.client.put("/catalog/datasets/signal-timing", headers=world.h("clerk"), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.json()["modified_by"] == "clerk"
    same = world.client.put("/catalog/datasets/signal-timing", headers=world.h("clerk"), json=body)
    assert same.json()["version"] == 2  # nothing changed, no new version
    bad = dict(body, sharing="none")
    r = world.client.put("/catalog/datasets/signal-timing", headers=world.h("clerk"), json=bad)
    assert r.status_code == 422
    moved = dict(body, provider_code=world.health)
    r = world.client.put("/catalog/datasets/signal-timing", headers=world.h("admin"), json=moved)
    assert (r.status_code, r.json()["field"]) == (422, "provider_code")
    versions = world.client.get(
        "/catalog/datasets/signal-timing/versions", headers=world.h("auditor")
    ).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["snapshot"]["title"]["zh"] == "交通信号灯配时"
    assert versions[1]["snapshot"]["title"]["zh"] == "交通信号灯配时方案"
    # the search index follows the update
    found = world.client.get("/catalog/search", params={"q": "方案"}, headers=world.h("clerk"))
    assert [d["id"] for d in found.json()["items"]] == ["signal-timing"]


def test_duplicate_id_is_a_conflict(world: World) -> None:
    world.register()
    r = _post(world, dataset_body("signal-timing", world.transport))
    assert (r.status_code, r.json()["field"]) == (409, "id")


def test_unknown_dataset_is_404_naming_id(world: World) -> None:
    for path in ("/catalog/datasets/nope", "/catalog/datasets/nope/versions"):
        r = world.client.get(path, headers=world.h("admin"))
        assert (r.status_code, r.json()["field"]) == (404, "id")


def test_themes_in_both_languages(world: World) -> None:
    themes = world.client.get("/catalog/themes", headers=world.h("service")).json()
    codes = {t["code"]: t for t in themes}
    assert {"transport", "health", "environment", "public-safety", "education"} <= set(codes)
    assert codes["health"]["zh"] == "医疗卫生" and codes["health"]["en"] == "Health"
    assert codes["transport"]["eu_theme"].endswith("/data-theme/TRAN")


def test_clerks_edit_only_their_own_organisation(world: World) -> None:
    world.register(who="clerk")  # the transport clerk registers the transport dataset
    body = dataset_body("signal-timing", world.transport, title_zh="被改写")
    del body["id"]
    r = world.client.put(
        "/catalog/datasets/signal-timing", headers=world.h("other_clerk"), json=body
    )
    assert r.status_code == 403
    assert r.json()["policies"] == ["default-deny"]
    rid = "deny-edit-1"
    r = world.client.put(
        "/catalog/datasets/signal-timing",
        headers=world.h("other_clerk") | {"X-Request-ID": rid},
        json=body,
    )
    with world.runtime.factory() as s:
        rows = world.runtime.ledger.entries(s, -1, 100000)
    denied = [e.data for e in rows if e.data.request_id == rid]
    assert len(denied) == 1 and denied[0].decision == "deny"
    assert denied[0].resource == "Dataset/signal-timing"
    # nor may it register a dataset for another department
    r = _post(world, dataset_body("x-health", world.transport), who="other_clerk")
    assert r.status_code == 403
    # its own department is fine; service accounts and auditors only read
    assert _post(world, dataset_body("beds", world.health), who="other_clerk").status_code == 201
    assert _post(world, dataset_body("svc-1", world.transport), who="service").status_code == 403
    assert _post(world, dataset_body("aud-1", world.transport), who="auditor").status_code == 403
    assert _post(world, dataset_body("op-1", world.health), who="operator").status_code == 201
    got = world.client.get("/catalog/datasets/signal-timing", headers=world.h("other_clerk"))
    assert got.json()["title"]["zh"] == "交通信号灯配时"


def test_reads_need_a_token(world: World) -> None:
    world.register()
    for path in ("/catalog/datasets", "/catalog/datasets/signal-timing", "/catalog/search"):
        assert world.client.get(path).status_code == 401


API_BODY = {
    "id": "signal-plan-api",
    "title_zh": "信号配时查询接口",
    "title_en": "Signal plan query",
    "description_zh": "按路口查询当前配时方案",
    "endpoint": "https://api.transport.example.gov.cn/v1/signal-plans",
    "method": "GET",
    "schema_kind": "json-schema",
    "schema": {"type": "object", "properties": {"junction_id": {"type": "string"}}},
    "rate_limit_per_min": 600,
}


def test_api_registry(world: World) -> None:
    body = dict(API_BODY, owner_code=world.transport)
    r = world.client.post("/catalog/apis", headers=world.h("clerk"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["owner"]["code"] == world.transport
    assert r.json()["rate_limit_per_min"] == 600
    again = world.client.post("/catalog/apis", headers=world.h("clerk"), json=body)
    assert again.status_code == 409
    other = dict(body, id="other-api", owner_code=world.health)
    assert (
        world.client.post("/catalog/apis", headers=world.h("clerk"), json=other).status_code == 403
    )
    for change, field in [
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"rate_limit_per_min": 0}, "rate_limit_per_min"),
        ({"schema": {"type": "thing"}}, "schema.type"),
        ({"schema_kind": "table-schema", "schema": {"fields": []}}, "schema.fields"),
        ({"method": "BREW"}, "method"),
    ]:
        bad = dict(body, id="bad-api", **change)
        r = world.client.post("/catalog/apis", headers=world.h("admin"), json=bad)
        assert (r.status_code, r.json()["field"]) == (422, field), change
    page = world.client.get("/catalog/apis", headers=world.h("service")).json()
    assert [a["id"] for a in page["items"]] == ["signal-plan-api"]
    page = world.client.get(
        "/catalog/apis", params={"org": world.health}, headers=world.h("service")
    ).json()
    assert page["items"] == []


def test_unknown_query_parameter_is_refused(world: World) -> None:
    r = world.client.get("/catalog/search", params={"qq": "交通"}, headers=world.h("admin"))
    assert (r.status_code, r.json()["field"]) == (422, "qq")
