"""Mean delay per vehicle as the RESCO benchmark defines it (Ault & Sharon, NeurIPS 2021).

delay = ``timeLoss`` + ``departDelay`` from SUMO's tripinfo, averaged over **every** vehicle of
the episode. Vehicles still driving at the end (``arrival="-1"``, written with
``--tripinfo-output.write-unfinished``) count with the loss accrued so far; vehicles that never
got onto the network count with the time they waited to depart (``depart="-1"``, written with
``--tripinfo-output.write-undeparted``, or — when given the planned departures of the route
files — ``end - planned depart`` for a vehicle missing from the tripinfo altogether). Without
that, a controller that blocks the entries would look good.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from citybrain.kernel.errors import InvalidInput


@dataclass(frozen=True)
class DelayReport:
    """The episode's delays: mean over all vehicles, and how many fell in each group."""

    mean_delay: float
    vehicles: int
    arrived: int
    unfinished: int
    never_departed: int
    total_delay: float


def _float(element: ET.Element, name: str, where: str) -> float:
    raw = element.get(name)
    if raw is None:
        raise InvalidInput(f"{where}: vehicle {element.get('id')!r} lacks {name!r}", field=name)
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{where}: {name}={raw!r} is not a number", field=name) from None


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", field="tripinfo") from None
    except ET.ParseError as exc:
        raise InvalidInput(f"{path}: not XML ({exc})", field="tripinfo") from None


def trip_of(tripinfo: Path, vehicle: str) -> dict[str, float] | None:
    """The tripinfo attributes of one vehicle as numbers, or None if it is not there."""
    for trip in _parse(Path(tripinfo)).iter("tripinfo"):
        if trip.get("id") == vehicle:
            out = {}
            for key in ("depart", "arrival", "duration", "timeLoss", "departDelay"):
                try:
                    out[key] = float(trip.get(key, "nan"))
                except ValueError:
                    out[key] = float("nan")
            return out
    return None


def planned_departures(route_files: Iterable[Path]) -> dict[str, float]:
    """vehicle id → planned depart time of every ``<vehicle>`` and ``<trip>`` in the files.

    Flows are left out (their ids and times come from SUMO's insertion); for them rely on
    ``--tripinfo-output.write-undeparted``.
    """
    planned: dict[str, float] = {}
    for path in route_files:
        root = _parse(Path(path))
        for element in root.iter():
            if element.tag in ("vehicle", "trip") and element.get("id"):
                depart = element.get("depart", "0")
                try:
                    planned[element.get("id", "")] = float(depart)
                except ValueError:  # "triggered", "containerTriggered", ...: not time-planned
                    continue
    return planned


def mean_delay(
    tripinfo: Path,
    *,
    end: float,
    begin: float = float("-inf"),
    planned: Mapping[str, float] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> DelayReport:
    """The RESCO delay of one episode that ran from ``begin`` until ``end`` seconds.

    Planned vehicles missing from the tripinfo count only if they were due within the episode
    (SUMO drops vehicles whose departure lies before ``begin``). ``exclude`` leaves vehicles
    out (the bench's emergency vehicle, reported on its own).
    """
    root = _parse(Path(tripinfo))
    where = str(tripinfo)
    total = 0.0
    seen: set[str] = set()
    arrived = unfinished = never = 0
    for trip in root.iter("tripinfo"):
        vid = trip.get("id", "")
        seen.add(vid)
        if vid in exclude:
            continue
        depart = _float(trip, "depart", where)
        if depart < 0:  # never inserted
            never += 1
            if planned and vid in planned:
                total += max(0.0, end - planned[vid])
            else:
                total += max(0.0, _float(trip, "departDelay", where))
            continue
        total += _float(trip, "timeLoss", where) + _float(trip, "departDelay", where)
        if _float(trip, "arrival", where) < 0:
            unfinished += 1
        else:
            arrived += 1
    for vid, depart in (planned or {}).items():
        if vid not in seen and begin <= depart < end:  # waiting, not even in the tripinfo
            never += 1
            total += end - depart
    vehicles = arrived + unfinished + never
    return DelayReport(
        mean_delay=total / vehicles if vehicles else 0.0,
        vehicles=vehicles,
        arrived=arrived,
        unfinished=unfinished,
        never_departed=never,
        total_delay=total,
    )
