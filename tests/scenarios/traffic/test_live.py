"""The live grid in its own process, on real SUMO: the snapshots' shape, the congestion index,
ambulance reports, pacing, determinism, a clean stop and a crash that only gets logged."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from citybrain.scenarios.traffic.live import LiveTraffic, local_seconds
from citybrain.scenarios.traffic.live_grid import (
    build_network,
    congestion_index,
    demand_rate,
    fringe,
    minute_trips,
)

RUSH = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)  # 08:00 in Hangzhou
FLAT_OUT = 1e6  # simulated seconds per wall second: as fast as SUMO goes
JUNCTIONS = {f"{c}{r}" for c in "ABC" for r in "012"}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def collect(live: LiveTraffic, snapshots: int, *, ambulance: bool, limit_s: float = 30.0) -> list:
    """Messages until ``snapshots`` snapshots (and an ambulance report, if asked) arrived."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        message = live.get(timeout=1.0)
        if message is not None:
            out.append(message)
        kinds = [m["kind"] for m in out]
        if kinds.count("snapshot") >= snapshots and (not ambulance or "emergency" in kinds):
            return out
    raise AssertionError(f"only {[m['kind'] for m in out]} within {limit_s} s")


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("live-grid")
    build_network(folder)
    return folder


@pytest.fixture(scope="module")
def run(grid_folder: Path) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """One live run at rush hour, flat out: its messages up to the first ambulance report
    and two snapshots after it, and the child's pid (the run is stopped)."""
    live = LiveTraffic(grid_folder, seed=7, start=RUSH, speed=FLAT_OUT).start()
    try:
        messages = collect(live, 2, ambulance=True)
        report_at = next(k for k, m in enumerate(messages) if m["kind"] == "emergency")
        while sum(m["kind"] == "snapshot" for m in messages[report_at:]) < 2:
            message = live.get(timeout=10.0)
            assert message is not None
            messages.append(message)
        pid = live.pid
        assert pid is not None and live.running
    finally:
        live.stop()
    yield messages, pid


def test_the_network_is_built_once_with_nine_signals(grid_folder: Path) -> None:
    net = build_network(grid_folder)
    stamp = net.stat().st_mtime_ns
    assert build_network(grid_folder) == net and net.stat().st_mtime_ns == stamp
    root = ET.parse(net).getroot()
    assert {t.get("id") for t in root.iter("tlLogic")} == JUNCTIONS
    entries, exits = fringe(net)
    assert len(entries) == 12 and all(len(exits[e]) == 11 for e in entries)


def test_demand_follows_the_day_and_the_seed(grid_folder: Path) -> None:
    assert demand_rate(8 * 3600) > 5 * demand_rate(3 * 3600)
    assert demand_rate(18 * 3600) > 2 * demand_rate(13 * 3600)
    entries, exits = fringe(grid_folder / "grid3x3.net.xml")
    minute = int(local_seconds(RUSH) // 60)
    trips = minute_trips(7, minute, entries, exits)
    assert trips == minute_trips(7, minute, entries, exits)
    assert trips != minute_trips(8, minute, entries, exits)
    assert all(minute * 60 <= t < minute * 60 + 60 for t, _, _ in trips)
    rush = sum(len(minute_trips(7, minute + k, entries, exits)) for k in range(30))
    night = sum(len(minute_trips(7, 180 + k, entries, exits)) for k in range(30))
    assert rush > 4 * night


def test_congestion_index_is_a_ratio_of_at_least_one() -> None:
    assert congestion_index(0.0, 0.0) == 1.0
    assert congestion_index(300.0, 100.0) == 3.0
    assert congestion_index(99.0, 100.0) == 1.0


def test_snapshots_have_the_documented_shape(run: tuple[list[dict[str, Any]], int]) -> None:
    messages, _ = run
    snapshots = [m for m in messages if m["kind"] == "snapshot"]
    begin = float(int(local_seconds(RUSH)))
    assert [s["time_s"] for s in snapshots[:3]] == [begin + 60, begin + 120, begin + 180]
    for snap in snapshots:
        assert set(snap) == {
            "kind", "time_s", "local_time", "controller", "vehicles", "congestion_index",
            "intersections", "detectors", "emergency",
        }  # fmt: skip
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", snap["local_time"])
        assert snap["controller"] == "citybrain"
        assert snap["congestion_index"] >= 1.0
        assert snap["vehicles"] > 10  # the warm-up filled the grid before the first one
        assert {i["id"] for i in snap["intersections"]} == JUNCTIONS
        lanes = set()
        for inter in snap["intersections"]:
            assert 0 <= inter["phase"] < inter["phases"]
            assert re.fullmatch(r"[rRyYgGsuoO]+", inter["state"])
            assert inter["mode"] in ("green", "yellow", "all_red")
            assert len(inter["halted"]) == 8  # four approaches of two lanes
            assert inter["queue"] == sum(inter["halted"].values())
            lanes |= set(inter["halted"])
        assert {d["id"] for d in snap["detectors"]} == lanes
        for det in snap["detectors"]:
            assert det["halted"] <= det["vehicles"]
            assert 0 <= det["speed_ms"] <= det["free_speed_ms"] * 1.3
            assert det["intersection"] in JUNCTIONS
            assert 0 <= det["x"] <= 700 and 0 <= det["y"] <= 700
    # at rush hour somebody waits somewhere
    assert any(s["congestion_index"] > 1.05 for s in snapshots)


def test_the_ambulance_is_reported_with_an_estimate(run: tuple[list[dict[str, Any]], int]) -> None:
    messages, _ = run
    report = next(m for m in messages if m["kind"] == "emergency")
    assert report["run"] == 1 and report["vehicle"] == "citybrain-ambulance-1"
    assert report["dispatched_s"] == float(int(local_seconds(RUSH)))
    assert report["departed_s"] >= report["dispatched_s"]
    assert report["travel_time_s"] == pytest.approx(report["arrived_s"] - report["departed_s"])
    assert 30 < report["travel_time_s"] < 600
    assert report["expected_travel_time_s"] > 30
    assert report["time_saved_estimate_s"] == pytest.approx(
        report["expected_travel_time_s"] - report["travel_time_s"], abs=0.11
    )
    assert report["preempted_signals"] and set(report["preempted_signals"]) <= JUNCTIONS
    later = [m for m in messages[messages.index(report) :] if m["kind"] == "snapshot"]
    assert later and later[0]["emergency"] == report


def test_stop_leaves_no_process_behind(run: tuple[list[dict[str, Any]], int]) -> None:
    _, pid = run
    assert _gone(pid)
    assert not [p for p in multiprocessing.active_children() if p.pid == pid]


def test_same_seed_same_first_snapshot(grid_folder: Path) -> None:
    lives = [
        LiveTraffic(grid_folder, seed=seed, start=RUSH, speed=FLAT_OUT).start()
        for seed in (11, 11, 12)
    ]
    try:
        firsts = [collect(live, 1, ambulance=False)[0] for live in lives]
    finally:
        for live in lives:
            live.stop()
    assert firsts[0] == firsts[1]
    assert firsts[0] != firsts[2]
    assert all(not live.running for live in lives)


def test_the_speed_paces_the_simulation(grid_folder: Path) -> None:
    live = LiveTraffic(grid_folder, seed=3, start=RUSH, speed=300.0).start()
    try:
        arrivals = []
        while len(arrivals) < 4:
            message = live.get(timeout=10.0)
            assert message is not None
            if message["kind"] == "snapshot":
                arrivals.append(time.monotonic())
    finally:
        live.stop()
    gaps = [b - a for a, b in pairwise(arrivals)]
    # 60 simulated s take 0.2 wall s: never less (the pacing), rarely much more (a busy host)
    assert sum(gaps) > 0.55 and all(0.1 < gap < 3.0 for gap in gaps), gaps


def test_a_crash_in_the_child_is_logged_and_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the network folder should be")
    received: list[dict[str, Any]] = []
    live = LiveTraffic(blocker, seed=1, start=RUSH, speed=FLAT_OUT, on_message=received.append)
    with caplog.at_level(logging.ERROR, logger="citybrain.scenarios.traffic.live"):
        live.start()
        deadline = time.monotonic() + 20
        while live.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        live.stop()
    assert live.error and "not-a-folder" in live.error
    assert "live traffic simulation failed" in caplog.text
    assert received == [] and not live.running


def test_sumo_restarts_each_epoch_at_the_same_time_of_day(grid_folder: Path) -> None:
    live = LiveTraffic(grid_folder, seed=5, start=RUSH, speed=FLAT_OUT)
    live.config["epoch_s"] = 300.0  # a week in production; five minutes here
    live.start()
    try:
        messages = []
        while sum(m["kind"] == "emergency" for m in messages) < 2:
            message = live.get(timeout=10.0)
            assert message is not None
            messages.append(message)
    finally:
        live.stop()
    begin = float(int(local_seconds(RUSH)))
    times = [m["time_s"] for m in messages if m["kind"] == "snapshot"]
    assert times[:5] == [begin + 60 * k for k in range(1, 6)]
    assert times[5] == begin + 360  # the clock goes on from where the last epoch ended
    runs = [m["run"] for m in messages if m["kind"] == "emergency"]
    assert runs == [1, 2]  # one per epoch, numbered on
