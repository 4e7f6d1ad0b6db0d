"""Signal controllers: the baselines RESCO compares against, and the frame CityBrain's uses.

Every controller that changes signals does it through :class:`~.signals.SignalDriver`, so each
shows only the network's own green phases with its yellow and all-red in between.

- ``fixed``: the network's own fixed-time programs, untouched.
- ``actuated``: the same phases as SUMO gap-based actuated programs (SUMO's default detectors).
- ``max-pressure``: Varaiya's max-pressure as published, with the corrections the reference run
  needed: pressure summed per movement (incoming lane → outgoing lane), queues counted up to
  200 m upstream (some approach lanes are under a metre long), and on the outgoing side only the
  halted vehicles of the lane just past the junction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from citybrain.scenarios.traffic.signals import (
    DEFAULT_MIN_GREEN_S,
    Intersection,
    SignalDriver,
    Trace,
    read_intersections,
)

ACTUATED_PROGRAM = "citybrain-actuated"
ACTUATED_MAX_GREEN_S = 50.0


class LaneCounts:
    """Lane readings straight from SUMO, through libsumo's C functions when available.

    No per-step cache and no subscription: only the few intersections deciding in a step read
    their lanes, a direct read costs about 0.15 µs, and both a cache and a subscription cost
    more than they save (measured on grid4x4). Edge totals (the sums over an edge's lanes, as
    SUMO counts them) let a controller skip every lane of an empty edge in one read.
    """

    def __init__(self, sim: Any) -> None:
        native = getattr(sim, "_libsumo", None)
        self.halting = (
            native.lane_getLastStepHaltingNumber if native else sim.lane.getLastStepHaltingNumber
        )
        self.count = (
            native.lane_getLastStepVehicleNumber if native else sim.lane.getLastStepVehicleNumber
        )
        # a whole edge's vehicles / halted vehicles, the sums over its lanes, in one read
        self.edge_count = (
            native.edge_getLastStepVehicleNumber if native else sim.edge.getLastStepVehicleNumber
        )
        self.edge_halting = (
            native.edge_getLastStepHaltingNumber if native else sim.edge.getLastStepHaltingNumber
        )
        # seconds the halted vehicles on a lane have waited, summed (SUMO's waiting time)
        self.waiting = native.lane_getWaitingTime if native else sim.lane.getWaitingTime
        self.edge_waiting = native.edge_getWaitingTime if native else sim.edge.getWaitingTime


class Controller:
    """Base: does nothing, so the network's own programs run (fixed-time)."""

    name = "fixed"

    def additional_files(self, workdir: Path, net: Path) -> list[Path]:
        """Extra SUMO files to load with the network (programs, detectors)."""
        return []

    def attach(self, sim: Any, *, trace: Trace | None = None) -> None:
        """Called once after SUMO has loaded the network."""
        self.sim = sim

    def step(self, now: float) -> None:
        """Called before every simulation step."""

    @property
    def drivers(self) -> list[SignalDriver]:
        """The signal drivers this controller switches (none for the networks' own programs)."""
        return []


class Actuated(Controller):
    """SUMO's gap-based actuated control over the network's own phases."""

    name = "actuated"

    def additional_files(self, workdir: Path, net: Path) -> list[Path]:
        """One actuated ``tlLogic`` per traffic light, written next to the episode's output."""
        root = ET.Element("additional")
        for logic in ET.parse(net).getroot().iter("tlLogic"):
            out = ET.SubElement(
                root,
                "tlLogic",
                id=logic.get("id", ""),
                type="actuated",
                programID=ACTUATED_PROGRAM,
                offset="0",
            )
            for phase in logic.iter("phase"):
                state = phase.get("state", "")
                duration = float(phase.get("duration", "0"))
                attrs = {"duration": f"{duration:g}", "state": state}
                if "y" not in state and any(c in "Gg" for c in state):
                    lo = float(phase.get("minDur", min(DEFAULT_MIN_GREEN_S, duration)))
                    hi = float(phase.get("maxDur", max(ACTUATED_MAX_GREEN_S, duration)))
                    if lo >= duration >= hi:  # a static program: SUMO's netconvert defaults
                        lo, hi = min(DEFAULT_MIN_GREEN_S, duration), ACTUATED_MAX_GREEN_S
                    attrs |= {"minDur": f"{lo:g}", "maxDur": f"{max(hi, lo):g}"}
                ET.SubElement(out, "phase", attrs)
        path = workdir / "actuated.add.xml"
        ET.ElementTree(root).write(path, encoding="unicode")
        return [path]


class PhaseChooser(Controller):
    """A controller that picks a green phase per intersection; the driver does the switching."""

    decision_interval_s = 5.0
    min_green_s = 0.0  # a floor over the network's own minimum green

    def attach(self, sim: Any, *, trace: Trace | None = None) -> None:
        """Read the intersections and take over their signals."""
        super().attach(sim)
        self.intersections: list[Intersection] = read_intersections(sim)
        for inter in self.intersections:
            inter.min_green_s = max(inter.min_green_s, self.min_green_s)
        self.lanes = LaneCounts(sim)
        self._drivers = [
            SignalDriver(sim, i, trace=None if trace is None else trace.setdefault(i.tls_id, []))
            for i in self.intersections
        ]

    @property
    def drivers(self) -> list[SignalDriver]:
        """One driver per intersection."""
        return self._drivers

    def step(self, now: float) -> None:
        """Advance transitions, then let every intersection that may switch choose."""
        for k, driver in enumerate(self._drivers):
            if now < driver.wake:
                continue
            if driver.mode != "green":
                driver.tick(now)
                continue
            if driver.hold is not None:  # pre-empted: no choice until released
                driver.request(driver.hold, now)
                driver.wake = now + 1.0
                continue
            choice = self.choose(k, now)
            if choice != driver.phase:
                driver.request(choice, now)
            if driver.mode == "green":
                driver.wake = now + self.decision_interval_s

    def choose(self, k: int, now: float) -> int:
        """The green phase intersection ``k`` should show next (its current one to keep it)."""
        raise NotImplementedError


class MaxPressure(PhaseChooser):
    """Max-pressure: the phase whose movements have the largest upstream − downstream queue.

    Decides every 3 s after a minimum green of at least 10 s (the variant closest to the
    independent SUMO 1.28 reference on all four development maps; see docs/traffic.md).
    """

    name = "max-pressure"
    decision_interval_s = 3.0
    min_green_s = 10.0

    def queues(self, inter: Intersection) -> list[int]:
        """Halted vehicles per incoming lane, counted on the lanes feeding it up to 200 m back."""
        halting = self.lanes.halting
        return [
            halting(lanes[0]) if len(lanes) == 1 else sum(map(halting, lanes))
            for lanes in inter.approach_lanes
        ]

    def pressures(self, k: int) -> list[float]:
        """Per green phase of intersection ``k``: Σ over its movements of (queue in − out)."""
        inter = self.intersections[k]
        queue = np.array(self.queues(inter))
        out = np.fromiter(map(self.lanes.halting, inter.out_lanes), dtype=np.int64)
        return (inter.phase_in @ queue - inter.phase_out @ out).tolist()

    def choose(self, k: int, now: float) -> int:
        """Largest pressure wins; the current phase keeps ties."""
        pressures = self.pressures(k)
        current = self._drivers[k].phase
        return max(range(len(pressures)), key=lambda p: (pressures[p], p == current))
