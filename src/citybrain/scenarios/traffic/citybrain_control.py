"""CityBrain's signal controller: pressure that sees what is coming and does not cut platoons.

Max-pressure compares halted queues only. It does not see the platoon rolling towards a red,
it punishes a movement for every halted car downstream even when there is room left, and it
switches away from a green that is about to pass a platoon — each switch costs a yellow, a stop
and a restart. CityBrain's controller keeps pressure as the way to *choose* and changes what it
counts and when it switches:

1. **Demand that includes arrivals.** Per movement: halted vehicles on the incoming lane and
   the lanes feeding it up to 200 m back, plus half of the vehicles still moving on the
   incoming lane, scaled to its first 150 m before the stop line (a lane-level estimate; no
   per-vehicle reads); every 60 s the halted vehicles have waited adds one more.
2. **Entries wait outside.** Demand on lanes fed straight from the network's boundary counts
   half: a queue inside the network spills back into upstream junctions and blocks other
   movements, a queue at an entry blocks only itself (perimeter gating).
3. **Blocked, not penalised.** A movement whose outgoing lane is spilled back (halted vehicles
   fill 60 % of its storage at 7.5 m per vehicle) counts zero — it could not discharge — and
   otherwise downstream queues do not count against it.
4. **Permissive turns count half.** In a phase where a movement must yield (green, but no
   ``G`` on its links), it discharges at about half the protected rate, so a phase that
   protects it can win.
5. **Gap-out extension.** When another phase would win, the current green is kept while a
   moving vehicle of a movement the switch would stop (any approach lane ending within 60 m of
   the stop line: some incoming lanes are a metre long) reaches the stop line within 3 s, up to
   60 s.
6. **A switch waits until someone is there for it.** While the current green serves anyone, a
   switch waits until a vehicle the new green would serve is halted or reaches the line in 3 s.
7. **No starvation.** A phase that has had demand without a green for 180 s wins regardless.

Every quantity is read from the network and the vehicles on it; nothing is tuned per map. The
decision runs every 2 s once the minimum green has passed. It reads as little as it can: each
intersection's lanes, lengths and phase memberships are worked out once (:meth:`_plan`), an
empty edge is one read for all its lanes, an outgoing lane is read only behind a movement with
demand, and vehicle positions only when a switch is on the table; what a switch from one phase
to another stops and serves is worked out once per pair (:meth:`switch_lanes`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from citybrain.scenarios.traffic.controllers import MaxPressure
from citybrain.scenarios.traffic.signals import Intersection, Trace


class SwitchLanes(NamedTuple):
    """The lanes a phase switch would stop and serve (:meth:`CityBrainControl.switch_lanes`)."""

    stopped: list[tuple[str, float, float]]
    served: list[int]  # incoming lane indices
    served_near: list[tuple[str, float, float]]


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
    permissive_weight = 0.5  # a movement that must yield ('g') discharges at about half rate
    wait_unit_s = 60.0  # every 60 s a halted vehicle has waited weighs one more vehicle

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
        # per intersection and incoming lane: anyone halted on its approach (pressures())
        self.queued = [[False] * len(i.in_lanes) for i in self.intersections]
        self._waiting = self.lanes.waiting
        # (intersection, from phase, to phase) → what that switch stops and serves, worked out
        # when first needed (see switch_lanes)
        self._switch: dict[tuple[int, int, int], SwitchLanes] = {}

    def _plan(self, inter: Intersection) -> tuple[list[Any], tuple[Any, ...], int]:
        """Constants of one intersection for :meth:`pressures`, computed once.

        Incoming lanes in runs of the same edge, each run as (edge, whether any of its lanes
        has feeding lanes, lanes). Per lane: the lane, the lanes feeding it (up to 200 m back),
        the weight that scales its moving vehicles to its first 150 m, its entry factor, and
        its movements grouped by the phases they are green in, as (outgoing lane indices,
        (phase, weight) pairs; the weight is lower where the movement only yields). Then the
        outgoing lanes, each one's spill-back threshold (halted vehicles), and the lanes grouped
        by edge.
        """
        phases: list[tuple[int, ...]] = [
            tuple(p for p, ms in enumerate(inter.green_movements) if m in ms)
            for m in range(len(inter.movements))
        ]
        # per movement: (phase, weight) of each phase it is green in; a permissive green
        # (no 'G': it yields to the phase's other movements) weighs less
        weighted: list[tuple[tuple[int, float], ...]] = [
            tuple((p, 1.0 if inter.protects(m, p) else self.permissive_weight) for p in ps)
            for m, ps in enumerate(phases)
        ]
        incoming: list[tuple[str, bool, list[Any]]] = []
        for k, approach in enumerate(inter.approach_lanes):
            groups: dict[tuple[tuple[int, float], ...], list[int]] = {}
            for (i, o), ps in zip(inter.movement_lanes, weighted, strict=True):
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
            lanes.append((k, lane, approach[1:], weight, entry, moves))
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
        edge_halting, waiting, unit = lanes_.edge_halting, self._waiting, self.wait_unit_s
        pressure = [0.0] * n_phases
        queued = self.queued[k] = [False] * len(self.queued[k])  # anyone halted, per lane
        open_: list[bool | None] = [None] * len(out_lanes)  # outgoing lane can take vehicles
        for edge, fed, lanes in incoming:
            vehicles = edge_count(edge)  # still unaccounted for on this edge's lanes
            if not vehicles and not fed:
                continue
            # the same for halted vehicles (one vehicle: read its lane instead)
            stopped = edge_halting(edge) if vehicles > 1 else vehicles
            for index, lane, upstream, weight, entry, moves in lanes:
                # halted vehicles (and the minutes they have waited) on the lanes feeding it
                queue = sum(map(halting, upstream)) if upstream else 0
                if queue:  # a lane without a halted vehicle has waited 0 s
                    queue += sum(map(waiting, upstream)) / unit
                on_lane = count(lane) if vehicles else 0
                if on_lane:
                    vehicles -= on_lane
                    halted = halting(lane) if stopped else 0
                    if halted:
                        stopped -= halted
                        queue += halted + waiting(lane) / unit
                    demand = (queue + weight * (on_lane - halted)) * entry
                elif queue:
                    demand = queue * entry
                else:
                    continue
                queued[index] = queue > 0
                for outs, phases in moves:
                    movements = 0  # of this group, those that can discharge
                    for o in outs:
                        ok = open_[o]
                        if ok is None:
                            out_edge, least, same_edge = outgoing[group[o]]
                            if edge_halting(out_edge) < least:  # no lane of it spilled
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
                        for p, share in phases:
                            pressure[p] += value * share
        return pressure

    def switch_lanes(self, k: int, current: int, target: int) -> SwitchLanes:
        """What a switch of intersection ``k`` from ``current`` to ``target`` would change.

        ``stopped``: the approach lanes (within the gap reach) of movements green now and red
        after it — a vehicle on a movement that stays green (a right turn in both phases) is no
        reason to hold the current green. ``served``: the incoming lanes (indices) of movements
        the switch would newly serve — red now, or permissive now and protected after it — and
        ``served_near``, their approach lanes within the gap reach. Worked out once per pair.
        """
        key = (k, current, target)
        lanes = self._switch.get(key)
        if lanes is None:
            inter = self.intersections[k]
            green_now = set(inter.green_movements[current])
            kept = set(inter.green_movements[target])
            stopped = {
                inter.in_lanes[inter.movement_lanes[m][0]] for m in green_now if m not in kept
            }
            served = sorted(
                {
                    inter.movement_lanes[m][0]
                    for m in inter.green_movements[target]
                    if m not in green_now
                    or (not inter.protects(m, current) and inter.protects(m, target))
                }
            )
            lanes = self._switch[key] = SwitchLanes(
                stopped=self._gap_lanes(inter, stopped),
                served=served,
                served_near=self._gap_lanes(inter, {inter.in_lanes[x] for x in served}),
            )
        return lanes

    def _gap_lanes(self, inter: Intersection, in_lanes: set[str]) -> list[tuple[str, float, float]]:
        reach = self.gap_reach_m
        return [
            (lane, offset, self.length[lane])
            for in_lane in sorted(in_lanes)
            for lane, offset in inter.approach.get(in_lane, {in_lane: 0.0}).items()
            if offset < reach
        ]

    def arriving(self, lanes: list[tuple[str, float, float]]) -> bool:
        """Whether a moving vehicle reaches the stop line within the gap time.

        Looks along the approach, not only at the incoming lane: some incoming lanes are a metre
        long, and the platoon is on the lane before it. Stops at the first such vehicle.
        """
        speed_of, position, gap = self._speed, self._position, self.gap_s
        for lane, offset, length in lanes:
            for veh in self._lane_vehicles(lane):
                speed = speed_of(veh)
                if speed > 1.0 and offset + length - position(veh) <= speed * gap:
                    return True
        return False

    def choose(self, k: int, now: float) -> int:
        """The pressure winner, unless the current green is still passing arriving vehicles or
        nobody is there yet for what the switch would add."""
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
        lanes = self.switch_lanes(k, current, best)
        queued = self.queued[k]
        if (
            pressures[current] > 0  # the current green still serves someone
            and not any(queued[x] for x in lanes.served)
            and not self.arriving(lanes.served_near)
        ):
            return current  # the vehicles the switch is for are still far away
        if now - driver.since < self.max_green_s and self.arriving(lanes.stopped):
            return current  # it would cut a platoon
        return best
