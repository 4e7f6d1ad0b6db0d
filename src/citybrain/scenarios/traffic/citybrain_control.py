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
empty edge is one read for all its lanes, alike lanes of an edge are read as the edge's totals
minus the others, an outgoing lane is read only behind a movement with demand, and vehicle
positions only when a switch is on the table, from the stop line back; what a switch from one
phase to another stops and serves is worked out for every pair before the simulation runs
(:meth:`switch_lanes`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from citybrain.scenarios.traffic.controllers import MaxPressure
from citybrain.scenarios.traffic.signals import Intersection, Trace


class SwitchLanes(NamedTuple):
    """The lanes a phase switch would stop and serve (:meth:`CityBrainControl.switch_lanes`)."""

    stopped: list[tuple[str, float, float]]
    served: list[int]  # incoming lane indices
    served_bits: int  # the same as bits, to test against CityBrainControl.queued
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
    speed_cap = 2.0  # no driver exceeds twice the speed limit (SUMO's cap on speed factors)

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
        # per intersection: its incoming lanes with anyone halted on their approach, as bits
        # by lane index (pressures() fills it)
        self.queued = [0] * len(self.intersections)
        self._waiting = self.lanes.waiting
        # (intersection, from phase, to phase) → what that switch stops and serves, worked out
        # here for every pair, before the simulation runs (see switch_lanes)
        self._switch: dict[tuple[int, int, int], SwitchLanes] = {}
        for k, inter in enumerate(self.intersections):
            for current in range(len(inter.greens)):
                for target in range(len(inter.greens)):
                    if target != current:
                        self.switch_lanes(k, current, target)

    def _plan(self, inter: Intersection) -> tuple[list[Any], tuple[Any, ...], int]:
        """Constants of one intersection for :meth:`pressures`, computed once.

        Incoming lanes in runs of the same edge, each run as (edge, whether any of its lanes
        has feeding lanes, lanes, whether alike lanes are merged: see :meth:`_merge_rest`). Per
        lane: its index as a bit (the merged lanes: theirs), the lane (``None`` for the merged
        ones), the lanes feeding it (up to 200 m back), the weight that scales its moving
        vehicles to its first 150 m, its entry factor, and its movements grouped by the phases
        they are green in, as (outgoing lanes by edge, (phase, weight) pairs; the weight is
        lower where the movement only yields). Then the outgoing lanes, each one's spill-back
        threshold (halted vehicles), and the lanes grouped by edge.
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
        # outgoing lanes by edge: (edge, fewest halted vehicles that spill one of them back,
        # the lanes' indices)
        storage = [
            self.spillback_share * self.length[lane] / self.vehicle_space_m
            for lane in inter.out_lanes
        ]
        by_edge: dict[str, list[int]] = {}
        for o, lane in enumerate(inter.out_lanes):
            by_edge.setdefault(self.sim.lane.getEdgeID(lane), []).append(o)
        outgoing = [(edge, min(storage[o] for o in os), os) for edge, os in by_edge.items()]
        group = {o: g for g, (_, _, os) in enumerate(outgoing) for o in os}

        def by_out_edge(outs: list[int]) -> tuple[tuple[int, tuple[int, ...], int], ...]:
            """A movement group's outgoing lanes as (edge group, its lanes, how many)."""
            edges: dict[int, list[int]] = {}
            for o in outs:
                edges.setdefault(group[o], []).append(o)
            return tuple((g, tuple(os), len(os)) for g, os in edges.items())

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
            moves = tuple((by_out_edge(outs), ps) for ps, outs in groups.items())
            edge = self.sim.lane.getEdgeID(lane)
            if not incoming or incoming[-1][0] != edge:
                incoming.append((edge, False, []))
            _, fed, lanes = incoming[-1]
            lanes.append((1 << k, lane, approach[1:], weight, entry, moves))
            incoming[-1] = (edge, fed or len(approach) > 1, lanes)
        runs = [edge for edge, _, _ in incoming]
        return (
            [
                (edge, fed, *self._merge_rest(edge, lanes, whole=runs.count(edge) == 1))
                for edge, fed, lanes in incoming
            ],
            (inter.out_lanes, storage, outgoing),
            len(inter.greens),
        )

    def _merge_rest(self, edge: str, lanes: list[Any], *, whole: bool) -> tuple[list[Any], bool]:
        """An edge's lanes, the largest set of alike lanes merged into one read from the edge.

        Lanes with nothing feeding them, the same weights and the same movements add up
        linearly, so when the run holds every lane of the edge (``whole``) the largest such set
        is read as the edge's totals minus the other lanes (its lane is ``None``, last). Returns
        the lanes and whether there is such a set (the edge's halted total is then read
        exactly).
        """
        if not whole or self.sim.edge.getLaneNumber(edge) != len(lanes):
            return lanes, False
        alike: dict[tuple[Any, ...], list[Any]] = {}
        for entry in lanes:
            if not entry[2]:  # nothing feeds it
                alike.setdefault(entry[3:], []).append(entry)
        if not alike:
            return lanes, False
        rest = max(alike.values(), key=len)  # the first largest
        bits = sum(entry[0] for entry in rest)
        others = [entry for entry in lanes if entry not in rest]
        return [*others, (bits, None, (), *rest[0][3:])], True

    def pressures(self, k: int) -> list[float]:
        """Per green phase: Σ over its movements that can discharge of (queue + arrivals).

        Plain Python over the intersection's plan, reading a lane only when it matters: the
        lanes of an empty edge (one read) have no vehicles, an empty lane no halted vehicle,
        merged lanes hold what the edge holds beyond the lanes read one by one, and outgoing
        lanes are read only for a movement with demand, once, by edge while the edge as a whole
        has fewer halted vehicles than spill any of its lanes back. On these small
        intersections this beats numpy's per-call overhead. Also records who is queued where
        (:attr:`queued`).
        """
        incoming, (out_lanes, storage, outgoing), n_phases = self.plan[k]
        lanes_ = self.lanes
        halting, count, edge_count = lanes_.halting, lanes_.count, lanes_.edge_count
        edge_halting, waiting, unit = lanes_.edge_halting, self._waiting, self.wait_unit_s
        edge_waiting = lanes_.edge_waiting
        pressure = [0.0] * n_phases
        queued = 0  # the lanes with anyone halted, as bits
        # per outgoing edge: None unread, True when no lane of it is spilled back, else False
        # and open_ says which of its lanes can take vehicles
        edge_open: list[bool | None] = [None] * len(outgoing)
        open_ = [True] * len(out_lanes)
        for edge, fed, lanes, exact in incoming:
            vehicles = edge_count(edge)  # still unaccounted for on this edge's lanes
            if not vehicles and not fed:
                continue
            # the same for halted vehicles (one vehicle and no merged lanes: read its lane)
            stopped = edge_halting(edge) if vehicles > 1 or (exact and vehicles) else vehicles
            waited = 0.0  # seconds waited on the lanes read one by one
            for bits, lane, upstream, weight, entry, moves in lanes:
                if lane is None:  # the merged lanes: what the edge holds beyond those read
                    on_lane = vehicles
                    halted = stopped
                    queue = 0.0
                    if halted:
                        queue = halted + (edge_waiting(edge) - waited) / unit
                else:
                    if not vehicles and not upstream:
                        if fed:
                            continue
                        break  # the edge's vehicles are all accounted for, nothing feeds it
                    # halted vehicles (and the minutes they have waited) on the lanes feeding it
                    queue = sum(map(halting, upstream)) if upstream else 0
                    if queue:  # a lane without a halted vehicle has waited 0 s
                        queue += sum(map(waiting, upstream)) / unit
                    on_lane = count(lane) if vehicles else 0
                    halted = 0
                    if on_lane:
                        vehicles -= on_lane
                        halted = halting(lane) if stopped else 0
                        if halted:
                            stopped -= halted
                            wait = waiting(lane)
                            waited += wait
                            queue += halted + wait / unit
                if on_lane:
                    demand = (queue + weight * (on_lane - halted)) * entry
                elif queue:
                    demand = queue * entry
                else:
                    continue
                if queue:
                    queued |= bits
                for out_edges, phases in moves:
                    movements = 0  # of this group, those that can discharge
                    for g, outs, n in out_edges:
                        ok = edge_open[g]
                        if ok is None:
                            out_edge, least, same_edge = outgoing[g]
                            ok = edge_open[g] = edge_halting(out_edge) < least  # none spilled
                            if not ok:
                                for x in same_edge:
                                    open_[x] = halting(out_lanes[x]) < storage[x]
                        movements += n if ok else sum([open_[o] for o in outs])
                    if movements:
                        value = demand * movements
                        for p, share in phases:
                            pressure[p] += value * share
        self.queued[k] = queued
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
                served_bits=sum(1 << x for x in served),
                served_near=self._gap_lanes(inter, {inter.in_lanes[x] for x in served}),
            )
        return lanes

    def _gap_lanes(self, inter: Intersection, in_lanes: set[str]) -> list[tuple[str, float, float]]:
        """Approach lanes within the gap reach as (lane, position of the stop line along it,
        position behind which no vehicle reaches the line within the gap time)."""
        lanes = []
        for in_lane in sorted(in_lanes):
            for lane, offset in inter.approach.get(in_lane, {in_lane: 0.0}).items():
                if offset < self.gap_reach_m:
                    line = offset + self.length[lane]
                    fastest = self.sim.lane.getMaxSpeed(lane) * self.speed_cap
                    lanes.append((lane, line, line - fastest * self.gap_s))
        return lanes

    def arriving(self, lanes: list[tuple[str, float, float]]) -> bool:
        """Whether a moving vehicle reaches the stop line within the gap time.

        Looks along the approach, not only at the incoming lane: some incoming lanes are a metre
        long, and the platoon is on the lane before it. Reads a lane's vehicles from the stop
        line back (SUMO lists them by position) and stops at the first that arrives in time,
        or at the first moving one too far back for any vehicle behind it to.
        """
        speed_of, position, gap = self._speed, self._position, self.gap_s
        for lane, line, horizon in lanes:
            for veh in reversed(self._lane_vehicles(lane)):
                speed = speed_of(veh)
                if speed > 1.0:
                    at = position(veh)
                    if line - at <= speed * gap:
                        return True
                    if at < horizon:
                        break
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
        lanes = self._switch[k, current, best]
        queued = self.queued[k]
        if (
            pressures[current] > 0  # the current green still serves someone
            and not queued & lanes.served_bits  # nobody of the switch's is halted yet
            and not self.arriving(lanes.served_near)
        ):
            return current  # the vehicles the switch is for are still far away
        if now - driver.since < self.max_green_s and self.arriving(lanes.stopped):
            return current  # it would cut a platoon
        return best
