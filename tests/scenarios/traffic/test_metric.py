"""The RESCO delay metric against a hand-computed tripinfo: arrived, still driving, never
departed (written by SUMO, and missing altogether), and bad files named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.plugins import discover
from citybrain.scenarios.traffic.metric import mean_delay, planned_departures

TRIPINFO = """<?xml version="1.0" encoding="UTF-8"?>
<tripinfos>
    <tripinfo id="a" depart="10.00" departDelay="2.00" arrival="70.00" timeLoss="8.50"/>
    <tripinfo id="b" depart="20.00" departDelay="0.00" arrival="100.00" timeLoss="30.00"/>
    <personinfo id="p" depart="5.00"/>
    <tripinfo id="c" depart="50.00" departDelay="5.00" arrival="-1" timeLoss="40.00"/>
    <tripinfo id="d" depart="-1" departDelay="60.00" arrival="-1" timeLoss="0.00"/>
</tripinfos>
"""
ROUTES = """<routes>
    <vehicle id="a" depart="8"/><vehicle id="b" depart="20"/><trip id="c" depart="45"/>
    <trip id="d" depart="140"/><trip id="e" depart="150"/><trip id="late" depart="250"/>
    <flow id="f" begin="0" end="100" number="5"/>
</routes>
"""


def test_every_vehicle_counts_with_the_delay_it_accrued(tmp_path: Path) -> None:
    trips = tmp_path / "tripinfo.xml"
    trips.write_text(TRIPINFO)
    # a: 8.5 + 2 = 10.5; b: 30; c (unfinished): 40 + 5 = 45; d (never departed): 60
    report = mean_delay(trips, end=200)
    assert (report.arrived, report.unfinished, report.never_departed) == (2, 1, 1)
    assert report.total_delay == pytest.approx(145.5)
    assert report.mean_delay == pytest.approx(145.5 / 4)


def test_planned_departures_count_vehicles_missing_from_the_tripinfo(tmp_path: Path) -> None:
    trips, routes = tmp_path / "tripinfo.xml", tmp_path / "r.rou.xml"
    trips.write_text(TRIPINFO)
    routes.write_text(ROUTES)
    planned = planned_departures([routes])
    assert planned == {"a": 8.0, "b": 20.0, "c": 45.0, "d": 140.0, "e": 150.0, "late": 250.0}
    report = mean_delay(trips, end=200, planned=planned)
    # d waits 200 - 140 = 60; e is not in the tripinfo and waits 50; "late" was not due yet
    assert report.never_departed == 2
    assert report.total_delay == pytest.approx(10.5 + 30 + 45 + 60 + 50)
    assert report.vehicles == 5
    # an episode that begins at 145: e (due at 150) still counts, but a vehicle planned before
    # the begin is dropped by SUMO and must not count as never departed (cologne3's routes)
    early = {**planned, "before-begin": 100.0}
    report = mean_delay(trips, begin=145, end=200, planned=early)
    assert report.never_departed == 2 and report.vehicles == 5


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        mean_delay(tmp_path / "missing.xml", end=10)
    broken = tmp_path / "broken.xml"
    broken.write_text("<tripinfos><tripinfo id='x'")
    with pytest.raises(InvalidInput, match="not XML"):
        mean_delay(broken, end=10)
    odd = tmp_path / "odd.xml"
    odd.write_text(
        '<tripinfos><tripinfo id="x" depart="1" timeLoss="1" departDelay="zero"/></tripinfos>'
    )
    with pytest.raises(InvalidInput, match="departDelay='zero'"):
        mean_delay(odd, end=10)


def test_the_scenario_is_discovered_with_its_manifest() -> None:
    traffic = next(p for p in discover(include_entry_points=False) if p.manifest.name == "traffic")
    assert traffic.manifest.articles == ["Art15"] and traffic.manifest.lifecycle == "evaluating"
    assert "traffic-signals" in traffic.manifest.datasets
