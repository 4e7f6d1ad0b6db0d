"""Emergency-vehicle priority: a green wave ahead of an ambulance, and recovery behind it.

The bench dispatches one emergency vehicle (SUMO vClass ``emergency``, no blue-light device, so
it cannot run a red: only the signals can help it) on the trip of the map's demand that crosses
the most traffic lights, a quarter of the way into the episode. With priority on, every
intersection the vehicle will reach within the look-ahead is held on the green phase that serves
the vehicle's link (through the usual yellow and all-red, after the current minimum green); once
the vehicle is past, the hold is released and the controller's own choice resumes — the
starvation guard of the CityBrain controller serves whoever waited longest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citybrain.kernel.errors import InvalidInput
from citybrain.scenarios.traffic.controllers import PhaseChooser
from citybrain.scenarios.traffic.signals import GREEN, SignalDriver

EMERGENCY_ID = "citybrain-ambulance"
EMERGENCY_TYPE = "citybrain-emergency"
LOOKAHEAD_S = 25.0  # hold the signals the vehicle reaches within this many seconds
MAX_HOLD_S = 90.0  # a signal is never held longer than this for one vehicle (then released)
CANDIDATE_TRIPS = 60


@dataclass(frozen=True)
class EmergencyRun:
    """Dispatch one emergency vehicle; ``priority`` says whether signals pre-empt for it."""

    priority: bool
    depart_fraction: float = 0.25  # of the episode, from its begin


def dispatch(sim: Any, controller: PhaseChooser, depart: float, vehicle: str = EMERGENCY_ID) -> str:
    """Add an emergency vehicle on the loaded trip crossing the most signals; returns its route.

    ``vehicle`` names it (one simulation may dispatch several, each with its own id).
    """
    controlled = {lane.rsplit("_", 1)[0] for i in controller.intersections for lane in i.in_lanes}
    best: tuple[int, float, tuple[str, ...]] | None = None
    seen: set[tuple[str, str]] = set()
    for trip in _planned_trips(sim):
        if len(seen) >= CANDIDATE_TRIPS:
            break
        if trip in seen:
            continue
        seen.add(trip)
        route = sim.simulation.findRoute(*trip, vType="DEFAULT_VEHTYPE")
        edges = tuple(route.edges)
        if not edges:
            continue
        key = (sum(e in controlled for e in edges), route.travelTime, edges)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        raise InvalidInput(
            "no route for an emergency vehicle in this demand (no planned trip has a route)",
            field="emergency",
        )
    if EMERGENCY_TYPE not in sim.vehicletype.getIDList():
        sim.vehicletype.copy("DEFAULT_VEHTYPE", EMERGENCY_TYPE)
        sim.vehicletype.setVehicleClass(EMERGENCY_TYPE, "emergency")
        sim.vehicletype.setColor(EMERGENCY_TYPE, (255, 0, 0, 255))
    route_id = f"{vehicle}-route"
    sim.route.add(route_id, list(best[2]))
    sim.vehicle.add(vehicle, route_id, typeID=EMERGENCY_TYPE, depart=f"{depart:.2f}")
    return route_id


def _planned_trips(sim: Any) -> list[tuple[str, str]]:
    """(from edge, to edge) of vehicles already loaded, in load order."""
    trips = []
    for veh in sim.vehicle.getLoadedIDList():
        route = sim.vehicle.getRoute(veh)
        if route:
            trips.append((route[0], route[-1]))
    return trips


def serving_phase(driver: SignalDriver, link: int) -> int | None:
    """The green phase that clears the vehicle's link *and its lane*.

    Greening only the vehicle's own link is not enough: a car ahead of it in the same lane that
    turns elsewhere would block it under a held red. So among the phases that green the link,
    the one greening most links out of the same incoming lane wins; then a priority green ('G')
    over a permissive one; then the phase already shown.
    """
    inter = driver.inter
    lane = next((m.in_lane for m in inter.movements if link in m.links), None)
    same_lane = [ix for m in inter.movements if m.in_lane == lane for ix in m.links]
    candidates = [p for p, state in enumerate(inter.greens) if state[link] in GREEN]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda p: (
            sum(inter.greens[p][ix] in GREEN for ix in same_lane),
            inter.greens[p][link] == "G",
            p == driver.phase,
        ),
    )


class GreenWave:
    """Holds the signals ahead of one emergency vehicle on their serving phase."""

    def __init__(self, sim: Any, controller: PhaseChooser, vehicle: str = EMERGENCY_ID) -> None:
        self.sim = sim
        self.vehicle = vehicle
        self.by_tls = {d.inter.tls_id: d for d in controller.drivers}
        self.held: set[str] = set()
        self.preempted: set[str] = set()
        self.held_since: dict[str, float] = {}
        self.driving = False

    def step(self, now: float) -> None:
        """Hold what the vehicle reaches within the look-ahead; release everything else."""
        ahead: dict[str, int] = {}
        if self.vehicle in self.sim.simulation.getDepartedIDList():
            self.driving = True
        if self.vehicle in self.sim.simulation.getArrivedIDList():
            self.driving = False
        if self.driving:
            speed = max(self.sim.vehicle.getAllowedSpeed(self.vehicle), 1.0)
            for tls, link, distance, _state in self.sim.vehicle.getNextTLS(self.vehicle):
                if distance / speed > LOOKAHEAD_S:
                    break
                driver = self.by_tls.get(tls)
                since = self.held_since.setdefault(tls, now) if driver else now
                if now - since > MAX_HOLD_S:  # the vehicle is stuck: stop starving the rest
                    continue
                phase = serving_phase(driver, link) if driver else None
                if phase is not None:
                    ahead[tls] = phase
        for tls in self.held - ahead.keys():
            self.by_tls[tls].hold = None
        for tls, phase in ahead.items():
            driver = self.by_tls[tls]
            driver.hold = phase
            if driver.mode == "green":
                driver.wake = min(driver.wake, now)
            self.preempted.add(tls)
        self.held = set(ahead)
