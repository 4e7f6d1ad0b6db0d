"""Simulated sensors: deterministic NGSI-LD readings for any simulated time.

Every value comes from ``random.Random`` seeded with the demo seed, the sensor and the time
slot, so a reading never depends on what was generated before: the back-fill and the live
runner produce the same reading for the same slot, and the same seed replays byte for byte.
Numbers follow a day in Hangzhou (UTC+8): morning and evening rush hours, an afternoon ozone
peak, car parks that fill by day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from citybrain.demo.city import DISTRICTS, STREAMS, District, StreamSpec

LOCAL_OFFSET_H = 8  # Asia/Shanghai, no daylight saving
Entity = dict[str, Any]

_PLACES = {
    "AirQualityObserved": ("监测站", "station"),
    "OffStreetParking": ("停车场", "car park"),
    "TrafficFlowObserved": ("检测器", "detector"),
}
_ROADS = ("文三路", "天目山路", "莫干山路", "解放路", "江南大道", "延安路", "秋涛路", "之江路")
_DIRTY_KINDS = ("pm25-negative", "pm25-huge", "missing-pm10", "missing-dateObserved", "temp-hot")


@dataclass(frozen=True)
class Sensor:
    """One simulated device with its fixed traits (place, scale, capacity)."""

    code: str
    entity_type: str
    dataset: str
    name: str
    district: str
    lon: float
    lat: float
    scale: float  # how busy or polluted its place is, around 1.0
    capacity: int  # lanes x vehicles per period, or car park spaces
    silent: bool = False

    @property
    def entity_id(self) -> str:
        """``urn:ngsi-ld:<Type>:<code>``, stable across seeds and runs."""
        return f"urn:ngsi-ld:{self.entity_type}:{self.code}"


def iso(t: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _place(rng: random.Random, district: District) -> tuple[float, float]:
    x0, y0, x1, y1 = district.bbox()
    while True:
        lon, lat = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
        if district.contains(lon, lat):
            return lon, lat


def build_sensors(seed: int, stream: StreamSpec) -> list[Sensor]:
    """The sensors of one stream, placed inside the districts (round-robin), from the seed."""
    entity_type = stream.spec.entity_type or ""
    kind_zh, _ = _PLACES[entity_type]
    out: list[Sensor] = []
    for i in range(stream.count):
        code = f"{stream.prefix}-{i + 1:02d}"
        rng = random.Random(f"{seed}/sensor/{code}")
        district = DISTRICTS[i % len(DISTRICTS)]
        lon, lat = _place(rng, district)
        if entity_type == "OffStreetParking":
            capacity = rng.choice((120, 200, 300, 450, 600, 800))
        else:
            capacity = rng.randint(2, 4) * 45  # lanes x 45 vehicles per two minutes
        name = f"{district.name}{rng.choice(_ROADS)}{kind_zh}{i + 1:02d}"
        out.append(
            Sensor(
                code=code,
                entity_type=entity_type,
                dataset=stream.dataset,
                name=name,
                district=district.code,
                lon=lon,
                lat=lat,
                scale=round(rng.uniform(*stream.scale), 3),
                capacity=capacity,
                silent=i >= stream.count - stream.silent,
            )
        )
    return out


def slot_times(seed: int, stream: StreamSpec, after: datetime, until: datetime) -> list[datetime]:
    """Report times of a stream in ``(after, until]``: multiples of its period, each delayed by
    its seeded jitter."""
    period = stream.period_s
    first = math.floor(after.timestamp() / period) - 1
    last = math.floor(until.timestamp() / period)
    out = []
    for k in range(first, last + 1):
        delay = 0
        if stream.jitter_s:
            delay = random.Random(f"{seed}/jitter/{stream.dataset}/{k}").randrange(stream.jitter_s)
        t = datetime.fromtimestamp(k * period + delay, UTC)
        if after < t <= until:
            out.append(t)
    return out


def _hour(t: datetime) -> float:
    return ((t.timestamp() / 3600.0) + LOCAL_OFFSET_H) % 24.0


def _bump(h: float, centre: float, width: float) -> float:
    return math.exp(-((h - centre) ** 2) / (2 * width * width))


def rush(t: datetime) -> float:
    """0..~1: how much of a rush hour it is (peaks 08:00 and 18:00 local)."""
    h = _hour(t)
    return _bump(h, 8.0, 1.1) + 0.9 * _bump(h, 18.0, 1.3)


def daylight(t: datetime) -> float:
    """0..1: activity of the day (low at night, high 09:00-21:00 local)."""
    h = _hour(t)
    return max(0.0, math.sin(math.pi * (h - 5.5) / 18.0)) if 5.5 <= h <= 23.5 else 0.0


def _prop(value: Any, at: str, unit: str | None = None) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value, "observedAt": at}
    if unit:
        attr["unitCode"] = unit
    return attr


def _base(sensor: Sensor, at: str) -> Entity:
    return {
        "id": sensor.entity_id,
        "type": sensor.entity_type,
        "name": _prop(sensor.name, at),
        "dateObserved": _prop(at, at),
    }


def _location(sensor: Sensor, at: str) -> dict[str, Any]:
    point = {"type": "Point", "coordinates": [sensor.lon, sensor.lat]}
    return {"type": "GeoProperty", "value": point, "observedAt": at}


def _air(sensor: Sensor, t: datetime, rng: random.Random, at: str) -> Entity:
    h = _hour(t)
    night = _bump(h, 2.0, 2.5) + _bump(h, 26.0, 2.5)  # night-time inversion keeps dust low
    pm25 = 28.0 * sensor.scale * (0.75 + 0.45 * rush(t) + 0.3 * night) * rng.uniform(0.85, 1.15)
    photo = max(0.0, math.sin(math.pi * (h - 7.0) / 12.0)) if 7.0 <= h <= 19.0 else 0.0
    e = _base(sensor, at)
    e["pm25"] = _prop(round(pm25, 1), at, "GQ")
    e["pm10"] = _prop(round(pm25 * rng.uniform(1.4, 1.9), 1), at, "GQ")
    e["no2"] = _prop(round((14 + 40 * rush(t)) * sensor.scale * rng.uniform(0.9, 1.1), 1), at, "GQ")
    e["o3"] = _prop(round((22 + 110 * photo) * rng.uniform(0.9, 1.1), 1), at, "GQ")
    temp = 19.0 + 6.0 * math.sin(2 * math.pi * (h - 9.0) / 24.0) + rng.uniform(-0.6, 0.6)
    e["temperature"] = _prop(round(temp, 1), at, "CEL")
    e["location"] = _location(sensor, at)
    return e


def _parking(sensor: Sensor, t: datetime, rng: random.Random, at: str) -> Entity:
    busy = 0.12 + 0.72 * daylight(t) * min(1.0, sensor.scale) + 0.1 * rush(t)
    occupied = round(sensor.capacity * min(1.0, max(0.0, busy + rng.uniform(-0.06, 0.06))))
    e = _base(sensor, at)
    e["totalSpotNumber"] = _prop(sensor.capacity, at)
    e["availableSpotNumber"] = _prop(sensor.capacity - occupied, at)
    e["occupancy"] = _prop(round(occupied / sensor.capacity, 3), at, "C62")
    e["location"] = _location(sensor, at)
    return e


def _traffic(sensor: Sensor, t: datetime, rng: random.Random, at: str) -> Entity:
    load = min(1.0, (0.06 + 0.5 * daylight(t) + 0.42 * rush(t)) * sensor.scale)
    load = max(0.0, min(1.0, load * rng.uniform(0.9, 1.1)))
    free_speed = 45.0 + 25.0 * (sensor.capacity / 180.0)
    speed = max(4.0, free_speed * (1.0 - 0.8 * load**2) * rng.uniform(0.95, 1.05))
    e = _base(sensor, at)
    e["laneDirection"] = _prop("forward" if int(sensor.code[-2:]) % 2 else "backward", at)
    e["intensity"] = _prop(round(sensor.capacity * load), at)
    e["averageVehicleSpeed"] = _prop(round(speed, 1), at, "KMH")
    e["occupancy"] = _prop(round(min(0.95, 0.03 + 0.7 * load**1.5), 3), at, "C62")
    jam = min(10.0, max(0.0, 12.5 * (1 - speed / free_speed)))
    e["congestionIndex"] = _prop(round(jam, 1), at)
    e["location"] = _location(sensor, at)
    return e


_MAKERS = {
    "AirQualityObserved": _air,
    "OffStreetParking": _parking,
    "TrafficFlowObserved": _traffic,
}


def _spoil(entity: Entity, rng: random.Random) -> Entity:
    """A dirty provider's reading: about one in four is out of range or incomplete."""
    if rng.random() >= 0.25:
        return entity
    kind = rng.choice(_DIRTY_KINDS)
    if kind == "pm25-negative":
        entity["pm25"]["value"] = -5
    elif kind == "pm25-huge":
        entity["pm25"]["value"] = 9999
    elif kind == "temp-hot":
        entity["temperature"]["value"] = 85.0
    else:
        del entity[kind.removeprefix("missing-")]
    return entity


def reading(seed: int, sensor: Sensor, t: datetime, *, dirty: bool = False) -> Entity:
    """The NGSI-LD entity (normalized) a sensor reports at ``t``; every attribute has
    ``observedAt``."""
    rng = random.Random(f"{seed}/reading/{sensor.code}/{int(t.timestamp())}")
    entity = _MAKERS[sensor.entity_type](sensor, t, rng, iso(t))
    return _spoil(entity, rng) if dirty else entity


def area_entity(district: District) -> Entity:
    """A district as an ``AdministrativeArea`` entity with its outline as ``location``."""
    return {
        "id": f"urn:ngsi-ld:AdministrativeArea:{district.code}",
        "type": "AdministrativeArea",
        "name": {"type": "Property", "value": district.name},
        "alternateName": {"type": "Property", "value": district.name_en},
        "areaCode": {"type": "Property", "value": district.code},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Polygon", "coordinates": [district.closed()]},
        },
    }


@dataclass(frozen=True)
class Report:
    """What one stream reports at one time: its sensors' entities, in message-sized groups."""

    stream: StreamSpec
    time: datetime
    groups: tuple[tuple[Entity, ...], ...]  # group i holds sensors [i*n, (i+1)*n) still talking


class Simulation:
    """All sensors of the demo city for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.sensors: dict[str, list[Sensor]] = {s.dataset: build_sensors(seed, s) for s in STREAMS}

    def all_sensors(self) -> list[Sensor]:
        """Every sensor, stream by stream."""
        return [sensor for group in self.sensors.values() for sensor in group]

    def report(self, stream: StreamSpec, t: datetime, silent_from: datetime | None) -> Report:
        """The entities ``stream`` reports at ``t``; silent sensors say nothing from
        ``silent_from`` on (never, when it is None)."""
        sensors = self.sensors[stream.dataset]
        n = stream.per_message
        groups = []
        for start in range(0, len(sensors), n):
            talking = [
                s
                for s in sensors[start : start + n]
                if not (s.silent and silent_from is not None and t >= silent_from)
            ]
            groups.append(tuple(reading(self.seed, s, t, dirty=stream.dirty) for s in talking))
        return Report(stream, t, tuple(groups))

    def reports(
        self, after: datetime, until: datetime, silent_from: datetime | None = None
    ) -> Iterator[Report]:
        """Every report in ``(after, until]``, in time order (streams in declaration order)."""
        due = [
            (t, i, s) for i, s in enumerate(STREAMS) for t in slot_times(self.seed, s, after, until)
        ]
        for t, _, stream in sorted(due, key=lambda x: (x[0], x[1])):
            yield self.report(stream, t, silent_from)


def window(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """``(now - hours, now]``."""
    return now - timedelta(hours=hours), now
