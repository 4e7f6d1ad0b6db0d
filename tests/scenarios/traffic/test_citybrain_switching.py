"""When CityBrain's controller switches, on ingolstadt1's one intersection (a T junction).

Its program has three greens: A ``GGgGrGGG`` (south straight, south left *permissive*, west
right, north straight and right), B ``GGGrrrrr`` (south straight and left *protected*) and C
``rrrGGGrr`` (west right and left, north right). Lane readings are replaced where a test needs a
particular traffic state, so each rule is checked on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybrain.scenarios.traffic.citybrain_control import CityBrainControl
from citybrain.scenarios.traffic.episode import start_sumo, sumo_args
from citybrain.scenarios.traffic.networks import resco_map

A, B, C = "GGgGrGGG", "GGGrrrrr", "rrrGGGrr"
SOUTH_LEFT = "201963537#1_3"
WEST_LEFT, WEST_RIGHT = "164051413_2", "164051413_1"


@pytest.fixture
def ctrl(tmp_path: Path) -> Iterator[CityBrainControl]:
    traffic_map = resco_map("ingolstadt1")
    sim = start_sumo(sumo_args(traffic_map, 1, tmp_path / "tripinfo.xml", []))
    try:
        controller = CityBrainControl()
        controller.attach(sim)
        yield controller
    finally:
        sim.close()


def _phase(ctrl: CityBrainControl, state: str) -> int:
    return ctrl.intersections[0].greens.index(state)


def _lanes(entries: list[tuple[str, float, float]]) -> set[str]:
    return {lane for lane, _, _ in entries}


def _served(ctrl: CityBrainControl, indices: list[int]) -> set[str]:
    return {ctrl.intersections[0].in_lanes[x] for x in indices}


def _fake_readings(
    ctrl: CityBrainControl,
    halted: dict[str, int],
    moving: dict[str, int] | None = None,
    waited: dict[str, float] | None = None,
) -> None:
    """Vehicles stand where ``halted`` says and drive (too far to arrive) where ``moving``
    says; the halted ones have waited ``waited`` seconds in all (none by default)."""
    edge = ctrl.sim.lane.getEdgeID
    on = {x: halted.get(x, 0) + (moving or {}).get(x, 0) for x in {*halted, *(moving or {})}}
    ctrl.lanes.halting = lambda lane: halted.get(lane, 0)  # type: ignore[method-assign]
    ctrl.lanes.count = lambda lane: on.get(lane, 0)  # type: ignore[method-assign]
    ctrl.lanes.edge_count = lambda e: sum(n for x, n in on.items() if edge(x) == e)  # type: ignore[method-assign]
    ctrl.lanes.edge_halting = lambda e: sum(n for x, n in halted.items() if edge(x) == e)  # type: ignore[method-assign]
    ctrl._waiting = lambda lane: (waited or {}).get(lane, 0.0)
    ctrl.lanes.edge_waiting = lambda e: sum(w for x, w in (waited or {}).items() if edge(x) == e)  # type: ignore[method-assign]


def test_switch_lanes_name_what_a_switch_stops_and_serves(ctrl: CityBrainControl) -> None:
    a, b, c = _phase(ctrl, A), _phase(ctrl, B), _phase(ctrl, C)
    a_to_c = ctrl.switch_lanes(0, a, c)
    # the west right turn is green in A and C: its vehicles are no reason to hold A
    assert WEST_RIGHT not in _lanes(a_to_c.stopped)
    assert {SOUTH_LEFT, "201963537#1_1", "104010354_2"} <= _lanes(a_to_c.stopped)
    # C adds the west left turn (its queue reaches back onto the road before it)
    assert _served(ctrl, a_to_c.served) == {WEST_LEFT}
    assert _lanes(a_to_c.served_near) == {WEST_LEFT, "653473569#5_2"}
    # A → B adds nothing red, but protects the south left turn that only yielded in A
    a_to_b = ctrl.switch_lanes(0, a, b)
    assert _served(ctrl, a_to_b.served) == {SOUTH_LEFT}
    assert WEST_RIGHT in _lanes(a_to_b.stopped)
    # B → A: the left turn loses its protection, which serves nobody new
    assert SOUTH_LEFT not in _served(ctrl, ctrl.switch_lanes(0, b, a).served)
    assert ctrl.switch_lanes(0, a, c) is a_to_c  # worked out once


def test_a_permissive_turn_weighs_less_where_it_yields(ctrl: CityBrainControl) -> None:
    _fake_readings(ctrl, {SOUTH_LEFT: 4})
    pressures = ctrl.pressures(0)
    a, b, c = _phase(ctrl, A), _phase(ctrl, B), _phase(ctrl, C)
    assert pressures[c] == 0
    assert pressures[a] > 0
    assert ctrl.permissive_weight < 1
    assert pressures[a] == pytest.approx(ctrl.permissive_weight * pressures[b])


def test_a_long_wait_weighs_like_more_vehicles(ctrl: CityBrainControl) -> None:
    c = _phase(ctrl, C)
    _fake_readings(ctrl, {WEST_LEFT: 1})
    fresh = ctrl.pressures(0)[c]
    assert fresh > 0
    # one vehicle that has waited two minutes counts as three
    _fake_readings(ctrl, {WEST_LEFT: 1}, waited={WEST_LEFT: 2 * ctrl.wait_unit_s})
    assert ctrl.pressures(0)[c] == pytest.approx(3 * fresh)


def _choose_with(
    ctrl: CityBrainControl,
    pressures: list[float],
    halted: dict[str, int],
    moving: dict[str, int] | None = None,
) -> int:
    _fake_readings(ctrl, halted, moving)
    measure = type(ctrl).pressures

    def fixed(k: int) -> list[float]:
        measure(ctrl, k)  # still reads the lanes: who is queued where
        return list(pressures)

    ctrl.pressures = fixed  # type: ignore[method-assign]
    driver: Any = ctrl.drivers[0]
    now = driver.since + ctrl.intersections[0].min_green_s + 1
    return ctrl.choose(0, now)


def test_a_switch_waits_until_someone_is_there_for_it(ctrl: CityBrainControl) -> None:
    a, c = _phase(ctrl, A), _phase(ctrl, C)
    assert ctrl.drivers[0].phase == a
    wants_c = [0.0] * 3
    wants_c[a], wants_c[c] = 1.0, 2.0
    # C wins on pressure, but nobody waits at its red yet and A still serves someone: keep A
    assert _choose_with(ctrl, wants_c, {}) == a
    # somebody halted on the west left turn (or on the road behind it): switch
    assert _choose_with(ctrl, wants_c, {WEST_LEFT: 1}) == c
    assert _choose_with(ctrl, wants_c, {"653473569#5_2": 1}) == c
    # a green that serves nobody is never held, even for a vehicle still far away
    idle = [0.0] * 3
    idle[c] = 2.0
    assert _choose_with(ctrl, idle, {}, moving={WEST_LEFT: 1}) == c
