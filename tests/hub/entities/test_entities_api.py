"""The NGSI-LD entity API through the app: CRUD, queries, representations, errors as the
spec's problem types, tenants, the gate and the ledger (one entry per call or batch)."""

from __future__ import annotations

import json

from tests.hub.entities.conftest import CORE, LD, City, station

BASE = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def test_create_retrieve_in_three_representations(city: City) -> None:
    before = city.ledger_size()
    r = city.create("clerk", station(1))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1"
    assert city.ledger_size() == before + 1

    r = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("clerk")
    )
    assert r.status_code == 200, r.text
    assert CORE in r.headers["link"] and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "AirQualityObserved"
    assert body["pm25"] == {
        "type": "Property",
        "value": 35.0,
        "unitCode": "GQ",
        "observedAt": "2026-11-25T08:00:00Z",
    }
    assert body["location"]["value"] == {"type": "Point", "coordinates": [120.15, 30.28]}

    kv = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1?options=keyValues",
        headers=city.h("clerk"),
    ).json()
    assert kv["pm25"] == 35.0 and kv["name"] == "站点1"

    ld = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("clerk", Accept=LD)
    )
    assert ld.headers["content-type"].startswith(LD) and "@context" in ld.json()
    assert "link" not in ld.headers
    assert city.ledger_size() == before + 4  # each read is ledgered too


def test_concise_input_and_sys_attrs(city: City) -> None:
    doc = {
        "id": "urn:ngsi-ld:OffStreetParking:p1",
        "type": "OffStreetParking",
        "availableSpotNumber": 120,
        "location": {"type": "Point", "coordinates": [120.2, 30.3]},
    }
    assert city.create("clerk", doc).status_code == 201
    body = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:p1?options=sysAttrs", headers=city.h("clerk")
    ).json()
    assert body["availableSpotNumber"]["type"] == "Property"
    assert body["availableSpotNumber"]["value"] == 120
    assert body["location"]["type"] == "GeoProperty"
    assert body["createdAt"].endswith("Z") and body["modifiedAt"].endswith("Z")


def test_duplicate_is_already_exists(city: City) -> None:
    assert city.create("clerk", station(2)).status_code == 201
    r = city.create("clerk", station(2))
    assert r.status_code == 409
    assert r.json()["type"] == ERR + "AlreadyExists" and r.json()["title"] == "Already exists"
    zh = city.create("clerk", station(2), **{"Accept-Language": "zh-CN"})
    assert zh.json()["title"] == "资源已存在"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bad_input_names_what_is_wrong_and_stores_nothing(city: City) -> None:
    h = city.h("clerk")
    r = city.client.post(
        f"{BASE}/entities",
        headers={**h, "Content-Type": "application/json"},
        content=b'{"id": "urn:x", ',
    )
    assert r.status_code == 400 and r.json()["type"] == ERR + "InvalidRequest"
    r = city.client.post(
        f"{BASE}/entities", headers={**h, "Content-Type": "text/plain"}, content=b"hello"
    )
    assert r.status_code == 415
    bad_geo = station(
        3, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 30]}}
    )
    r = city.create("clerk", bad_geo)
    assert r.status_code == 400 and r.json()["type"] == ERR + "BadRequestData"
    assert "location" in r.json()["field"]
    no_id = station(4)
    del no_id["id"]
    r = city.create("clerk", no_id)
    assert r.status_code == 400 and r.json()["field"] == "id"
    big = station(5, blob={"type": "Property", "value": "x" * (5 * 1024 * 1024)})
    r = city.create("clerk", big)
    assert r.status_code == 413
    r = city.client.get(f"{BASE}/entities?type=AirQualityObserved&q=pm25>>3", headers=h)
    assert r.status_code == 400 and r.json()["field"] == "q"
    r = city.client.get(f"{BASE}/entities?type=AirQualityObserved", headers=h)
    assert r.json() == []  # nothing of the refused requests was stored


def test_queries_type_q_idpattern_attrs_count(city: City) -> None:
    for n, pm in enumerate([10, 40, 80, 120], start=1):
        assert city.create("clerk", station(n, pm25=pm)).status_code == 201
    get = lambda qs: city.client.get(f"{BASE}/entities?{qs}", headers=city.h("clerk"))  # noqa: E731
    ids = lambda r: sorted(e["id"].rsplit(":", 1)[1] for e in r.json())  # noqa: E731
    assert ids(get("type=AirQualityObserved&q=pm25>50")) == ["3", "4"]
    assert ids(get("type=AirQualityObserved&q=pm25==10..40")) == ["1", "2"]
    assert ids(get("type=AirQualityObserved&q=pm25==10,120")) == ["1", "4"]
    assert ids(get('type=AirQualityObserved&q=name=="站点2"')) == ["2"]
    assert ids(get("type=AirQualityObserved&q=pm25<50;pm25>15")) == ["2"]
    assert ids(get("type=AirQualityObserved&q=pm25<15|pm25>100")) == ["1", "4"]
    assert ids(get("idPattern=.*:[23]$")) == ["2", "3"]
    only = get("type=AirQualityObserved&attrs=pm25&limit=1").json()
    assert len(only) == 1 and set(only[0]) == {"id", "type", "pm25"}
    r = get("type=AirQualityObserved&count=true&limit=2&offset=1")
    assert r.headers["ngsild-results-count"] == "4" and len(r.json()) == 2
    assert get("").status_code == 400  # no filter at all


def test_geo_queries(city: City) -> None:
    city.create("clerk", station(1, lon=120.1500, lat=30.2800))
    city.create("clerk", station(2, lon=120.1600, lat=30.2800))  # ~960 m east
    city.create("clerk", station(3, lon=120.3000, lat=30.2000))  # far away
    near = city.client.get(
        f"{BASE}/entities?type=AirQualityObserved&georel=near;maxDistance==1500"
        "&geometry=Point&coordinates=[120.15,30.28]",
        headers=city.h("clerk"),
    ).json()
    assert sorted(e["id"][-1] for e in near) == ["1", "2"]
    poly = json.dumps(
        [[[120.14, 30.27], [120.155, 30.27], [120.155, 30.29], [120.14, 30.29], [120.14, 30.27]]]
    )
    within = city.client.get(
        f"{BASE}/entities?type=AirQualityObserved&georel=within&geometry=Polygon"
        f"&coordinates={poly}",
        headers=city.h("clerk"),
    ).json()
    assert [e["id"][-1] for e in within] == ["1"]
    geojson = city.client.get(
        f"{BASE}/entities?type=AirQualityObserved",
        headers=city.h("clerk", Accept="application/geo+json"),
    )
    assert geojson.headers["content-type"].startswith("application/geo+json")
    fc = geojson.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    assert fc["features"][0]["geometry"]["type"] == "Point"
    r = city.client.get(
        f"{BASE}/entities?type=AirQualityObserved&georel=near;maxDistance==10&geometry=Point",
        headers=city.h("clerk"),
    )
    assert r.status_code == 400 and r.json()["field"] == "coordinates"


def test_attribute_operations(city: City) -> None:
    city.create("clerk", station(1))
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1"
    h = city.h("clerk")
    r = city.client.patch(
        f"{url}/attrs",
        headers=h,
        json={
            "pm25": {"type": "Property", "value": 60.0},
            "ghost": {"type": "Property", "value": 1},
        },
    )
    assert r.status_code == 207
    assert r.json()["updated"] == ["pm25"] and r.json()["notUpdated"][0]["attributeName"] == "ghost"
    r = city.client.post(
        f"{url}/attrs?options=noOverwrite",
        headers=h,
        json={"pm25": {"type": "Property", "value": 1.0}, "no2": {"type": "Property", "value": 22}},
    )
    assert r.status_code == 207
    body = city.client.get(url, headers=h).json()
    assert body["pm25"]["value"] == 60.0 and body["no2"]["value"] == 22
    r = city.client.patch(f"{url}/attrs/no2", headers=h, json={"value": 25})
    assert r.status_code == 204
    assert city.client.get(url, headers=h).json()["no2"] == {"type": "Property", "value": 25}
    assert city.client.delete(f"{url}/attrs/no2", headers=h).status_code == 204
    assert "no2" not in city.client.get(url, headers=h).json()
    assert city.client.delete(f"{url}/attrs/no2", headers=h).status_code == 404
    assert city.client.delete(url, headers=h).status_code == 204
    r = city.client.get(url, headers=h)
    assert r.status_code == 404 and r.json()["type"] == ERR + "ResourceNotFound"


def test_batch_operations_and_one_ledger_entry_per_batch(city: City) -> None:
    before = city.ledger_size()
    docs = [station(n) for n in range(100)]
    r = city.client.post(f"{BASE}/entityOperations/create", headers=city.h("service"), json=docs)
    assert r.status_code == 201, r.text
    assert len(r.json()) == 100
    assert city.ledger_size() == before + 1
    again = [station(0), station(500)]
    r = city.client.post(f"{BASE}/entityOperations/create", headers=city.h("service"), json=again)
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:500"]
    assert r.json()["errors"][0]["error"]["type"] == ERR + "AlreadyExists"
    r = city.client.post(
        f"{BASE}/entityOperations/upsert?options=update",
        headers=city.h("service"),
        json=[
            {
                "id": "urn:ngsi-ld:AirQualityObserved:1",
                "type": "AirQualityObserved",
                "pm25": {"type": "Property", "value": 99},
            }
        ],
    )
    assert r.status_code == 204
    kept = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("clerk")
    ).json()
    assert kept["pm25"]["value"] == 99 and "location" in kept  # merged, not replaced
    bad = [station(600), station(601, no2={"type": "Property"})]
    r = city.client.post(f"{BASE}/entityOperations/upsert", headers=city.h("service"), json=bad)
    assert r.status_code == 400 and r.json()["field"].startswith("[1]")
    missing = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:600", headers=city.h("clerk")
    )
    assert missing.status_code == 404  # the whole batch was refused
    r = city.client.post(
        f"{BASE}/entityOperations/delete",
        headers=city.h("service"),
        json=["urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:Nope:1"],
    )
    assert r.status_code == 207 and r.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:1"]


def test_types_and_attributes(city: City) -> None:
    city.create("clerk", station(1))
    city.create(
        "clerk",
        {
            "id": "urn:ngsi-ld:OffStreetParking:1",
            "type": "OffStreetParking",
            "availableSpotNumber": {"type": "Property", "value": 3},
        },
    )
    types = city.client.get(f"{BASE}/types", headers=city.h("clerk")).json()
    assert types["typeList"] == ["AirQualityObserved", "OffStreetParking"]
    info = city.client.get(f"{BASE}/types/AirQualityObserved", headers=city.h("clerk")).json()
    assert info["entityCount"] == 1
    assert {a["attributeName"] for a in info["attributeDetails"]} >= {"pm25", "location"}
    attrs = city.client.get(f"{BASE}/attributes", headers=city.h("clerk")).json()
    assert "availableSpotNumber" in attrs["attributeList"]
    one = city.client.get(f"{BASE}/attributes/pm25", headers=city.h("clerk")).json()
    assert one["typeNames"] == ["AirQualityObserved"]
    assert city.client.get(f"{BASE}/types/Nope", headers=city.h("clerk")).status_code == 404


def test_temporal_evolution(city: City) -> None:
    city.create("clerk", station(1, pm25=10))
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1/attrs"
    for hour, pm in ((9, 20), (10, 30), (11, 40)):
        r = city.client.patch(
            url,
            headers=city.h("clerk"),
            json={
                "pm25": {
                    "type": "Property",
                    "value": pm,
                    "observedAt": f"2026-11-25T{hour:02d}:00:00Z",
                }
            },
        )
        assert r.status_code == 204
    t = f"{BASE}/temporal/entities/urn:ngsi-ld:AirQualityObserved:1"
    body = city.client.get(f"{t}?attrs=pm25", headers=city.h("clerk")).json()
    assert [i["value"] for i in body["pm25"]] == [10, 20, 30, 40]
    window = city.client.get(
        f"{t}?attrs=pm25&timerel=between&timeAt=2026-11-25T09:00:00Z&endTimeAt=2026-11-25T11:00:00Z",
        headers=city.h("clerk"),
    ).json()
    assert [i["value"] for i in window["pm25"]] == [20, 30]
    simple = city.client.get(
        f"{t}?attrs=pm25&lastN=2&options=temporalValues", headers=city.h("clerk")
    ).json()
    assert simple["pm25"]["values"] == [[30, "2026-11-25T10:00:00Z"], [40, "2026-11-25T11:00:00Z"]]
    r = city.client.get(f"{t}?timerel=between&timeAt=2026-11-25T09:00:00Z", headers=city.h("clerk"))
    assert r.status_code == 400 and r.json()["field"] == "endTimeAt"


def test_tenants_are_organisations(city: City) -> None:
    own = {"NGSILD-Tenant": city.env}
    r = city.create("clerk", station(1), **own)
    assert r.status_code == 201 and r.headers["ngsild-tenant"] == city.env
    # the shared store does not see the tenant's entity
    r = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("clerk")
    )
    assert r.status_code == 404
    r = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("clerk", **own)
    )
    assert r.status_code == 200
    # another department may neither read nor write the environment bureau's tenant
    r = city.client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("other", **own)
    )
    assert r.status_code == 403
    assert city.create("other", station(2), **own).status_code == 403
    # operators and auditors may read it
    assert (
        city.client.get(
            f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1", headers=city.h("auditor", **own)
        ).status_code
        == 200
    )
    r = city.create("clerk", station(3), **{"NGSILD-Tenant": "913301000000000000"})
    assert r.status_code == 404 and r.json()["type"] == ERR + "NonexistentTenant"


def test_providers_answer_for_their_own_entities(city: City) -> None:
    assert city.create("clerk", station(1)).status_code == 201
    r = city.client.patch(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1/attrs",
        headers=city.h("other"),
        json={"pm25": {"type": "Property", "value": 1}},
    )
    assert r.status_code == 403
    assert "entities-no-foreign-overwrite" in json.dumps(r.json())
    r = city.client.post(
        f"{BASE}/entityOperations/upsert", headers=city.h("other"), json=[station(1, pm25=1)]
    )
    assert r.status_code == 403
    r = city.client.patch(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1/attrs",
        headers=city.h("operator"),
        json={"pm25": {"type": "Property", "value": 2}},
    )
    assert r.status_code == 204
    # the auditor reads but does not write; without a token nothing but open data
    assert city.create("auditor", station(9)).status_code == 403
    r = city.client.get(f"{BASE}/entities?type=AirQualityObserved")
    assert r.status_code == 200 and r.json() == []
    assert city.client.post(f"{BASE}/entities", json=station(10)).status_code == 401


def test_every_occurrence_in_a_batch_is_history(city: City) -> None:
    """An id sent three times in one batch: the last is the state, all three are history, and
    the batch path stores times the same way as single writes (windows compare correctly)."""
    versions = [
        station(
            7,
            pm25=float(pm),
            pm10={"type": "Property", "value": pm, "observedAt": f"2026-11-25T0{hour}:00:00Z"},
        )
        for hour, pm in ((1, 11), (2, 22), (3, 33))
    ]
    for doc in versions:
        doc["pm25"]["observedAt"] = doc["pm10"]["observedAt"]
    r = city.client.post(
        f"{BASE}/entityOperations/upsert", headers=city.h("service"), json=versions
    )
    assert r.status_code == 201, r.text
    eid = "urn:ngsi-ld:AirQualityObserved:7"
    state = city.client.get(f"{BASE}/entities/{eid}", headers=city.h("clerk")).json()
    assert state["pm10"]["value"] == 33
    url = f"{BASE}/temporal/entities/{eid}?attrs=pm10"
    body = city.client.get(url, headers=city.h("clerk")).json()
    assert [i["value"] for i in body["pm10"]] == [11, 22, 33]
    after = city.client.get(
        url + "&timerel=after&timeAt=2026-11-25T02:00:00Z", headers=city.h("clerk")
    ).json()
    assert [i["value"] for i in after["pm10"]] == [22, 33]
    city.create("clerk", station(8))  # the single-write path, for comparison
    with city.runtime.reader() as s:
        from sqlalchemy import text

        stored = (
            s.execute(text("SELECT modified_at FROM ngsi_entities ORDER BY id")).scalars().all()
        )
    assert len({len(str(v)) for v in stored}) == 1  # one stored format on either path


def test_anonymous_discovery_sees_open_data_only(city: City) -> None:
    assert city.create("clerk", station(1)).status_code == 201  # no dataset: not open data
    assert city.client.get(f"{BASE}/types").json()["typeList"] == []
    assert city.client.get(f"{BASE}/attributes").json()["attributeList"] == []
    assert city.client.get(f"{BASE}/types/AirQualityObserved").status_code == 404
    signed_in = city.client.get(f"{BASE}/types", headers=city.h("clerk")).json()
    assert signed_in["typeList"] == ["AirQualityObserved"]
    r = city.client.get(f"{BASE}/entities?idPattern=(a%2B)%2B$", headers=city.h("clerk"))
    assert r.status_code == 400 and r.json()["field"] == "idPattern"  # nested repetition
