"""CityBrain's pressures, computed with every shortcut (empty edges, lazy outgoing reads), equal
the same quantities read lane by lane, the plain way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citybrain.scenarios.traffic.citybrain_control import CityBrainControl
from citybrain.scenarios.traffic.episode import start_sumo, sumo_args
from citybrain.scenarios.traffic.networks import TrafficMap, resco_map


def plain_pressures(ctrl: CityBrainControl, k: int) -> list[float]:
    """The controller's pressure definition, every lane read directly."""
    sim, inter = ctrl.sim, ctrl.intersections[k]
    halting, count, length, waiting = (
        sim.lane.getLastStepHaltingNumber,
        sim.lane.getLastStepVehicleNumber,
        sim.lane.getLength,
        sim.lane.getWaitingTime,
    )
    result = []
    for p, movements in enumerate(inter.green_movements):
        total = 0.0
        for m in movements:
            i, o = inter.movement_lanes[m]
            approach, out = inter.approach_lanes[i], inter.out_lanes[o]
            lane = approach[0]
            queue = sum(halting(x) for x in approach)
            waited = sum(waiting(x) for x in approach if halting(x)) / ctrl.wait_unit_s
            moving = count(lane) - halting(lane)
            weight = ctrl.approach_weight * min(1.0, ctrl.approach_range_m / max(length(lane), 1))
            entry = ctrl.entry_factor if ctrl.boundary.intersection(approach) else 1.0
            storage = ctrl.spillback_share * length(out) / ctrl.vehicle_space_m
            yields = not any(inter.greens[p][x] == "G" for x in inter.movements[m].links)
            share = ctrl.permissive_weight if yields else 1.0
            if halting(out) < storage:
                total += (queue + waited + weight * moving) * entry * share
        result.append(total)
    return result


def _compare(traffic_map: TrafficMap, steps: int, tmp_path: Path) -> dict[str, Any]:
    sim = start_sumo(sumo_args(traffic_map, 1, tmp_path / "tripinfo.xml", []))
    seen = {"decisions": 0, "busy": 0}
    try:
        ctrl = CityBrainControl()
        ctrl.attach(sim)
        choose = ctrl.choose

        def checked(k: int, now: float) -> int:
            fast = ctrl.pressures(k)
            assert fast == pytest.approx(plain_pressures(ctrl, k), abs=1e-9), (k, now)
            seen["decisions"] += 1
            seen["busy"] += any(fast)
            return choose(k, now)

        ctrl.choose = checked  # type: ignore[method-assign]
        now = sim.simulation.getTime()
        for _ in range(steps):
            ctrl.step(now)
            sim.simulationStep()
            now = sim.simulation.getTime()
    finally:
        sim.close()
    return seen


def test_pressures_equal_the_plain_definition_on_the_small_grid(small_map, tmp_path):
    seen = _compare(small_map, 600, tmp_path)
    assert seen["busy"] > 100


@pytest.mark.parametrize("name", ["cologne8", "arterial4x4"])
def test_pressures_equal_the_plain_definition_on_resco_maps(name, tmp_path):
    # cologne8: approach lanes fed by lanes further upstream, edges of several lanes;
    # arterial4x4 (oversaturated): outgoing lanes spilled back
    seen = _compare(resco_map(name), 900, tmp_path)
    assert seen["busy"] > 100
