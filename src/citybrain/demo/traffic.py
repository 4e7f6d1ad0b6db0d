"""The live traffic grid in the demo city: its snapshots as NGSI-LD entities, signed by the
traffic police and sent through the same stream path as the other demo sensors.

The grid (``scenarios/traffic/live.py``) lies in 上城区, its south-west corner at
:data:`ORIGIN`. Four entity types, all in the ``traffic-signals`` dataset:

- ``TrafficSignal`` — one per junction: green phase, signal state, stage, queued vehicles.
- ``TrafficFlowObserved`` — one per incoming lane (Smart Data Models names, as the demo's road
  detectors): vehicles on the lane (``intensity``), queued vehicles, average speed in km/h and
  the 0–10 congestion index computed the same way as those detectors.
- ``CongestionIndex`` — one for the grid: the travel time index (≥ 1; definition in
  ``live.py``), vehicles on the road, junctions under CityBrain's control, simulated time.
- ``EmergencyRun`` — the last ambulance: travel time, expected time, **estimated** time saved,
  signals pre-empted.

Observation times are wall-clock times (the demo's injected clock); the simulated time of day
runs ``speed`` times faster and is carried as ``simulatedTime``. To keep the store small a
snapshot is sent at most every :data:`PUBLISH_EVERY_S` seconds; an ambulance report at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from citybrain.demo.city import ORG_BY_KEY
from citybrain.demo.messages import make_message, msg_id, provider_key
from citybrain.demo.sensors import Entity, iso
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.clock import Clock
from citybrain.scenarios.traffic.live import LiveTraffic

log = logging.getLogger(__name__)

DATASET = "traffic-signals"
PROVIDER = "traffic-police"
ORIGIN = (120.19, 30.235)  # lon/lat of the grid's (0, 0), in 上城区 (330102)
PLACE = "上城区演示路网"
PREFIX = "HZ-TS"
PUBLISH_EVERY_S = 30.0
PER_MESSAGE = 25
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    """A point of the network (metres east and north of its origin) as (lon, lat)."""
    lon0, lat0 = ORIGIN
    lon = lon0 + x / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0)))
    return round(lon, 6), round(lat0 + y / _M_PER_DEG_LAT, 6)


def _prop(value: Any, at: str, unit: str | None = None) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value, "observedAt": at}
    if unit:
        attr["unitCode"] = unit
    return attr


def _point(x: float, y: float, at: str) -> dict[str, Any]:
    point = {"type": "Point", "coordinates": list(to_lonlat(x, y))}
    return {"type": "GeoProperty", "value": point, "observedAt": at}


def _area(points: list[tuple[float, float]], at: str) -> dict[str, Any]:
    """The box around ``points`` (network metres) as a GeoJSON polygon."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    corners = [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]
    ring = [list(to_lonlat(x, y)) for x, y in (*corners, corners[0])]
    return {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}}


def _base(kind: str, code: str, name: str, at: str) -> Entity:
    return {
        "id": f"urn:ngsi-ld:{kind}:{PREFIX}-{code}" if code else f"urn:ngsi-ld:{kind}:{PREFIX}",
        "type": kind,
        "name": _prop(name, at),
        "dateObserved": _prop(at, at),
    }


def signal_id(tls: str) -> str:
    """The entity id of a junction's ``TrafficSignal``."""
    return f"urn:ngsi-ld:TrafficSignal:{PREFIX}-{tls}"


def lane_index(speed_ms: float, free_ms: float) -> float:
    """The 0–10 congestion index of one lane, as the demo's road detectors compute it."""
    if free_ms <= 0:
        return 0.0
    return round(min(10.0, max(0.0, 12.5 * (1 - speed_ms / free_ms))), 1)


def _signal(inter: dict[str, Any], controller: str, at: str) -> Entity:
    e = _base("TrafficSignal", inter["id"], f"{PLACE}{inter['id']}路口", at)
    e["controlledBy"] = _prop(controller, at)
    e["phase"] = _prop(inter["phase"], at)
    e["phaseState"] = _prop(inter["state"], at)
    e["signalMode"] = _prop(inter["mode"], at)
    e["queue"] = _prop(inter["queue"], at)
    e["location"] = _point(inter["x"], inter["y"], at)
    return e


def _lane(det: dict[str, Any], at: str) -> Entity:
    edge, _, number = det["id"].rpartition("_")
    e = _base("TrafficFlowObserved", det["id"], f"{PLACE}{edge}进口{int(number) + 1}车道", at)
    e["refTrafficSignal"] = {"type": "Relationship", "object": signal_id(det["intersection"])}
    e["laneId"] = _prop(int(number), at)
    e["intensity"] = _prop(det["vehicles"], at)
    e["queue"] = _prop(det["halted"], at)
    e["averageVehicleSpeed"] = _prop(round(det["speed_ms"] * 3.6, 1), at, "KMH")
    e["congestionIndex"] = _prop(lane_index(det["speed_ms"], det["free_speed_ms"]), at)
    e["location"] = _point(det["x"], det["y"], at)
    return e


def _index(snapshot: dict[str, Any], at: str) -> Entity:
    inters = snapshot["intersections"]
    e = _base("CongestionIndex", "", f"{PLACE}拥堵指数", at)
    e["travelTimeIndex"] = _prop(snapshot["congestion_index"], at)
    e["vehicles"] = _prop(snapshot["vehicles"], at)
    e["controlledBy"] = _prop(snapshot["controller"], at)
    e["controlledIntersections"] = _prop(len(inters), at)
    e["simulatedTime"] = _prop(snapshot["local_time"], at)
    e["location"] = _area([(i["x"], i["y"]) for i in inters], at)
    return e


def emergency_entity(report: dict[str, Any], at: str, centre: tuple[float, float]) -> Entity:
    """The ``EmergencyRun`` entity of an ambulance report (``at``: observation time)."""
    e = _base("EmergencyRun", "", f"{PLACE}救护车绿波", at)
    e["run"] = _prop(report["run"], at)
    e["travelTime"] = _prop(report["travel_time_s"], at, "SEC")
    e["expectedTravelTime"] = _prop(report["expected_travel_time_s"], at, "SEC")
    e["timeSavedEstimate"] = _prop(report["time_saved_estimate_s"], at, "SEC")
    e["preemptedSignals"] = _prop(len(report["preempted_signals"]), at)
    e["simulatedTime"] = _prop(report["arrived_at"], at)
    e["location"] = _point(*centre, at)
    return e


def snapshot_entities(snapshot: dict[str, Any], observed: datetime) -> list[Entity]:
    """Every entity of one snapshot of the live grid, observed at ``observed`` (wall clock)."""
    at = iso(observed)
    inters = snapshot["intersections"]
    out = [_signal(i, snapshot["controller"], at) for i in inters]
    out += [_lane(d, at) for d in snapshot["detectors"]]
    out.append(_index(snapshot, at))
    if snapshot.get("emergency"):
        out.append(emergency_entity(snapshot["emergency"], at, _centre(inters)))
    return out


def _centre(inters: list[dict[str, Any]]) -> tuple[float, float]:
    return (
        sum(i["x"] for i in inters) / max(1, len(inters)),
        sum(i["y"] for i in inters) / max(1, len(inters)),
    )


class TrafficFeed:
    """The live grid's ``on_message``: its messages as signed stream messages into ``offer``."""

    def __init__(
        self,
        offer: Callable[[StreamMessage], bool],
        *,
        seed: int,
        clock: Clock,
        every_s: float = PUBLISH_EVERY_S,
    ) -> None:
        self.offer, self.seed, self.clock, self.every_s = offer, seed, clock, every_s
        self.org = ORG_BY_KEY[PROVIDER].code
        self.key = provider_key(seed, self.org)
        self._published: datetime | None = None
        self._centre = (0.0, 0.0)
        self.sent = 0
        self.refused = 0

    def messages(self, message: dict[str, Any], now: datetime) -> list[StreamMessage]:
        """The stream messages of one message of the grid (a snapshot or an ambulance report)."""
        if message.get("kind") == "snapshot":
            self._centre = _centre(message["intersections"])
            entities = snapshot_entities(message, now)
            tag = f"t{int(message['time_s'])}"
        elif message.get("kind") == "emergency":
            entities = [emergency_entity(message, iso(now), self._centre)]
            tag = f"e{message['run']}"
        else:
            return []
        groups = [entities[k : k + PER_MESSAGE] for k in range(0, len(entities), PER_MESSAGE)]
        return [
            make_message(
                org_code=self.org,
                dataset=DATASET,
                message_id=f"{msg_id(self.seed, DATASET, now, n)}-{tag}",
                entities=group,
                key=self.key,
                received_at=now,
            )
            for n, group in enumerate(groups)
        ]

    def __call__(self, message: dict[str, Any]) -> None:
        """Send ``message`` (a snapshot at most every ``every_s`` seconds)."""
        now = self.clock()
        if message.get("kind") == "snapshot":
            due = self._published is None or (now - self._published).total_seconds() >= self.every_s
            if not due:
                return
            self._published = now
        for stream_message in self.messages(message, now):
            if self.offer(stream_message):
                self.sent += 1
            else:
                self.refused += 1


def start_live_traffic(
    offer: Callable[[StreamMessage], bool],
    *,
    seed: int,
    clock: Clock,
    folder: Path,
    speed: float,
) -> LiveTraffic:
    """Start the live grid (a child process) feeding ``offer``; the caller stops it."""
    feed = TrafficFeed(offer, seed=seed, clock=clock)
    return LiveTraffic(folder, seed=seed, start=clock(), speed=speed, on_message=feed).start()
