"""The signalised intersections of a running simulation, and the driver that switches them safely.

An :class:`Intersection` is read from SUMO once per episode: its controlled links grouped into
movements (incoming lane → outgoing lane), the distinct green phases of the network's own
program, and the network's yellow and all-red times. Controllers only ever *choose* one of those
green phases; the :class:`SignalDriver` inserts the yellow (and all-red) transition and enforces
the minimum green. A controller therefore cannot show a green the network's engineer did not
design, which is how "never conflicting greens" is guaranteed rather than hoped for.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GREEN = "Gg"
DEFAULT_MIN_GREEN_S = 5.0
DEFAULT_YELLOW_S = 3.0
UPSTREAM_RANGE_M = 200.0
DRIVER_PROGRAM = "citybrain"  # the program a SignalDriver installs on its traffic light
HOLD_S = 1e9  # its greens never end by themselves: only the driver moves on from one

Trace = dict[str, list[tuple[float, str]]]  # tls id → (time, state shown from then on)


@dataclass(frozen=True)
class Movement:
    """Traffic from one incoming lane to one outgoing lane through one intersection."""

    in_lane: str
    out_lane: str
    links: tuple[int, ...]


@dataclass
class Intersection:
    """A traffic light as controllers see it."""

    tls_id: str
    program: str
    greens: list[str]
    movements: list[Movement]
    green_movements: list[list[int]]  # per green phase: indices into movements that may go
    yellow_s: float
    all_red_s: float
    min_green_s: float
    # in_lane → {lane up to 200 m upstream: distance from its end to the stop line}
    approach: dict[str, dict[str, float]] = field(default_factory=dict)
    in_lanes: list[str] = field(default_factory=list)  # distinct, in link order
    out_lanes: list[str] = field(default_factory=list)
    movement_lanes: list[tuple[int, int]] = field(default_factory=list)  # (in index, out index)
    phase_in: Any = None  # numpy matrices, see __post_init__
    phase_out: Any = None
    approach_lanes: list[tuple[str, ...]] = field(default_factory=list)  # per in-lane index

    def __post_init__(self) -> None:
        self.in_lanes = list(dict.fromkeys(m.in_lane for m in self.movements))
        self.out_lanes = list(dict.fromkeys(m.out_lane for m in self.movements))
        ins = {lane: k for k, lane in enumerate(self.in_lanes)}
        outs = {lane: k for k, lane in enumerate(self.out_lanes)}
        self.movement_lanes = [(ins[m.in_lane], outs[m.out_lane]) for m in self.movements]
        # phase × lane matrices: how many of the phase's movements use each lane
        self.phase_in = np.zeros((len(self.greens), len(self.in_lanes)), dtype=np.int64)
        self.phase_out = np.zeros((len(self.greens), len(self.out_lanes)), dtype=np.int64)
        for p, ms in enumerate(self.green_movements):
            for m in ms:
                self.phase_in[p, self.movement_lanes[m][0]] += 1
                self.phase_out[p, self.movement_lanes[m][1]] += 1
        self.set_approach(self.approach)

    def protects(self, movement: int, phase: int) -> bool:
        """Whether green phase ``phase`` gives ``movement`` priority (a ``G`` on any of its
        links); a movement green there without it must yield (``g``, e.g. a permissive left)."""
        state = self.greens[phase]
        return any(state[x] == "G" for x in self.movements[movement].links)

    def set_approach(self, approach: dict[str, dict[str, float]]) -> None:
        """Record which lanes count towards each incoming lane's queue."""
        self.approach = approach
        self.approach_lanes = [tuple(approach.get(lane, {lane: 0.0})) for lane in self.in_lanes]


def transition(current: str, target: str, *, all_red: bool = False) -> str:
    """The yellow (or all-red) state between two green states of the same intersection."""
    out = []
    for now, nxt in zip(current, target, strict=True):
        if now in GREEN and nxt in GREEN:
            out.append(now)
        elif now in GREEN:
            out.append("r" if all_red else "y")
        elif now == "s" and nxt == "s":
            out.append("s")
        else:
            out.append("r")
    return "".join(out)


def _is_green(state: str) -> bool:
    return any(c in GREEN for c in state) and "y" not in state


def _is_all_red(state: str) -> bool:
    return all(c in "rs" for c in state)


def read_intersections(sim: Any) -> list[Intersection]:
    """Every traffic light of the loaded network, from its current program."""
    lane_preds = _lane_predecessors(sim)
    controlled_in = set()
    result = []
    for tls in sim.trafficlight.getIDList():
        program = sim.trafficlight.getProgram(tls)
        logic = next(
            (lg for lg in sim.trafficlight.getAllProgramLogics(tls) if lg.programID == program),
            sim.trafficlight.getAllProgramLogics(tls)[0],
        )
        greens = list(dict.fromkeys(p.state for p in logic.phases if _is_green(p.state)))
        yellows = [p.duration for p in logic.phases if "y" in p.state]
        reds = [p.duration for p in logic.phases if _is_all_red(p.state)]
        mins = [p.minDur for p in logic.phases if _is_green(p.state) and p.minDur < p.duration]
        by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, links in enumerate(sim.trafficlight.getControlledLinks(tls)):
            for in_lane, out_lane, _via in links:
                by_pair[(in_lane, out_lane)].append(index)
        movements = [Movement(i, o, tuple(ix)) for (i, o), ix in by_pair.items()]
        green_movements = [
            [k for k, m in enumerate(movements) if any(g[ix] in GREEN for ix in m.links)]
            for g in greens
        ]
        inter = Intersection(
            tls_id=tls,
            program=program,
            greens=greens,
            movements=movements,
            green_movements=green_movements,
            yellow_s=max(yellows) if yellows else DEFAULT_YELLOW_S,
            all_red_s=max(reds) if reds else 0.0,
            min_green_s=max(min(mins), DEFAULT_MIN_GREEN_S) if mins else DEFAULT_MIN_GREEN_S,
        )
        controlled_in.update(inter.in_lanes)
        result.append(inter)
    for inter in result:
        inter.set_approach(
            {lane: _upstream(sim, lane, lane_preds, controlled_in) for lane in inter.in_lanes}
        )
    return result


def _lane_predecessors(sim: Any) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = defaultdict(list)
    for lane in sim.lane.getIDList():
        if lane.startswith(":"):
            continue
        for link in sim.lane.getLinks(lane):
            if link[6] != "t":  # a U-turn feeds the opposite direction, not this queue
                preds[link[0]].append(lane)
    return preds


def _upstream(
    sim: Any, lane: str, preds: dict[str, list[str]], controlled_in: set[str]
) -> dict[str, float]:
    """The lane and the lanes feeding it, breadth first, until 200 m of road are covered,
    each with the distance from its downstream end to the stop line.

    Stops at lanes that are themselves the approach of another traffic light, so a queue is
    counted by the intersection it waits for.
    """
    lanes = {lane: 0.0}  # lane → distance from its downstream end to the stop line
    frontier = [(lane, sim.lane.getLength(lane))]
    while frontier:
        current, covered = frontier.pop(0)
        if covered >= UPSTREAM_RANGE_M:
            continue
        for up in preds.get(current, []):
            if up in lanes or up in controlled_in:
                continue
            lanes[up] = covered
            frontier.append((up, covered + sim.lane.getLength(up)))
    return lanes


class SignalDriver:
    """Shows a controller's chosen green on one intersection, through yellow and all-red."""

    def __init__(
        self, sim: Any, inter: Intersection, *, trace: list[tuple[float, str]] | None = None
    ) -> None:
        self.sim = sim
        self.inter = inter
        self.trace = trace
        self.phase = 0
        self.target = 0
        self.mode = "green"  # green | yellow | all_red
        self.since = sim.simulation.getTime()
        self.until = self.since
        self.next_min_green_s = 0.0  # a controller may ask more than the minimum for the next green
        self.green_min_s = inter.min_green_s  # the minimum of the green being shown
        self.wake = self.since + inter.min_green_s  # when this intersection next needs attention
        self.hold: int | None = None  # a phase pre-empted for an emergency vehicle
        # (from, to) → the switch's first phase in the program, and the states it shows
        self._switches = self._install(sim, inter)
        native = getattr(sim, "_libsumo", None)
        self._set_phase = native.trafficlight_setPhase if native else sim.trafficlight.setPhase
        self._set_phase(inter.tls_id, 0)
        self._record(inter.greens[0])

    @staticmethod
    def _install(sim: Any, inter: Intersection) -> dict[tuple[int, int], tuple[int, list[str]]]:
        """Load the driver's program on the traffic light; returns per switch (from, to) its
        first phase and the states it runs through (yellow, then any all-red).

        The program's first phases are the greens, held until the driver moves on. For every
        ordered pair of greens follows the yellow between them and, where the network has one,
        the all-red, each as long as the network's and each leading to the next, so that SUMO
        itself ends a switch on the target green: a switch is one call, not one per state.
        """
        greens = inter.greens
        phases = [sim.trafficlight.Phase(HOLD_S, state, -1, -1, ()) for state in greens]
        switches: dict[tuple[int, int], tuple[int, list[str]]] = {}
        for a, b in ((a, b) for a in range(len(greens)) for b in range(len(greens)) if a != b):
            steps = [(transition(greens[a], greens[b]), inter.yellow_s)]
            if inter.all_red_s > 0:
                steps.append((transition(greens[a], greens[b], all_red=True), inter.all_red_s))
            switches[a, b] = (len(phases), [state for state, _ in steps])
            for i, (state, duration) in enumerate(steps):
                after = len(phases) + 1 if i + 1 < len(steps) else b
                phases.append(sim.trafficlight.Phase(duration, state, -1, -1, (after,)))
        logic = sim.trafficlight.Logic(DRIVER_PROGRAM, 0, 0, phases)
        sim.trafficlight.setProgramLogic(inter.tls_id, logic)
        sim.trafficlight.setProgram(inter.tls_id, DRIVER_PROGRAM)
        return switches

    def _record(self, state: str) -> None:
        if self.trace is not None:
            self.trace.append((self.sim.simulation.getTime(), state))

    def green_for(self, now: float) -> float:
        """Seconds the current green has been shown (0 while changing)."""
        return now - self.since if self.mode == "green" else 0.0

    def can_switch(self, now: float) -> bool:
        """True when the current green has run its minimum and a new one may be asked for."""
        return self.mode == "green" and now - self.since >= self.green_min_s

    def request(self, phase: int, now: float) -> None:
        """Ask for green phase ``phase``; ignored unless :meth:`can_switch`."""
        if phase == self.phase or not self.can_switch(now):
            return
        self.target = phase
        self.mode = "yellow"
        self.until = self.wake = now + self.inter.yellow_s
        first, states = self._switches[self.phase, phase]
        self._set_phase(self.inter.tls_id, first)  # SUMO goes on to the target by itself
        self._record(states[0])

    def tick(self, now: float) -> None:
        """Follow the transition SUMO is running (see :meth:`_install`); call when due."""
        if self.mode == "green" or now < self.until:
            return
        if self.mode == "yellow" and self.inter.all_red_s > 0:
            self.mode = "all_red"
            self.until = self.wake = now + self.inter.all_red_s
            _, states = self._switches[self.phase, self.target]
            self._record(states[1])  # the all-red after the yellow
            return
        self.mode = "green"
        self.phase = self.target
        self.since = now
        self.green_min_s = max(self.inter.min_green_s, self.next_min_green_s)
        self.next_min_green_s = 0.0
        self.wake = now + self.green_min_s
        self._record(self.inter.greens[self.target])
