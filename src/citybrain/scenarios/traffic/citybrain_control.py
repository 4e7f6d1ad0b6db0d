"""CityBrain's signal controller: max-pressure that does not cut a platoon in half.

Max-pressure picks the phase with the largest queue difference every few seconds, even when the
current green is about to pass a platoon that is still rolling towards the stop line; cutting it
costs a yellow, a stop and a restart for every vehicle in it. CityBrain's controller keeps
pressure as the way to *choose* the next phase and adds a gap-out extension, as an engineer's
actuated controller would:

1. **Choose by pressure.** Halted vehicles on each incoming lane (counted up to 200 m upstream)
   minus halted vehicles on its outgoing lane (spill-back), summed per movement, per phase.
2. **Extend while vehicles arrive.** While another phase would win, the current green is kept as
   long as a moving vehicle on one of its incoming lanes will reach the stop line within the
   gap time (3 s), up to a maximum green (60 s).
3. **No starvation.** A phase with waiting vehicles that has not been green for the maximum red
   (120 s) wins regardless.

Every quantity is read from the network and the vehicles on it; nothing is tuned per map. The
decision runs each second once the minimum green has passed, and reads vehicle positions only
when pressure would switch, which keeps it cheap.
"""

from __future__ import annotations

from typing import Any

from citybrain.scenarios.traffic.controllers import MaxPressure
from citybrain.scenarios.traffic.signals import Intersection, Trace


class CityBrainControl(MaxPressure):
    """Pressure-chosen phases with gap-out extension and a starvation guard."""

    name = "citybrain"
    decision_interval_s = 1.0
    min_green_s = 0.0  # the network's own minimum green (5 s when it declares none)
    gap_s = 3.0
    max_green_s = 60.0
    max_red_s = 120.0

    def attach(self, sim: Any, *, trace: Trace | None = None) -> None:
        """Also remember when each phase was last green, and each lane's length."""
        super().attach(sim, trace=trace)
        now = sim.simulation.getTime()
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

    def arriving(self, lanes: set[str]) -> int:
        """Moving vehicles that reach the stop line of ``lanes`` within the gap time."""
        total = 0
        for lane in lanes:
            length = self.length[lane]
            for veh in self._lane_vehicles(lane):
                speed = self._speed(veh)
                if speed > 1.0 and length - self._position(veh) <= speed * self.gap_s:
                    total += 1
        return total

    def choose(self, k: int, now: float) -> int:
        """The pressure winner, unless the current green is still passing arriving vehicles."""
        inter: Intersection = self.intersections[k]
        driver = self._drivers[k]
        current = driver.phase
        last = self.last_green[k]
        last[current] = now
        pressures = self.pressures(inter)
        starving = [
            p
            for p, pressure in enumerate(pressures)
            if p != current and pressure > 0 and now - last[p] > self.max_red_s
        ]
        if starving:
            return max(starving, key=lambda p: pressures[p])
        best = max(range(len(pressures)), key=lambda p: (pressures[p], p == current))
        if best == current or driver.green_for(now) >= self.max_green_s:
            return best
        lanes = {inter.in_lanes[inter.movement_lanes[m][0]] for m in inter.green_movements[current]}
        return current if self.arriving(lanes) else best
