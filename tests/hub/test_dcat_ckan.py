"""DCAT-AP 3 JSON-LD export and the CKAN action API subset, with and without a token."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from citybrain.hub.catalogue.dcat import TABLE_SCHEMA_SPEC
from tests.hub.conftest import World, catalogue_app

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"


def _seed(world: World) -> None:
    world.register(id="signal-timing")
    world.register(
        id="patients",
        title_zh="门诊就诊记录",
        title_en="Outpatient visits",
        provider_code=world.health,
        theme="health",
        grade="core",
        sharing="none",
        legal_basis="《中华人民共和国个人信息保护法》",
        open_data=False,
        schema={"fields": [{"name": "patient", "sensitive_pii": True}]},
    )


def _ledgered_as(world: World, rid: str) -> list:
    with world.runtime.factory() as s:
        return [
            e.data for e in world.runtime.ledger.entries(s, -1, 100000) if e.data.request_id == rid
        ]


def test_dcat_shape_and_json_ld(world: World) -> None:
    _seed(world)
    r = world.client.get("/catalog/dcat", headers=world.h("clerk"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    assert doc["@type"] == "dcat:Catalog"
    assert doc["@context"]["dcat"] == DCAT
    by_id = {d["dct:identifier"]: d for d in doc["dcat:dataset"]}
    assert set(by_id) == {"signal-timing", "patients"}
    ds = by_id["signal-timing"]
    assert {"@value": "交通信号灯配时", "@language": "zh"} in ds["dct:title"]
    assert {"@value": "Traffic signal timing", "@language": "en"} in ds["dct:title"]
    assert ds["dct:publisher"]["@type"] == "foaf:Agent"
    assert ds["dct:publisher"]["foaf:name"][0]["@value"] == "机构300"
    assert ds["dcat:theme"][0]["@id"].endswith("/data-theme/TRAN")
    assert {"@value": "信号灯", "@language": "zh"} in ds["dcat:keyword"]
    assert ds["dct:accrualPeriodicity"]["@id"].endswith("/frequency/UPDATE_CONT")
    assert ds["dct:accessRights"]["@id"].endswith("/access-right/PUBLIC")
    assert by_id["patients"]["dct:accessRights"]["@id"].endswith("/access-right/NON_PUBLIC")
    assert ds["dct:conformsTo"]["@id"] == TABLE_SCHEMA_SPEC
    assert ds["dcat:distribution"][0]["@type"] == "dcat:Distribution"

    jsonld = pytest.importorskip("pyld.jsonld")
    expanded = jsonld.expand(doc)
    catalog = expanded[0]
    assert catalog["@type"] == [DCAT + "Catalog"]
    datasets = catalog[DCAT + "dataset"]
    assert all(d["@type"] == [DCAT + "Dataset"] for d in datasets)
    titles = {(t["@value"], t["@language"]) for d in datasets for t in d[DCT + "title"]}
    assert ("交通信号灯配时", "zh") in titles
    assert jsonld.to_rdf(doc, {"format": "application/n-quads"})  # becomes RDF


def test_dcat_without_token_lists_open_data_only_and_is_ledgered(world: World) -> None:
    _seed(world)
    r = world.client.get("/catalog/dcat", headers={"X-Request-ID": "anon-dcat"})
    assert r.status_code == 200
    ids = [d["dct:identifier"] for d in r.json()["dcat:dataset"]]
    assert ids == ["signal-timing"]
    entries = _ledgered_as(world, "anon-dcat")
    assert [(e.actor, e.decision, e.action) for e in entries] == [
        ("public:anonymous", "allow", "access")
    ]
    assert entries[0].policy_ids == ("catalogue-open-public@v1",)
    bad = world.client.get("/catalog/dcat", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_ckan_package_search_shapes(world: World) -> None:
    _seed(world)
    r = world.client.get(
        "/api/3/action/package_search", params={"q": "交通", "rows": 5}, headers=world.h("clerk")
    )
    body = r.json()
    assert r.status_code == 200 and body["success"] is True
    assert body["help"].endswith("help_show?name=package_search")
    result = body["result"]
    assert result["count"] == 1
    pkg = result["results"][0]
    for key in ("id", "name", "title", "notes", "organization", "tags", "resources", "extras"):
        assert key in pkg, key
    assert pkg["name"] == "signal-timing"
    assert pkg["title"] == "交通信号灯配时"
    assert pkg["organization"]["name"] == world.transport.lower()
    assert {t["name"] for t in pkg["tags"]} == {"信号灯", "配时", "signal", "timing"}
    assert pkg["resources"][0]["url"].endswith("/catalog/datasets/signal-timing")
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["title_en"] == "Traffic signal timing"
    assert extras["sharing"] == "unconditional"
    everything = world.client.post(
        "/api/3/action/package_search", json={"q": "*:*", "rows": 1}, headers=world.h("clerk")
    ).json()["result"]
    assert everything["count"] == 2 and len(everything["results"]) == 1
    page2 = world.client.post(
        "/api/3/action/package_search", json={"rows": 1, "start": 1}, headers=world.h("clerk")
    ).json()["result"]
    assert page2["results"][0]["name"] != everything["results"][0]["name"]
    org = world.health.lower()
    fq = world.client.get(
        "/api/3/action/package_search",
        params={"fq": f"organization:{org}"},
        headers=world.h("clerk"),
    ).json()["result"]
    assert [p["name"] for p in fq["results"]] == ["patients"]


def test_ckan_without_token_sees_open_data(world: World) -> None:
    _seed(world)
    found = world.client.get("/api/3/action/package_search").json()["result"]
    assert [p["name"] for p in found["results"]] == ["signal-timing"]
    shown = world.client.get("/api/3/action/package_show", params={"id": "signal-timing"}).json()
    assert shown["success"] is True and shown["result"]["name"] == "signal-timing"
    r = world.client.get(
        "/api/3/action/package_show",
        params={"id": "patients"},
        headers={"X-Request-ID": "anon-closed"},
    )
    assert r.status_code == 403
    assert r.json()["success"] is False
    assert r.json()["error"]["__type"] == "Authorization Error"
    assert [e.decision for e in _ledgered_as(world, "anon-closed")] == ["deny"]
    orgs = world.client.get("/api/3/action/organization_list").json()["result"]
    assert orgs == [world.transport.lower()]


def test_ckan_errors_use_the_envelope(world: World) -> None:
    r = world.client.get("/api/3/action/package_show", params={"id": "nope"})
    assert r.status_code == 404
    assert r.json() == {
        "help": r.json()["help"],
        "success": False,
        "error": {"__type": "Not Found Error", "message": r.json()["error"]["message"]},
    }
    r = world.client.get("/api/3/action/package_search", params={"rows": "many"})
    assert (r.status_code, r.json()["error"]["__type"]) == (409, "Validation Error")
    assert "rows" in r.json()["error"]
    r = world.client.get("/api/3/action/package_search", params={"fq": "tags:x"})
    assert r.json()["error"]["fq"]
    r = world.client.post(
        "/api/3/action/package_search", content=b"{", headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["success"]) == (400, False)
    r = world.client.get("/api/3/action/package_search", params={"bogus": 1})
    assert (r.status_code, r.json()["error"]["__type"]) == (409, "Validation Error")
    r = world.client.get("/api/3/action/package_search", headers={"Authorization": "Bearer x"})
    assert (r.status_code, r.json()["error"]["__type"]) == (401, "Authorization Error")


def test_ckan_organization_list_all_fields(world: World) -> None:
    _seed(world)
    orgs = world.client.post(
        "/api/3/action/organization_list", json={"all_fields": True}, headers=world.h("service")
    ).json()["result"]
    assert [o["name"] for o in orgs] == sorted([world.transport.lower(), world.health.lower()])
    assert all(o["package_count"] == 1 and o["is_organization"] for o in orgs)
    assert {o["title"] for o in orgs} == {"机构300", "机构301"}


@pytest.fixture
def live_url(world: World) -> Iterator[str]:
    """The catalogue app served over real HTTP on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(catalogue_app(world.runtime), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def test_ckanapi_reads_the_catalogue(world: World, live_url: str) -> None:
    ckanapi = pytest.importorskip("ckanapi")
    _seed(world)
    anon = ckanapi.RemoteCKAN(live_url, user_agent="citybrain-test")
    assert [p["name"] for p in anon.action.package_search(q="信号")["results"]] == ["signal-timing"]
    with pytest.raises(ckanapi.NotFound):
        anon.action.package_show(id="nope")
    with pytest.raises(ckanapi.NotAuthorized):
        anon.action.package_show(id="patients")
    clerk = ckanapi.RemoteCKAN(live_url, apikey=world.tokens["service"], user_agent="t")
    assert clerk.action.package_show(id="patients")["organization"]["title"] == "机构301"
    assert len(clerk.action.organization_list(all_fields=True)) == 2
    assert clerk.action.package_search(rows=5)["count"] == 2  # the key sees everything
