"""The live grid itself, as the child process of :mod:`.live` runs it: the network, the demand,
the congestion index, the ambulances and the snapshots (definitions in :mod:`.live`)."""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import random
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citybrain.scenarios.traffic.emergency import EMERGENCY_ID, GreenWave, dispatch
from citybrain.scenarios.traffic.episode import start_sumo, sumo_args
from citybrain.scenarios.traffic.networks import custom_map, sumo_binary
from citybrain.scenarios.traffic.registry import make_controller

log = logging.getLogger(__name__)

GRID = 3
BLOCK_M = 200.0
ATTACH_M = 150.0
LANES = 2
NET_FILE = "grid3x3.net.xml"
ROUTES_FILE = "empty.rou.xml"
DAY_S = 86400
WARMUP_S = 300.0
TELEPORT_S = 300
EPOCH_S = 7 * 86400.0  # SUMO restarts every simulated week (see simulate)
CRAWL_MS = 1.0  # the floor speed of the congestion index and the ambulance estimate
DETECTOR_BACK_M = 30.0  # where a lane's reading is placed: this far before the stop line
CONTROLLER = "citybrain"


def clock_text(sim_s: float) -> str:
    """``HH:MM:SS`` of a simulation time (seconds since local midnight, wrapping daily)."""
    s = int(sim_s) % DAY_S
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def build_network(folder: Path) -> Path:
    """The 3×3 grid's network file in ``folder``, built with netgenerate unless present."""
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / NET_FILE
    routes = folder / ROUTES_FILE
    if not routes.exists():
        _write_atomic(routes, "<routes/>\n")
    if net.exists():
        return net
    junctions = [f"{chr(65 + x)}{y}" for x in range(GRID) for y in range(GRID)]
    tmp = folder / f".{NET_FILE}.{os.getpid()}.tmp"
    # fmt: off
    subprocess.run(
        [
            sumo_binary("netgenerate"), "--grid",
            "--grid.number", str(GRID), "--grid.length", f"{BLOCK_M:g}",
            "--grid.attach-length", f"{ATTACH_M:g}",
            "--default-junction-type", "priority", "--tls.set", ",".join(junctions),
            "--default.lanenumber", str(LANES), "--no-turnarounds", "--seed", "1",
            "-o", str(tmp),
        ],
        check=True,
        capture_output=True,
    )
    # fmt: on
    os.replace(tmp, net)  # atomic: a concurrent builder never sees half a file
    return net


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-((hour - centre) ** 2) / (2 * width * width))


def demand_rate(sim_s: float) -> float:
    """Vehicles per hour entering the grid at a simulated time (local time of day).

    About 400/h at night, 1,700/h at midday and 3,600-3,900/h at the 08:00 and 18:00 rush
    hours (12 feeder roads of two lanes).
    """
    hour = (sim_s % DAY_S) / 3600.0
    day = max(0.0, math.sin(math.pi * (hour - 5.5) / 18.0)) if 5.5 <= hour <= 23.5 else 0.0
    rush = _bump(hour, 8.0, 1.0) + 0.9 * _bump(hour, 18.0, 1.2)
    return 400.0 + 1400.0 * day + 2600.0 * rush


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def minute_trips(
    seed: int, minute: int, entries: list[str], exits: dict[str, list[str]]
) -> list[tuple[float, str, str]]:
    """(depart, from edge, to edge) of the trips of simulated minute ``minute``, from the seed."""
    rng = random.Random(f"{seed}/live-demand/{minute}")
    count = _poisson(rng, demand_rate(minute * 60.0) / 60.0)
    trips = []
    for _ in range(count):
        entry = rng.choice(entries)
        trips.append((minute * 60.0 + rng.uniform(0.0, 59.0), entry, rng.choice(exits[entry])))
    return sorted(trips)


def fringe(net: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Entry edges (leaving a dead end) and, per entry, the exit edges it may drive to."""
    root = ET.parse(net).getroot()
    dead = {j.get("id") for j in root.iter("junction") if j.get("type") == "dead_end"}
    edges = [e for e in root.iter("edge") if e.get("function") is None]
    entries = sorted(str(e.get("id")) for e in edges if e.get("from") in dead)
    exits = sorted((str(e.get("id")), str(e.get("to"))) for e in edges if e.get("to") in dead)
    start = {str(e.get("id")): e.get("from") for e in edges}
    return entries, {i: [x for x, end in exits if end != start[i]] for i in entries}


def edge_times(sim: Any, edges: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """(Σ n_e·T_e, Σ n_e·F_e) now, over the edges with vehicles (see the module docstring);
    ``edges``: id → (length, speed limit)."""
    actual = free = 0.0
    for edge, (length, limit) in edges.items():
        n = sim.edge.getLastStepVehicleNumber(edge)
        if n:
            speed = min(max(sim.edge.getLastStepMeanSpeed(edge), CRAWL_MS), limit)
            actual += n * length / speed
            free += n * length / limit
    return actual, free


def congestion_index(actual: float, free: float) -> float:
    """The congestion index of accumulated actual and free-flow vehicle-seconds (1.0 if none)."""
    return max(1.0, actual / free) if free else 1.0


def _edge_time(sim: Any, edge: str, length: float) -> float:
    return float(min(sim.edge.getTraveltime(edge), length / CRAWL_MS))


def _passage(sim: Any, edge: str, nxt: str) -> str | None:
    """The first internal lane of the junction passage from ``edge`` to ``nxt``, if any."""
    for index in range(sim.edge.getLaneNumber(edge)):
        for link in sim.lane.getLinks(f"{edge}_{index}"):
            if link[0].rsplit("_", 1)[0] == nxt and link[4]:
                return str(link[4])
    return None


def expected_time(sim: Any, route: list[str]) -> float:
    """The route's travel time from SUMO's current edge travel times (``edge.getTraveltime``):
    its edges and the junction passages between them, each floored at the 1 m/s crawl."""
    total = 0.0
    for k, edge in enumerate(route):
        total += _edge_time(sim, edge, sim.lane.getLength(f"{edge}_0"))
        via = _passage(sim, edge, route[k + 1]) if k + 1 < len(route) else None
        if via:
            total += _edge_time(sim, via.rsplit("_", 1)[0], sim.lane.getLength(via))
    return total


class _Ambulances:
    """Dispatches one ambulance at a time with a green wave and reports it on arrival."""

    def __init__(self, sim: Any, controller: Any, previous: _Ambulances | None = None) -> None:
        self.sim, self.controller = sim, controller
        self.runs = previous.runs if previous else 0  # numbering goes on across epochs
        self.active: dict[str, Any] | None = None
        self.wave: Any = None
        self.last: dict[str, Any] | None = previous.last if previous else None

    def dispatch(self, now: float) -> None:
        """Send the next ambulance (skipped while one is on the road)."""
        if self.active is not None:
            return
        run = self.runs + 1
        suffix = f"-{run}"
        try:
            route = dispatch(self.sim, self.controller, now + 1, vehicle=EMERGENCY_ID + suffix)
        except Exception as exc:  # no trip to copy yet, or SUMO refused: try next time
            log.warning("live traffic: ambulance %d not dispatched: %s", run, exc)
            return
        self.runs = run
        edges = list(self.sim.route.getEdges(route))
        expected = expected_time(self.sim, edges)
        self.wave = GreenWave(self.sim, self.controller, vehicle=EMERGENCY_ID + suffix)
        self.active = {
            "run": run,
            "vehicle": EMERGENCY_ID + suffix,
            "dispatched_s": now,
            "departed_s": None,
            "expected_travel_time_s": round(expected, 1),
            "route_edges": len(edges),
        }

    def before_step(self, now: float) -> None:
        """Hold the signals ahead of the ambulance (call before the controller's step)."""
        if self.wave is not None:
            self.wave.step(now)

    def after_step(self, now: float) -> dict[str, Any] | None:
        """Track departure and arrival; returns the report when the ambulance has arrived."""
        run = self.active
        if run is None:
            return None
        vehicle = run["vehicle"]
        if run["departed_s"] is None and vehicle in self.sim.simulation.getDepartedIDList():
            run["departed_s"] = self.sim.vehicle.getDeparture(vehicle)
        if vehicle not in self.sim.simulation.getArrivedIDList():
            return None
        self.wave.step(now)  # it is gone: release every hold
        departed = run["departed_s"] if run["departed_s"] is not None else run["dispatched_s"]
        travel = now - departed
        report = {
            "kind": "emergency",
            **run,
            "arrived_s": now,
            "arrived_at": clock_text(now),
            "travel_time_s": round(travel, 1),
            "time_saved_estimate_s": round(run["expected_travel_time_s"] - travel, 1),
            "preempted_signals": sorted(self.wave.preempted),
        }
        self.active, self.wave, self.last = None, None, report
        return report


def _reading_point(shape: list[tuple[float, float]], back: float) -> tuple[float, float]:
    """The point ``back`` metres before the end of a lane's shape."""
    (x0, y0), (x1, y1) = shape[-2], shape[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    f = max(0.0, 1.0 - back / length)
    return round(x0 + (x1 - x0) * f, 1), round(y0 + (y1 - y0) * f, 1)


def _snapshot(sim: Any, controller: Any, index: float) -> dict[str, Any]:
    now = sim.simulation.getTime()
    halting, count = sim.lane.getLastStepHaltingNumber, sim.lane.getLastStepVehicleNumber
    intersections, detectors = [], []
    for driver in controller.drivers:
        inter = driver.inter
        halted = {lane: halting(lane) for lane in inter.in_lanes}
        x, y = sim.junction.getPosition(inter.tls_id)
        intersections.append(
            {
                "id": inter.tls_id,
                "phase": driver.phase,
                "phases": len(inter.greens),
                "state": sim.trafficlight.getRedYellowGreenState(inter.tls_id),
                "mode": driver.mode,
                "queue": sum(halted.values()),
                "halted": halted,
                "x": round(x, 1),
                "y": round(y, 1),
            }
        )
        for lane in inter.in_lanes:
            px, py = _reading_point(sim.lane.getShape(lane), DETECTOR_BACK_M)
            detectors.append(
                {
                    "id": lane,
                    "intersection": inter.tls_id,
                    "vehicles": count(lane),
                    "halted": halted[lane],
                    "speed_ms": round(sim.lane.getLastStepMeanSpeed(lane), 2),
                    "free_speed_ms": round(sim.lane.getMaxSpeed(lane), 2),
                    "x": px,
                    "y": py,
                }
            )
    return {
        "kind": "snapshot",
        "time_s": now,
        "local_time": clock_text(now),
        "controller": controller.name,
        "vehicles": sim.vehicle.getIDCount(),
        "congestion_index": round(index, 3),
        "intersections": intersections,
        "detectors": detectors,
    }


class _Demand:
    """Adds each simulated minute's trips a minute ahead, on precomputed free-flow routes."""

    def __init__(self, sim: Any, seed: int, net: Path) -> None:
        self.sim, self.seed = sim, seed
        self.entries, self.exits = fringe(net)
        self.routes: dict[tuple[str, str], str] = {}
        for entry in self.entries:
            for exit_ in self.exits[entry]:
                edges = list(sim.simulation.findRoute(entry, exit_).edges)
                if edges:
                    route = f"od:{entry}:{exit_}"
                    sim.route.add(route, edges)
                    self.routes[(entry, exit_)] = route
        self.next_minute: int | None = None
        self.added = 0

    def top_up(self, now: float) -> None:
        """Make sure the trips of the current and the next minute are loaded."""
        minute = int(now // 60)
        if self.next_minute is None:
            self.next_minute = minute
        while self.next_minute <= minute + 1:
            for depart, entry, exit_ in minute_trips(
                self.seed, self.next_minute, self.entries, self.exits
            ):
                route = self.routes.get((entry, exit_))
                if route is None or depart < now:
                    continue
                self.sim.vehicle.add(
                    f"v{self.added}", route, depart=f"{depart:.1f}", departLane="best"
                )
                self.added += 1
            self.next_minute += 1


def _sumo(folder: Path, seed: int, begin: float) -> tuple[Any, Path]:
    """libsumo on the grid from ``begin``, with no output files and 5-minute teleports."""
    net = build_network(folder)
    traffic_map = custom_map(net, [folder / ROUTES_FILE], begin=begin, end=begin + 365 * DAY_S)
    args = sumo_args(traffic_map, seed, Path(os.devnull), [])
    args[args.index("--time-to-teleport") + 1] = str(TELEPORT_S)
    return start_sumo(args), net


def simulate(config: dict[str, Any], put: Callable[[dict[str, Any]], None], stop: Any) -> None:
    """Run the live grid until ``stop`` (an Event) is set or the parent process is gone;
    every message goes to ``put``. ``config``: folder, seed, speed, begin_s, snapshot_every_s,
    ambulance_every_s (see :class:`.live.LiveTraffic`) and optionally epoch_s.

    Every ``epoch_s`` simulated seconds (a week) SUMO restarts at the same time of day, with a
    new warm-up, so that its clock and its state stay bounded in a demo that runs for weeks.
    """
    begin = float(config["begin_s"])
    ambulances: _Ambulances | None = None
    while not stop.is_set():
        ended = _epoch(config, put, stop, begin, ambulances)
        if ended is None:
            return
        begin, ambulances = ended[0] % DAY_S, ended[1]


def _epoch(
    config: dict[str, Any],
    put: Callable[[dict[str, Any]], None],
    stop: Any,
    begin: float,
    previous: _Ambulances | None,
) -> tuple[float, _Ambulances] | None:
    """One SUMO run from ``begin`` (after the warm-up): (its end, its ambulances) when the
    epoch is over, None when stopped or orphaned."""
    seed, speed = int(config["seed"]), float(config["speed"])
    snapshot_every, ambulance_every = config["snapshot_every_s"], config["ambulance_every_s"]
    until = begin + float(config.get("epoch_s", EPOCH_S))
    sim, net = _sumo(Path(config["folder"]), seed, begin - WARMUP_S)
    try:
        controller = make_controller(config.get("controller", CONTROLLER))
        controller.attach(sim)
        edges = {
            e: (sim.lane.getLength(f"{e}_0"), sim.lane.getMaxSpeed(f"{e}_0"))
            for e in sim.edge.getIDList()
            if not e.startswith(":")
        }
        demand = _Demand(sim, seed, net)
        ambulances = _Ambulances(sim, controller, previous)
        parent = mp.parent_process()
        now = sim.simulation.getTime()
        next_snapshot, next_ambulance = begin + snapshot_every, begin
        wall0, checked = time.monotonic(), 0.0
        actual = free = 0.0
        while not stop.is_set():
            if now >= until:
                return now, ambulances
            demand.top_up(now)
            if now >= next_ambulance:
                ambulances.dispatch(now)
                next_ambulance += ambulance_every
            ambulances.before_step(now)
            controller.step(now)
            sim.simulationStep()
            now = sim.simulation.getTime()
            report = ambulances.after_step(now)
            if report is not None:
                put(report)
            a, f = edge_times(sim, edges)
            actual, free = actual + a, free + f
            if now >= next_snapshot:
                index = congestion_index(actual, free)
                put(_snapshot(sim, controller, index) | {"emergency": ambulances.last})
                next_snapshot += snapshot_every
                actual = free = 0.0
            if now <= begin:  # the warm-up runs flat out and counts for nothing
                wall0, actual, free = time.monotonic(), 0.0, 0.0
                continue
            lag = wall0 + (now - begin) / speed - time.monotonic()
            if lag > 0.001:
                stop.wait(lag)
            elif lag < -5.0:
                wall0 -= lag  # too slow for this speed: carry on from here, no catch-up burst
            if time.monotonic() - checked > 1.0:
                checked = time.monotonic()
                if parent is not None and not parent.is_alive():
                    return None
        return None
    finally:
        sim.close()
