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
decision runs every 2 s once the minimum green has passed. It reads as little as it can: each
intersection's lanes, lengths and phase memberships are worked out once (:meth:`_plan`), an
empty edge is one read for all its lanes, an outgoing lane is read only behind a movement with
demand, and vehicle positions only when a switch is on the table.
"""

from __future__ import annotations

from typing import Any

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
        """Also remember when each phase was last green, and each intersection's lane plan."""
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
        # every lane's length, read once: incoming, upstream and outgoing lanes
        self.length = {
            lane: sim.lane.getLength(lane)
            for i in self.intersections
            for lane in [*i.in_lanes, *i.out_lanes, *(x for a in i.approach_lanes for x in a)]
        }
        self.plan = [self._plan(i) for i in self.intersections]
        # per phase: (lane, distance from its end to the stop line, length) of every approach
        # lane of the phase's incoming lanes that lies within the gap reach of the stop line
        self.green_lanes = [
            [self._gap_lanes(i, {i.in_lanes[i.movement_lanes[m][0]] for m in ms}) for ms in gm]
            for i in self.intersections
            for gm in [i.green_movements]
        ]

    def _plan(self, inter: Intersection) -> tuple[list[Any], tuple[Any, ...], int]:
        """Constants of one intersection for :meth:`pressures`, computed once.

        Incoming lanes in runs of the same edge, each run as (edge, whether any of its lanes
        has feeding lanes, lanes). Per lane: the lane, the lanes feeding it (up to 200 m back),
        the weight that scales its moving vehicles to its first 150 m, its entry factor, and
        its movements grouped by the phases they are green in, as (outgoing lane indices,
        phases). Then the outgoing lanes, each one's spill-back threshold (halted vehicles),
        and the lanes grouped by edge.
        """
        phases: list[tuple[int, ...]] = [
            tuple(p for p, ms in enumerate(inter.green_movements) if m in ms)
            for m in range(len(inter.movements))
        ]
        incoming: list[tuple[str, bool, list[Any]]] = []
        for k, approach in enumerate(inter.approach_lanes):
            groups: dict[tuple[int, ...], list[int]] = {}
            for (i, o), ps in zip(inter.movement_lanes, phases, strict=True):
                if i == k and ps:
                    groups.setdefault(ps, []).append(o)
            if not groups:  # no green serves it: its queue never counts
                continue
            lane = approach[0]
            weight = self.approach_weight * min(
                1.0, self.approach_range_m / max(self.length[lane], 1)
            )
            entry = self.entry_factor if self.boundary.intersection(approach) else 1.0
            moves = tuple((tuple(outs), ps) for ps, outs in groups.items())
            edge = self.sim.lane.getEdgeID(lane)
            if not incoming or incoming[-1][0] != edge:
                incoming.append((edge, False, []))
            _, fed, lanes = incoming[-1]
            lanes.append((lane, approach[1:], weight, entry, moves))
            incoming[-1] = (edge, fed or len(approach) > 1, lanes)
        # outgoing lanes by edge: (edge, fewest halted vehicles that spill one of them back,
        # the lanes' indices), and each outgoing lane's edge group
        storage = [
            self.spillback_share * self.length[lane] / self.vehicle_space_m
            for lane in inter.out_lanes
        ]
        by_edge: dict[str, list[int]] = {}
        for o, lane in enumerate(inter.out_lanes):
            by_edge.setdefault(self.sim.lane.getEdgeID(lane), []).append(o)
        outgoing = [(edge, min(storage[o] for o in os), os) for edge, os in by_edge.items()]
        group = [0] * len(inter.out_lanes)
        for g, (_, _, os) in enumerate(outgoing):
            for o in os:
                group[o] = g
        return incoming, (inter.out_lanes, storage, outgoing, group), len(inter.greens)

    def pressures(self, k: int) -> list[float]:
        """Per green phase: Σ over its movements that can discharge of (queue + arrivals).

        Plain Python over the intersection's plan, reading a lane only when it matters: the
        lanes of an empty edge (one read) have no vehicles, an empty lane no halted vehicle,
        and outgoing lanes are read only for a movement with demand, once, by edge while the
        edge as a whole has fewer halted vehicles than spill any of its lanes back. On these
        small intersections this beats numpy's per-call overhead.
        """
        incoming, (out_lanes, storage, outgoing, group), n_phases = self.plan[k]
        lanes_ = self.lanes
        halting, count, edge_count = lanes_.halting, lanes_.count, lanes_.edge_count
        pressure = [0.0] * n_phases
        open_: list[bool | None] = [None] * len(out_lanes)  # outgoing lane can take vehicles
        for edge, fed, lanes in incoming:
            occupied = edge_count(edge)
            if not occupied and not fed:
                continue
            for lane, upstream, weight, entry, moves in lanes:
                queue = sum(map(halting, upstream)) if upstream else 0
                on_lane = count(lane) if occupied else 0
                if on_lane:
                    halted = halting(lane)
                    demand = (queue + halted + weight * (on_lane - halted)) * entry
                elif queue:
                    demand = queue * entry
                else:
                    continue
                for outs, phases in moves:
                    movements = 0  # of this group, those that can discharge
                    for o in outs:
                        ok = open_[o]
                        if ok is None:
                            out_edge, least, same_edge = outgoing[group[o]]
                            if lanes_.edge_halting(out_edge) < least:  # no lane of it spilled
                                for x in same_edge:
                                    open_[x] = True
                                ok = True
                            else:
                                for x in same_edge:
                                    open_[x] = halting(out_lanes[x]) < storage[x]
                                ok = open_[o]
                        movements += ok
                    if movements:
                        value = demand * movements
                        for p in phases:
                            pressure[p] += value
        return pressure

    def _gap_lanes(self, inter: Intersection, in_lanes: set[str]) -> list[tuple[str, float, float]]:
        reach = self.gap_reach_m
        return [
            (lane, offset, self.length[lane])
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
        cutoff = now - self.max_red_s
        best, top = current, pressures[current]  # the first phase with the largest pressure
        starving, hunger = -1, 0.0  # the same among phases red with demand for max_red_s
        for p, pressure in enumerate(pressures):
            if pressure <= 0:  # nobody waits for it: it cannot be starving
                last[p] = now
                continue
            if pressure > top:
                best, top = p, pressure
            if last[p] < cutoff and pressure > hunger:
                starving, hunger = p, pressure
        if starving >= 0:
            return starving
        if best == current:
            return current
        if now - driver.since < self.max_green_s and self.arriving(self.green_lanes[k][current]):
            return current
        return best
