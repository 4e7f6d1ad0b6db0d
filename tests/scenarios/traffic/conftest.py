"""A small signalised network built with SUMO's netgenerate, and demand for it."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from citybrain.scenarios.traffic.networks import TrafficMap, custom_map, sumo_binary

ENTRIES = ["left0A0", "left1A1", "bottom0A0", "bottom1B0", "right0B0", "right1B1", "top0A1"]
EXITS = ["A0left0", "A1left1", "A0bottom0", "B0bottom1", "B0right0", "B1right1", "A1top0"]


def write_trips(path: Path, *, count: int, span: float, seed: int = 7, start: float = 0) -> Path:
    """``count`` trips between random fringe edges, departing over ``span`` seconds."""
    rng = random.Random(seed)
    rows = []
    for k in range(count):
        entry = rng.choice(ENTRIES)
        exit_ = rng.choice([e for e in EXITS if e[:2] != entry[-2:]] or EXITS)
        depart = start + span * k / count
        rows.append(f'  <trip id="t{k}" depart="{depart:.1f}" from="{entry}" to="{exit_}"/>')
    path.write_text("<routes>\n" + "\n".join(rows) + "\n</routes>\n", "utf-8")
    return path


def generate_grid(net: Path, *extra: str) -> Path:
    """A 2×2 grid of traffic lights, two lanes each way, 200 m apart (netgenerate ``extra``)."""
    subprocess.run(
        [
            sumo_binary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--grid.length",
            "200",
            "--grid.attach-length",
            "150",
            "--default-junction-type",
            "priority",
            "--tls.set",
            "A0,A1,B0,B1",
            "--default.lanenumber",
            "2",
            "--no-turnarounds",
            "--seed",
            "1",
            *extra,
            "-o",
            str(net),
        ],
        check=True,
        capture_output=True,
    )
    return net


@pytest.fixture(scope="session")
def small_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2×2 grid of traffic lights, two lanes each way, 200 m apart."""
    return generate_grid(tmp_path_factory.mktemp("traffic-net") / "small.net.xml")


@pytest.fixture(scope="session")
def all_red_map(tmp_path_factory: pytest.TempPathFactory) -> TrafficMap:
    """The same grid with a 2 s all-red after every yellow, and 300 trips over 5 minutes."""
    net = generate_grid(
        tmp_path_factory.mktemp("traffic-allred") / "allred.net.xml", "--tls.allred.time", "2"
    )
    routes = write_trips(net.parent / "allred.rou.xml", count=300, span=300)
    return custom_map(net, [routes], end=400)


@pytest.fixture(scope="session")
def small_map(small_net: Path) -> TrafficMap:
    """The small grid with 300 trips over 10 minutes (busy enough to queue)."""
    routes = write_trips(small_net.parent / "small.rou.xml", count=300, span=600)
    return custom_map(small_net, [routes], end=600)
