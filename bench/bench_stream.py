"""MQTT stream collection end to end: publish → MqttCollector → SQLite, next to raw paho.

Prints one JSON object. Usage:
    python bench/bench_stream.py [--n 50000] [--host 127.0.0.1] [--port 1883]

``collector``: a separate process publishes ``--n`` readings with QoS 1 on
``<prefix>/<org>/<dataset>/reading``; an ``MqttCollector`` (persistent session, manual acks after
commit) micro-batches them into a sink that upserts each batch into a SQLite table with one
``executemany`` per committed transaction (WAL, synchronous=FULL). The clock runs from the first
publish to the last row committed; ``lost`` = published − distinct rows stored.
``entities``: the same with NGSI-LD readings (one entity per message, 200 stations) into the
entity store through ``EntityStreamSink``: Table Schema and signature checks, one ledger entry
per micro-batch, the entity upserted and one history row per reading (``lost`` counts those).
``raw``: the same publisher, and a bare paho subscriber (QoS 1, automatic acks, the same
Receive Maximum, no parsing, no storage) counting arrivals.
``ratio`` = collector / raw messages per second.
Publisher, broker and consumer share this machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citybrain.hub.stream import MemoryDeadLetterStore, MqttCollector, StreamMessage


def entity_body(i: int, t0: float) -> dict[str, Any]:
    """Message ``i`` of an entity stream: one NGSI-LD reading of one of 200 stations."""
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 86400 + i)) + "Z"
    return {
        "msg_id": f"e{i}",
        "entities": [
            {
                "id": f"urn:ngsi-ld:AirQualityObserved:s{i % 200}",
                "type": "AirQualityObserved",
                "pm25": {"type": "Property", "value": i % 300, "observedAt": at},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [120 + i % 200 / 1000, 30.2]},
                },
            }
        ],
    }


def publish(
    host: str, port: int, prefix: str, n: int, start: Any, out: Any, topic: str = ""
) -> None:
    """Publish ``n`` QoS 1 readings once ``start`` is set; report the publish duration.

    With ``topic`` the messages are NGSI-LD entity readings on that one topic."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    start.wait()
    t0 = time.time()
    infos = []
    for i in range(n):
        if topic:
            infos.append(client.publish(topic, json.dumps(entity_body(i, t0)), qos=1))
            continue
        body = {"msg_id": f"r{i}", "station": f"s{i % 200}", "pm25": i % 300, "ts": t0}
        infos.append(client.publish(f"{prefix}/org{i % 7}/air/reading", json.dumps(body), qos=1))
    for info in infos:
        info.wait_for_publish(120)
    out.put({"t0": t0, "t1": time.time()})
    client.disconnect()
    client.loop_stop()


def run_publisher(
    host: str, port: int, prefix: str, n: int, topic: str = ""
) -> tuple[Any, Any, Any]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=publish, args=(host, port, prefix, n, start, out, topic))
    proc.start()
    return proc, start, out


def raw(host: str, port: int, n: int) -> dict[str, Any]:
    """Bare paho publish → subscribe (QoS 1, auto ack)."""
    prefix = f"cbbench{uuid.uuid4().hex[:8]}"
    count, last = 0, 0.0
    done = threading.Event()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        nonlocal count, last
        count += 1
        last = time.time()
        if count >= n:
            done.set()

    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex}", protocol=mqtt.MQTTv5
    )
    sub.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 20000  # as the collector: Mosquitto's default window is 20
    sub.connect(host, port, properties=props)
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    time.sleep(0.5)
    proc, start, out = run_publisher(host, port, prefix, n)
    time.sleep(1.0)
    start.set()
    pub = out.get(timeout=300)
    done.wait(60)
    proc.join(30)
    sub.disconnect()
    sub.loop_stop()
    elapsed = (last or time.time()) - pub["t0"]
    return {
        "received": count,
        "lost": n - count,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(count / elapsed, 1),
        "publish_msg_per_s": round(n / (pub["t1"] - pub["t0"]), 1),
    }


def collector(host: str, port: int, n: int, db_path: Path) -> dict[str, Any]:
    """Publish → MqttCollector → SQLite upsert per micro-batch."""
    prefix = f"cbbench{uuid.uuid4().hex[:8]}"
    conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE readings (msg_id TEXT PRIMARY KEY, org TEXT, dataset TEXT, kind TEXT,"
        " payload TEXT, received_at TEXT)"
    )
    batches: list[int] = []
    last = 0.0

    def sink(batch: list[StreamMessage]) -> None:
        nonlocal last
        rows = [
            (m.msg_id, m.org, m.dataset, m.kind, m.payload.decode(), m.received_at.isoformat())
            for m in batch
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO UPDATE SET "
            "payload = excluded.payload, received_at = excluded.received_at",
            rows,
        )
        conn.execute("COMMIT")
        batches.append(len(batch))
        last = time.time()

    dead = MemoryDeadLetterStore()
    col = MqttCollector(
        sink,
        client_id=f"bench-col-{uuid.uuid4().hex}",
        dead_letters=dead,
        host=host,
        port=port,
        prefix=prefix,
        max_batch=1000,
        max_delay_ms=20,
        capacity=20000,
    ).start()
    time.sleep(0.5)
    proc, start, out = run_publisher(host, port, prefix, n)
    time.sleep(1.0)
    start.set()
    pub = out.get(timeout=300)
    deadline = time.time() + 60
    while col.batcher.stats.committed + col.batcher.stats.duplicates < n:
        if time.time() > deadline:
            break
        time.sleep(0.01)
    col.wait_idle(10)
    proc.join(30)
    col.stop()
    stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    conn.close()
    elapsed = last - pub["t0"]
    return {
        "stored": stored,
        "lost": n - stored,
        "duplicates_dropped": col.batcher.stats.duplicates,
        "dead_letters": len(dead.records),
        "seconds": round(elapsed, 3),
        "msg_per_s": round(stored / elapsed, 1),
        "publish_msg_per_s": round(n / (pub["t1"] - pub["t0"]), 1),
        "batches": len(batches),
        "mean_batch": round(sum(batches) / max(1, len(batches)), 1),
    }


def entities(host: str, port: int, n: int, tmp: Path) -> dict[str, Any]:
    """Publish NGSI-LD readings → MqttCollector → EntityStreamSink → the entity store (SQLite,
    through the gate: one ledger entry per micro-batch, history row per reading)."""
    from sqlalchemy import func, select

    from citybrain.hub.catalogue.schemas import DatasetIn
    from citybrain.hub.catalogue.service import create_dataset
    from citybrain.hub.entities.models import NgsiEntity, NgsiEntityRevision
    from citybrain.hub.entities.stream_sink import EntityStreamSink
    from citybrain.hub.stream.service import SqlDeadLetterStore
    from citybrain.kernel.config import load_settings
    from citybrain.kernel.gate import Resource, register_action
    from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

    register_action("entity.collect", "collect")
    register_action("catalog.write", "admin")
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp / "data"), plugins=[])
    rt.migrate()
    rt.bootstrap()
    org = rt.settings.city_code
    body = DatasetIn.model_validate({
        "id": "air", "title_zh": "空气质量", "description_zh": "监测站读数", "provider_code": org,
        "theme": "environment", "update_frequency": "PT1M", "grade": "general",
        "sharing": "unconditional", "open_data": True,
        "schema": {"fields": [{"name": "pm25", "type": "number", "constraints": {"minimum": 0}}]},
    })  # fmt: skip
    with rt.gate.system(SYSTEM_ACTOR, org, "catalog.write", Resource("Dataset", "air", org),
                        request_id="bench") as session:  # fmt: skip
        create_dataset(session, body, SYSTEM_ACTOR)
    prefix = f"cbbench{uuid.uuid4().hex[:8]}"
    sink = EntityStreamSink(rt)
    last = 0.0

    def timed(batch: list[StreamMessage]) -> None:
        nonlocal last
        sink(batch)
        last = time.time()

    col = MqttCollector(
        timed,
        client_id=f"bench-ent-{uuid.uuid4().hex}",
        dead_letters=SqlDeadLetterStore(rt.factory),
        validator=sink.validate,
        host=host,
        port=port,
        prefix=prefix,
        max_batch=1000,
        max_delay_ms=20,
        capacity=20000,
    ).start()
    time.sleep(0.5)
    proc, start, out = run_publisher(host, port, prefix, n, f"{prefix}/{org}/air/entities")
    time.sleep(1.0)
    start.set()
    pub = out.get(timeout=600)
    deadline = time.time() + 120
    while col.batcher.stats.committed + col.batcher.stats.dead < n and time.time() < deadline:
        time.sleep(0.05)
    col.wait_idle(30)
    proc.join(30)
    col.stop()
    with rt.reader() as session:
        readings = session.scalar(select(func.count()).select_from(NgsiEntityRevision)) or 0
        stations = session.scalar(select(func.count()).select_from(NgsiEntity)) or 0
    rt.close()
    elapsed = last - pub["t0"]
    return {
        "readings_stored": readings,
        "entities": stations,
        "lost": n - readings,
        "dead_letters": col.batcher.stats.dead,
        "batches": col.batcher.stats.batches,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(readings / elapsed, 1),
        "publish_msg_per_s": round(n / (pub["t1"] - pub["t0"]), 1),
    }


@contextlib.contextmanager
def private_broker(workdir: Path) -> Iterator[int]:
    """A Mosquitto of our own on a free port, configured as production should be: QoS-1
    messages for a busy consumer are queued (``max_queued_messages``), not dropped at 1,000."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 200000\n"
        "max_inflight_messages 0\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument(
        "--shared-broker", action="store_true",
        help="use --host/--port instead of a private Mosquitto (its queue limit may drop)",
    )  # fmt: skip
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        host, port, broker = args.host, args.port, f"{args.host}:{args.port}"
        if not args.shared_broker and shutil.which("mosquitto"):
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            host, port = "127.0.0.1", stack.enter_context(private_broker(workdir))
            broker = "private mosquitto, max_queued_messages 200000"
        with tempfile.TemporaryDirectory() as tmp:
            col = collector(host, port, args.n, Path(tmp) / "bench.db")
        with tempfile.TemporaryDirectory() as tmp:
            ent = entities(host, port, args.n, Path(tmp))
        base = raw(host, port, args.n)
    print(
        json.dumps(
            {
                "bench": "stream_mqtt",
                "broker": broker,
                "n": args.n,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "collector_sqlite": col,
                "entities_sqlite": ent,
                "raw_paho": base,
                "ratio": round(col["msg_per_s"] / base["msg_per_s"], 3),
                "ratio_entities": round(ent["msg_per_s"] / base["msg_per_s"], 3),
                "goal_msg_per_s": 10_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
