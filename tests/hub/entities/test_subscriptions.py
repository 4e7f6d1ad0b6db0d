"""NGSI-LD subscriptions through the app, with real receivers: a local HTTP server on a free
port and a subscriber on the real Mosquitto (127.0.0.1:1883). CRUD, validation naming the
field, one notification per matching write batch in the subscription's format, throttling,
MQTT, failures on the subscription's record, one ledger entry per notification, the gate."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from citybrain.api.app import create_app
from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import subscriptions_api
from citybrain.hub.entities.models import NgsiSubscription
from citybrain.hub.entities.problems import BadRequestData
from citybrain.hub.entities.subscriptions import (
    Notifier,
    check_endpoint,
    compact_subscription,
    entity_matches,
)
from citybrain.kernel.http import GOVERNED_PROBLEMS, STRICT_QUERY
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.models import LedgerEntry
from tests.helpers import bearer, make_org, make_user
from tests.hub.entities.conftest import CORE, LD, station

BASE = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
AQO = "AirQualityObserved"
TERMS = ldctx.ContextResolver().terms([ldctx.CORE_CONTEXT_URL])


class Receiver:
    """A local HTTP endpoint that records every POST (headers and JSON body)."""

    def __init__(self, status: int = 200) -> None:
        self.got: list[tuple[str, dict[str, str], Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                owner.got.append((self.path, dict(self.headers.items()), json.loads(raw)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """The endpoint URI of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[Any]:
        """Notifications received on ``path``."""
        return [body for p, _, body in self.got if p == path]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@dataclass
class Hub:
    """The app with the subscription router, its notifier, accounts and a receiver."""

    runtime: Runtime
    client: TestClient
    notifier: Any
    receiver: Receiver
    env: str
    health: str
    tokens: dict[str, str]
    made: list[str] = field(default_factory=list)

    def h(self, who: str, **extra: str) -> dict[str, str]:
        """Authorization header of ``who`` plus ``extra`` headers."""
        return {**bearer(self.tokens[who]), **extra}

    def subscribe(self, who: str = "clerk", **body: Any) -> str:
        """Create a subscription (201 expected); returns its id."""
        doc = {"type": "Subscription", "entities": [{"type": AQO}], **body}
        r = self.client.post(f"{BASE}/subscriptions", headers=self.h(who), json=doc)
        assert r.status_code == 201, r.text
        return r.headers["location"].rsplit("/", 1)[1]

    def upsert(self, entities: list[dict[str, Any]], who: str = "clerk") -> None:
        """Batch upsert into the shared store (the API tells the notifier)."""
        r = self.client.post(f"{BASE}/entityOperations/upsert", headers=self.h(who), json=entities)
        assert r.status_code in (201, 204), r.text

    def patch(self, eid: str, attrs: dict[str, Any]) -> None:
        """PATCH .../attrs in the shared store (the API tells the notifier)."""
        r = self.client.patch(f"{BASE}/entities/{eid}/attrs", headers=self.h("clerk"), json=attrs)
        assert r.status_code == 204, r.text

    def get(self, sid: str, who: str = "clerk") -> dict[str, Any]:
        """GET a subscription (200 expected)."""
        r = self.client.get(f"{BASE}/subscriptions/{sid}", headers=self.h(who))
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def notification_entries(self) -> list[LedgerEntry]:
        """Ledger entries of notifications."""
        with self.runtime.reader() as session:
            stmt = select(LedgerEntry).where(LedgerEntry.request_id.like("urn:ngsi-ld:Notif%"))
            return list(session.scalars(stmt))


def endpoint(uri: str, **extra: Any) -> dict[str, Any]:
    """A notification member for ``uri``."""
    return {"endpoint": {"uri": uri, **extra.pop("ep", {})}, **extra}


@pytest.fixture
def hub(runtime: Runtime) -> Iterator[Hub]:
    """The app (subscription router mounted if the assembly does not yet), a started notifier,
    two departments with clerks, an operator and a local HTTP receiver."""
    subscriptions_api.register_gate_actions()
    app = create_app(runtime)
    if not any(getattr(r, "path", "") == f"{BASE}/subscriptions" for r in app.routes):
        app.include_router(
            subscriptions_api.router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY
        )
    root = runtime.settings.city_code
    env, health = make_org(runtime, 410), make_org(runtime, 411)
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["clerk"] = make_user(runtime, "envclerk", env, "clerk")
    tokens["other"] = make_user(runtime, "nurse", health, "clerk")
    receiver = Receiver()
    with TestClient(app) as client:
        mine = getattr(app.state, "ngsi_notifier", None) is None
        if mine:
            app.state.ngsi_notifier = Notifier(runtime, timeout_s=2.0)
            app.state.ngsi_notifier.start()
        try:
            yield Hub(runtime, client, app.state.ngsi_notifier, receiver, env, health, tokens)
        finally:
            if mine:
                app.state.ngsi_notifier.stop()
            receiver.close()


def test_create_get_list_patch_delete(hub: Hub) -> None:
    sid = hub.subscribe(
        id="urn:ngsi-ld:Subscription:air",
        subscriptionName="air quality",
        watchedAttributes=["pm25"],
        q="pm25>50",
        notification=endpoint(hub.receiver.url("/a"), attributes=["pm25"]),
        throttling=2,
    )
    assert sid == "urn:ngsi-ld:Subscription:air"
    got = hub.get(sid)
    assert got["entities"] == [{"type": AQO}] and got["watchedAttributes"] == ["pm25"]
    assert got["q"] == "pm25>50" and got["throttling"] == 2 and got["status"] == "active"
    note = got["notification"]
    assert note["format"] == "normalized" and note["attributes"] == ["pm25"]
    assert note["endpoint"] == {"uri": hub.receiver.url("/a"), "accept": "application/json"}
    assert note["timesSent"] == 0 and "lastNotification" not in note

    again = {
        "id": sid,
        "type": "Subscription",
        "entities": [{"type": AQO}],
        "notification": endpoint(hub.receiver.url("/a")),
    }
    r = hub.client.post(f"{BASE}/subscriptions", headers=hub.h("clerk"), json=again)
    assert r.status_code == 409 and r.json()["type"] == ERR + "AlreadyExists"

    other = hub.subscribe(notification=endpoint(hub.receiver.url("/b")))
    assert other.startswith("urn:ngsi-ld:Subscription:")
    r = hub.client.get(f"{BASE}/subscriptions?limit=1&count=true", headers=hub.h("clerk"))
    assert r.status_code == 200 and len(r.json()) == 1
    assert r.headers["ngsild-results-count"] == "2" and CORE in r.headers["link"]

    patch = {"q": "pm25>80", "isActive": False, "notification": {"format": "keyValues"}}
    r = hub.client.patch(f"{BASE}/subscriptions/{sid}", headers=hub.h("clerk"), json=patch)
    assert r.status_code == 204, r.text
    got = hub.get(sid)
    assert got["q"] == "pm25>80" and got["status"] == "paused" and got["isActive"] is False
    assert got["notification"]["format"] == "keyValues"
    assert got["notification"]["endpoint"]["uri"] == hub.receiver.url("/a")  # merged, kept
    ld = hub.client.get(f"{BASE}/subscriptions/{sid}", headers=hub.h("clerk", Accept=LD))
    assert ld.headers["content-type"].startswith(LD) and ld.json()["@context"] == CORE

    secret = hub.subscribe(notification=endpoint("mqtt://gw:s3cret@127.0.0.1:1883/city/air"))
    shown = hub.get(secret)["notification"]["endpoint"]["uri"]
    assert shown == "mqtt://gw:***@127.0.0.1:1883/city/air"
    r = hub.client.patch(
        f"{BASE}/subscriptions/{secret}", headers=hub.h("clerk"), json={"q": "a>1"}
    )
    assert r.status_code == 204, r.text
    with hub.runtime.reader() as session:
        stmt = select(NgsiSubscription.doc).where(NgsiSubscription.sub_id == secret)
        stored = session.scalar(stmt)
    assert stored["notification"]["endpoint"]["uri"].startswith("mqtt://gw:s3cret@")

    r = hub.client.delete(f"{BASE}/subscriptions/{sid}", headers=hub.h("clerk"))
    assert r.status_code == 204
    r = hub.client.get(f"{BASE}/subscriptions/{sid}", headers=hub.h("clerk"))
    assert r.status_code == 404 and r.json()["type"] == ERR + "ResourceNotFound"


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        ({"notification": None}, 400, "notification"),
        ({"notification": endpoint("ftp://127.0.0.1/x")}, 400, "notification.endpoint.uri"),
        (
            {"notification": endpoint("http://169.254.169.254/latest")},
            400,
            "notification.endpoint.uri",
        ),
        ({"notification": endpoint("mqtt://127.0.0.1:1883/a/#")}, 400, "notification.endpoint.uri"),
        ({"q": "pm25>>3"}, 400, "q"),
        ({"entities": None}, 400, "entities"),
        (
            {
                "geoQ": {
                    "georel": "near;maxDistance==10",
                    "geometry": "Point",
                    "coordinates": "[120.1,30.2]",
                }
            },
            400,
            "geoQ.coordinates",
        ),
        (
            {"notification": endpoint("http://127.0.0.1:9/x", format="xml")},
            400,
            "notification.format",
        ),
        ({"expiresAt": "2001-01-01T00:00:00Z"}, 400, "expiresAt"),
        ({"throttling": -1}, 400, "throttling"),
        ({"timeInterval": 60}, 422, "timeInterval"),
    ],
)
def test_validation_names_the_field(
    hub: Hub, change: dict[str, Any], status: int, where: str
) -> None:
    doc: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": AQO}],
        "notification": endpoint(hub.receiver.url("/a")),
    }
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    r = hub.client.post(f"{BASE}/subscriptions", headers=hub.h("clerk"), json=doc)
    assert r.status_code == status, r.text
    assert r.json()["field"] == where, r.json()


def test_endpoint_guard() -> None:
    assert check_endpoint("mqtts://broker.example:8883/city/air", ["broker.example"]).port == 8883
    with pytest.raises(BadRequestData):
        check_endpoint("http://evil.example/x", ["broker.example"])
    with pytest.raises(BadRequestData):
        check_endpoint("http://[fe80::1]/x", [])
    with pytest.raises(BadRequestData):
        check_endpoint("http://169.254.10.1:8080/x", ["*"])
    assert check_endpoint("http://127.0.0.1:8080/x", []).hostname == "127.0.0.1"


def test_matching_rules() -> None:
    pm25 = TERMS.expand_term("pm25")
    doc = {
        "entities": [{"type": TERMS.expand_type(AQO), "idPattern": "^urn:ngsi-ld:AQO?"}],
        "watchedAttributes": [pm25],
        "q": "pm25>50",
    }
    row = {
        "id": "urn:ngsi-ld:AQ:1",
        "type": TERMS.expand_type(AQO),
        "attrs": {pm25: {"type": "Property", "value": 60}},
    }
    assert entity_matches(doc, row, TERMS.expand_term, {pm25})
    assert not entity_matches(doc, row, TERMS.expand_term, {TERMS.expand_term("name")})
    assert entity_matches(doc, row, TERMS.expand_term, None)
    low = {**row, "attrs": {pm25: {"type": "Property", "value": 40}}}
    assert not entity_matches(doc, low, TERMS.expand_term, {pm25})
    assert not entity_matches(doc, {**row, "id": "urn:x:1"}, TERMS.expand_term, {pm25})
    later = datetime(2031, 1, 1, tzinfo=UTC)
    sub = {
        "id": "urn:x",
        "notification": {"format": "normalized"},
        "isActive": True,
        "expiresAt": "2030-01-01T00:00:00Z",
    }
    assert compact_subscription(sub, TERMS, now=later)["status"] == "expired"
    assert compact_subscription({**sub, "isActive": False}, TERMS)["status"] == "paused"


def test_one_notification_per_batch_in_each_format(hub: Hub) -> None:
    url = hub.receiver.url
    a = hub.subscribe(notification=endpoint(url("/norm")))
    b = hub.subscribe(
        q="pm25>50", notification=endpoint(url("/kv"), format="keyValues", attributes=["pm25"])
    )
    hub.subscribe(entities=[{"type": "OffStreetParking"}], notification=endpoint(url("/other")))
    hub.subscribe(q="pm25>500", notification=endpoint(url("/never")))
    d = hub.subscribe(notification=endpoint(url("/ld"), ep={"accept": LD}))
    before = len(hub.notification_entries())
    hub.upsert([station(1, 35.0), station(2, 60.0), station(3, 70.0)])
    wait_for(
        lambda: (
            hub.receiver.bodies("/norm")
            and hub.receiver.bodies("/kv")
            and hub.receiver.bodies("/ld")
        )
    )
    wait_for(hub.notifier.idle)
    time.sleep(0.3)
    assert len(hub.receiver.bodies("/norm")) == 1 and len(hub.receiver.bodies("/kv")) == 1
    assert hub.receiver.bodies("/other") == [] and hub.receiver.bodies("/never") == []

    norm = hub.receiver.bodies("/norm")[0]
    assert norm["type"] == "Notification" and norm["subscriptionId"] == a
    assert norm["id"].startswith("urn:ngsi-ld:Notification:") and norm["notifiedAt"].endswith("Z")
    by_id = {e["id"]: e for e in norm["data"]}
    assert set(by_id) == {f"urn:ngsi-ld:{AQO}:{n}" for n in (1, 2, 3)}
    assert by_id[f"urn:ngsi-ld:{AQO}:2"]["pm25"]["value"] == 60.0
    assert (
        by_id[f"urn:ngsi-ld:{AQO}:2"]["type"] == AQO and "location" in by_id[f"urn:ngsi-ld:{AQO}:2"]
    )
    headers = next(h for p, h, _ in hub.receiver.got if p == "/norm")
    assert headers["Content-Type"] == "application/json" and CORE in headers["Link"]

    kv = hub.receiver.bodies("/kv")[0]
    assert kv["subscriptionId"] == b
    assert sorted(kv["data"], key=lambda e: e["id"]) == [
        {"id": f"urn:ngsi-ld:{AQO}:2", "type": AQO, "pm25": 60.0},
        {"id": f"urn:ngsi-ld:{AQO}:3", "type": AQO, "pm25": 70.0},
    ]
    ld_headers, ld = next((h, body) for p, h, body in hub.receiver.got if p == "/ld")
    assert ld_headers["Content-Type"] == LD and ld["@context"] == CORE and "Link" not in ld_headers
    assert ld["subscriptionId"] == d and len(ld["data"]) == 3

    entries = hub.notification_entries()
    assert len(entries) == before + 3  # one per notification sent
    sent = {body["id"] for _, _, body in hub.receiver.got}
    assert {e.request_id for e in entries} == sent
    assert all(e.actor == "envclerk" and e.organisation == hub.env for e in entries)
    assert {e.resource for e in entries} == {f"Subscription/{s}" for s in (a, b, d)}
    record = hub.get(a)["notification"]
    assert record["timesSent"] == 1 and record["status"] == "ok"
    assert record["lastSuccess"] and record["lastNotification"]


def test_watched_attributes_only_fire_when_written(hub: Hub) -> None:
    hub.upsert([station(7, 20.0)])
    wait_for(hub.notifier.idle)
    hub.subscribe(watchedAttributes=["pm25"], notification=endpoint(hub.receiver.url("/w")))
    hub.patch(f"urn:ngsi-ld:{AQO}:7", {"name": {"type": "Property", "value": "renamed"}})
    wait_for(hub.notifier.idle)
    time.sleep(0.3)
    assert hub.receiver.bodies("/w") == []
    hub.patch(f"urn:ngsi-ld:{AQO}:7", {"pm25": {"type": "Property", "value": 99.0}})
    body = wait_for(lambda: hub.receiver.bodies("/w"))[0]
    assert body["data"][0]["pm25"]["value"] == 99.0


def test_throttling_holds_and_delivers_the_latest_state(hub: Hub) -> None:
    hub.upsert([station(5, 1.0)])
    wait_for(hub.notifier.idle)
    hub.subscribe(throttling=1, notification=endpoint(hub.receiver.url("/t"), format="keyValues"))
    for value in (10.0, 20.0, 30.0, 40.0, 50.0):
        hub.patch(f"urn:ngsi-ld:{AQO}:5", {"pm25": {"type": "Property", "value": value}})
    wait_for(lambda: any(b["data"][0]["pm25"] == 50.0 for b in hub.receiver.bodies("/t")))
    wait_for(hub.notifier.idle, timeout=5)
    got = hub.receiver.bodies("/t")
    assert 1 <= len(got) <= 2 and got[-1]["data"][0]["pm25"] == 50.0
    times = [p for p, _, _ in hub.receiver.got if p == "/t"]
    assert len(times) == len(got)


def test_mqtt_notification_on_the_topic(hub: Hub) -> None:
    topic = f"citybrain-test/{uuid.uuid4().hex[:8]}/air"
    received: list[mqtt.MQTTMessage] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    sub.on_connect = lambda c, *_: (c.subscribe(topic, qos=1), None)[1]
    sub.on_subscribe = lambda *_: ready.set()
    sub.on_message = lambda _c, _u, msg: received.append(msg)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    try:
        assert ready.wait(5)
        sid = hub.subscribe(
            notification=endpoint(
                f"mqtt://127.0.0.1:1883/{topic}",
                ep={"notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]},
            )
        )
        hub.upsert([station(9, 42.0)])
        msg = wait_for(lambda: received)[0]
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert msg.topic == topic and msg.qos == 1
    payload = json.loads(msg.payload)
    assert payload["metadata"]["Content-Type"] == "application/json"
    assert CORE in payload["metadata"]["Link"]
    body = payload["body"]
    assert body["type"] == "Notification" and body["subscriptionId"] == sid
    assert body["data"][0]["id"] == f"urn:ngsi-ld:{AQO}:9"
    assert body["data"][0]["pm25"]["value"] == 42.0
    assert body["id"] in {e.request_id for e in hub.notification_entries()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failures_are_recorded(hub: Hub) -> None:
    down = hub.subscribe(notification=endpoint(f"http://127.0.0.1:{_free_port()}/gone"))
    refused = Receiver(status=500)
    try:
        err = hub.subscribe(notification=endpoint(refused.url("/x")))
        hub.upsert([station(11, 80.0)])
        wait_for(lambda: hub.get(down)["notification"].get("timesFailed"))
        wait_for(lambda: hub.get(err)["notification"].get("timesFailed"))
    finally:
        refused.close()
    note = hub.get(down)["notification"]
    assert note["timesFailed"] == 1 and note["timesSent"] == 1 and note["status"] == "failed"
    assert note["lastFailure"] and "lastSuccess" not in note
    assert "Connect" in note["lastFailureReason"]
    assert hub.get(err)["notification"]["lastFailureReason"] == "HTTP 500"


def test_queue_overflow_collapses_to_a_rescan(hub: Hub) -> None:
    small = Notifier(hub.runtime, max_queue=2)
    small.start()
    try:
        hub.subscribe(notification=endpoint(hub.receiver.url("/o")))
        hub.client.post(
            f"{BASE}/entityOperations/upsert",
            headers=hub.h("clerk"),
            json=[station(n, 10.0 + n) for n in range(20, 25)],
        )
        small.changed("", [f"urn:ngsi-ld:{AQO}:{n}" for n in range(20, 25)], None)
        assert small.stats["dropped"] == 3
        body = wait_for(lambda: [b for b in hub.receiver.bodies("/o") if len(b["data"]) >= 5])
    finally:
        small.stop()
    ids = {e["id"] for e in body[0]["data"]}
    assert {f"urn:ngsi-ld:{AQO}:{n}" for n in range(20, 25)} <= ids


def test_gate_scopes_subscriptions_to_the_organisation(hub: Hub) -> None:
    sid = hub.subscribe(notification=endpoint(hub.receiver.url("/g")))
    hub.subscribe("other", notification=endpoint(hub.receiver.url("/h")))
    r = hub.client.get(f"{BASE}/subscriptions/{sid}", headers=hub.h("other"))
    assert r.status_code == 403
    r = hub.client.delete(f"{BASE}/subscriptions/{sid}", headers=hub.h("other"))
    assert r.status_code == 403
    r = hub.client.patch(
        f"{BASE}/subscriptions/{sid}", headers=hub.h("other"), json={"q": "pm25>1"}
    )
    assert r.status_code == 403
    mine = hub.client.get(f"{BASE}/subscriptions", headers=hub.h("other")).json()
    assert [s["id"] for s in mine] != [] and sid not in {s["id"] for s in mine}
    everyone = hub.client.get(f"{BASE}/subscriptions", headers=hub.h("operator")).json()
    assert sid in {s["id"] for s in everyone} and len(everyone) == 2
    # a subscription on a tenant the caller may not read is refused (and ledgered)
    doc = {
        "type": "Subscription",
        "entities": [{"type": AQO}],
        "notification": endpoint(hub.receiver.url("/x")),
    }
    r = hub.client.post(
        f"{BASE}/subscriptions", json=doc, headers=hub.h("clerk", **{"NGSILD-Tenant": hub.health})
    )
    assert r.status_code == 403
    with hub.runtime.reader() as session:
        denied = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.decision == "deny")
        )
    assert denied >= 4
