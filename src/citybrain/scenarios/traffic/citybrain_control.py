"""CityBrain's signal controller: pressure that sees what is coming and does not cut platoons.

Max-pressure compares halted queues only. It does not see the platoon rolling towards a red,
it punishes a movement for every halted car downstream even when there is room left, and it
switches away from a green that is about to pass a platoon — each switch costs a yellow, a stop
and a restart. CityBrain's controller keeps pressure as the way to *choose* and changes what it
counts and when it switches:

1. **Demand that includes arrivals.** Per movement: halted vehicles on the incoming lane and
   the lanes feeding it up to 200 m back, plus half of the vehicles still moving on the
   incoming lane, scaled to its first 150 m before the stop line (a lane-level estimate; no
   per-vehicle reads).
2. **Entries wait outside.** Demand on lanes fed straight from the network's boundary counts
   half: a queue inside the network spills back into upstream junctions and blocks other
   movements, a queue at an entry blocks only itself (perimeter gating).
3. **Blocked, not penalised.** A movement whose outgoing lane is spilled back (halted vehicles
   fill 60 % of its storage at 7.5 m per vehicle) counts zero — it could not discharge — and
   otherwise downstream queues do not count against it.
4. **Gap-out extension.** When another phase would win, the current green is kept while a
   moving vehicle on its approach (any lane ending within 60 m of the stop line: some
   incoming lanes are a metre long) reaches the stop line within 3 s, up to 60 s.
5. **No starvation.** A phase that has had demand without a green for 180 s wins regardless.

Every quantity is read from the network and the vehicles on it; nothing is tuned per map. The
decision runs every 2 s once the minimum green has passed; the per-phase sums are one small
matrix product, and vehicle positions are read only when a switch is on the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from citybrain.scenarios.traffic.controllers import MaxPressure
from citybrain.scenarios.traffic.signals import Intersection, Trace


class CityBrainControl(MaxPressure):
    """Pressure-chosen phases with gap-out extension and a starvation guard."""

    name = "citybrain"
    decision_interval_s = 2.0
    min_green_s = 0.0  # the network's own minimum green (5 s when it declares none)
    approach_weight = 0.5  # a moving vehicle counts half a queued one
    approach_range_m = 150.0
    entry_factor = 0.5
    spillback_share = 0.6
    vehicle_space_m = 7.5
    gap_s = 3.0
    gap_reach_m = 60.0  # approach lanes ending this close to the stop line are searched
    max_green_s = 60.0
    max_red_s = 180.0

    def attach(self, sim: Any, *, trace: Trace | None = None) -> None:
        """Also remember when each phase was last green, and each lane's length."""
        super().attach(sim, trace=trace)
        now = sim.simulation.getTime()
        fed = {
            link[0].rsplit("_", 1)[0]
            for lane in sim.lane.getIDList()
            if not lane.startswith(":")
            for link in sim.lane.getLinks(lane)
            if link[6] != "t"  # a U-turn at a dead end does not feed the entry
        }
        self.boundary = {
            lane
            for i in self.intersections
            for lanes in i.approach_lanes
            for lane in lanes
            if lane.rsplit("_", 1)[0] not in fed
        }
        self.last_green = [[now] * len(i.greens) for i in self.intersections]
        native = getattr(sim, "_libsumo", None)
        self._lane_vehicles = (
            native.lane_getLastStepVehicleIDs if native else sim.lane.getLastStepVehicleIDs
        )
        self._speed = native.vehicle_getSpeed if native else sim.vehicle.getSpeed
        self._position = native.vehicle_getLanePosition if native else sim.vehicle.getLanePosition
        self.length = {
            lane: sim.lane.getLength(lane) for i in self.intersections for lane in i.in_lanes
        }
        self.shape = [self._shape(i) for i in self.intersections]
        # per phase: (lane, distance from its end to the stop line, length) of every approach
        # lane of the phase's incoming lanes that lies within the gap reach of the stop line
        self.green_lanes = [
            [self._gap_lanes(i, {i.in_lanes[i.movement_lanes[m][0]] for m in ms}) for ms in gm]
            for i in self.intersections
            for gm in [i.green_movements]
        ]

    def _shape(self, inter: Intersection) -> tuple[Any, ...]:
        """Constants of one intersection for :meth:`pressures`, computed once.

        ``lanes`` are every lane of every approach, ``owner`` the incoming lane each belongs
        to; ``weight`` scales the moving vehicles of each incoming lane to its first 150 m.
        """
        lanes = [lane for approach in inter.approach_lanes for lane in approach]
        owner = [k for k, approach in enumerate(inter.approach_lanes) for _ in approach]
        weight = np.array(
            [
                self.approach_weight * min(1.0, self.approach_range_m / max(self.length[lane], 1))
                for lane in inter.in_lanes
            ]
        )
        entry = np.array(
            [
                self.entry_factor if self.boundary.intersection(approach) else 1.0
                for approach in inter.approach_lanes
            ]
        )
        storage = np.array(
            [
                self.spillback_share * self.sim.lane.getLength(lane) / self.vehicle_space_m
                for lane in inter.out_lanes
            ]
        )
        movement_in = np.array([i for i, _ in inter.movement_lanes], dtype=np.int64)
        movement_out = np.array([o for _, o in inter.movement_lanes], dtype=np.int64)
        phase_movements = np.zeros((len(inter.greens), len(inter.movements)))
        for p, ms in enumerate(inter.green_movements):
            phase_movements[p, ms] = 1.0
        owners = np.array(owner, dtype=np.int64)
        # the position in ``lanes`` of each incoming lane (the first lane of its approach)
        first = np.searchsorted(owners, np.arange(len(inter.in_lanes)))
        return (
            lanes,
            owners,
            first,
            weight,
            entry,
            storage,
            movement_in,
            movement_out,
            phase_movements,
        )

    def pressures(self, k: int) -> list[float]:
        """Per green phase: Σ over its movements that can discharge of (queue + arrivals)."""
        inter = self.intersections[k]
        lanes, owner, first, weight, entry, storage, movement_in, movement_out, phase_movements = (
            self.shape[k]
        )
        halting, n_in = self.lanes.halting, len(inter.in_lanes)
        halted = np.fromiter(map(halting, lanes), dtype=float, count=len(lanes))
        queue = np.bincount(owner, weights=halted, minlength=n_in)
        on_lane = np.fromiter(map(self.lanes.count, inter.in_lanes), dtype=float, count=n_in)
        moving = on_lane - halted[first]
        demand = (queue + weight * moving) * entry
        out = np.fromiter(map(halting, inter.out_lanes), dtype=float)
        open_ = out < storage
        return (phase_movements @ (demand[movement_in] * open_[movement_out])).tolist()

    def _gap_lanes(self, inter: Intersection, in_lanes: set[str]) -> list[tuple[str, float, float]]:
        reach = self.gap_reach_m
        return [
            (lane, offset, self.sim.lane.getLength(lane))
            for in_lane in sorted(in_lanes)
            for lane, offset in inter.approach.get(in_lane, {in_lane: 0.0}).items()
            if offset < reach
        ]

    def arriving(self, lanes: list[tuple[str, float, float]]) -> int:
        """Moving vehicles that reach the stop line within the gap time.

        Looks along the approach, not only at the incoming lane: some incoming lanes are a metre
        long, and the platoon is on the lane before it.
        """
        total = 0
        for lane, offset, length in lanes:
            for veh in self._lane_vehicles(lane):
                speed = self._speed(veh)
                if speed > 1.0 and offset + length - self._position(veh) <= speed * self.gap_s:
                    total += 1
        return total

    def choose(self, k: int, now: float) -> int:
        """The pressure winner, unless the current green is still passing arriving vehicles."""
        driver = self._drivers[k]
        current = driver.phase
        last = self.last_green[k]
        last[current] = now
        pressures = self.pressures(k)
        starving = []
        for p, pressure in enumerate(pressures):
            if pressure <= 0:  # nobody waits for it: it cannot be starving
                last[p] = now
            elif now - last[p] > self.max_red_s:
                starving.append(p)
        if starving:
            return max(starving, key=pressures.__getitem__)
        best = max(range(len(pressures)), key=pressures.__getitem__)
        if pressures[best] <= pressures[current]:
            return current
        if driver.green_for(now) < self.max_green_s and self.arriving(self.green_lanes[k][current]):
            return current
        return best
