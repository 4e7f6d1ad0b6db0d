"""One simulated episode: a map, a controller, a seed → the RESCO delay and what it cost.

SUMO runs in-process through libsumo (one simulation per process; the bench runs episodes in
worker processes). ``--time-to-teleport -1`` keeps jams real: a blocked vehicle waits instead of
vanishing, and vehicles that could not enter are written to the tripinfo and counted.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from citybrain.kernel.errors import InvalidInput
from citybrain.scenarios.traffic.controllers import Controller, PhaseChooser
from citybrain.scenarios.traffic.emergency import EMERGENCY_ID, EmergencyRun, GreenWave, dispatch
from citybrain.scenarios.traffic.metric import mean_delay, planned_departures, trip_of
from citybrain.scenarios.traffic.networks import TrafficMap, sumo_binary
from citybrain.scenarios.traffic.registry import make_controller
from citybrain.scenarios.traffic.signals import Trace


@dataclass
class EpisodeResult:
    """What one episode measured."""

    map: str
    controller: str
    seed: int
    mean_delay: float
    vehicles: int
    throughput: int
    never_departed: int
    unfinished: int
    wall_s: float
    sim_s: float = 0.0  # wall time inside SUMO's own steps
    decide_s: float = 0.0  # wall time inside the controller
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def _emergency_report(
    tripinfo: Path, end: float, run: EmergencyRun, preempted: int
) -> dict[str, Any]:
    trip = trip_of(tripinfo, EMERGENCY_ID) or {}
    arrived = trip.get("arrival", -1.0) >= 0
    depart = trip.get("depart", -1.0)
    travel = trip.get("duration") if arrived else (end - depart if depart >= 0 else None)
    return {
        "priority": run.priority,
        "arrived": arrived,
        "travel_time_s": travel,
        "time_loss_s": trip.get("timeLoss"),
        "preempted_signals": preempted,
    }


def sumo_args(traffic_map: TrafficMap, seed: int, tripinfo: Path, extra: list[Path]) -> list[str]:
    """The SUMO command line of one episode."""
    args = [
        sumo_binary("sumo"),
        "--net-file",
        str(traffic_map.net),
        "--route-files",
        ",".join(str(r) for r in traffic_map.routes),
        "--begin",
        f"{traffic_map.begin:g}",
        "--seed",
        str(seed),
        "--time-to-teleport",
        "-1",
        "--tripinfo-output",
        str(tripinfo),
        "--tripinfo-output.write-unfinished",
        "true",
        "--tripinfo-output.write-undeparted",
        "true",
        "--no-step-log",
        "true",
        "--no-warnings",
        "true",
    ]
    if extra:
        args += ["--additional-files", ",".join(str(p) for p in extra)]
    return args


def start_sumo(args: list[str]) -> Any:
    """Start libsumo with ``args``; a network or route file SUMO rejects is a one-line error."""
    import libsumo

    try:
        libsumo.start(args)
    except Exception as exc:  # libsumo raises its own FatalError/TraCIException types
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise InvalidInput(f"SUMO could not load the map: {message}", field="net") from None
    return libsumo


def run_episode(
    traffic_map: TrafficMap,
    controller: str | Controller,
    seed: int,
    *,
    workdir: Path | None = None,
    trace: Trace | None = None,
    emergency: EmergencyRun | None = None,
) -> EpisodeResult:
    """Simulate ``traffic_map`` from begin to end under ``controller`` with SUMO seed ``seed``.

    With ``emergency``, one emergency vehicle is dispatched (see emergency.py), signals pre-empt
    for it when ``emergency.priority``, and it is reported apart from everyone else's delay.
    """
    ctrl = make_controller(controller) if isinstance(controller, str) else controller
    if emergency and not isinstance(ctrl, PhaseChooser):
        raise InvalidInput(
            f"emergency: priority needs a controller that switches phases, not {ctrl.name!r}",
            field="emergency",
        )
    with tempfile.TemporaryDirectory(prefix="citybrain-traffic-") as tmp:
        folder = Path(workdir or tmp)
        tripinfo = folder / f"tripinfo-{ctrl.name.replace('/', '-')}-{seed}.xml"
        extra = ctrl.additional_files(folder, traffic_map.net)
        started = time.perf_counter()
        sim = start_sumo(sumo_args(traffic_map, seed, tripinfo, extra))
        sim_s = decide_s = 0.0
        wave: GreenWave | None = None
        try:
            ctrl.attach(sim, trace=trace)
            now = sim.simulation.getTime()
            if emergency and isinstance(ctrl, PhaseChooser):
                span = traffic_map.end - traffic_map.begin
                dispatch(sim, ctrl, traffic_map.begin + span * emergency.depart_fraction)
                wave = GreenWave(sim, ctrl) if emergency.priority else None
            while now < traffic_map.end:
                t0 = time.perf_counter()
                if wave:
                    wave.step(now)
                ctrl.step(now)
                t1 = time.perf_counter()
                sim.simulationStep()
                decide_s += t1 - t0
                sim_s += time.perf_counter() - t1
                now = sim.simulation.getTime()
            extra_out = getattr(ctrl, "report", lambda: {})()
        finally:
            sim.close()
        wall = time.perf_counter() - started
        report = mean_delay(
            tripinfo,
            end=traffic_map.end,
            begin=traffic_map.begin,
            planned=planned_departures(traffic_map.routes),
            exclude=frozenset({EMERGENCY_ID}),
        )
        if emergency:
            extra_out["emergency"] = _emergency_report(
                tripinfo, traffic_map.end, emergency, len(wave.preempted) if wave else 0
            )
    return EpisodeResult(
        map=traffic_map.name,
        controller=ctrl.name,
        seed=seed,
        mean_delay=report.mean_delay,
        vehicles=report.vehicles,
        throughput=report.arrived,
        never_departed=report.never_departed,
        unfinished=report.unfinished,
        wall_s=wall,
        sim_s=sim_s,
        decide_s=decide_s,
        extra=extra_out,
    )
