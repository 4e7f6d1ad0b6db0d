"""Where SUMO and the networks come from: the eclipse-sumo wheel, RESCO maps, or the user's files.

SUMO_HOME is the ``sumo`` package directory of the eclipse-sumo wheel, so nothing has to be
installed system-wide. RESCO's networks and routes ship in the sumo-rl wheel
(``sumo_rl/nets/RESCO/<map>/``); each map keeps the episode window RESCO used.
"""

from __future__ import annotations

import importlib.util
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from citybrain.kernel.errors import InvalidInput

# RESCO's one-hour episodes (begin, end) in simulation seconds, as in the paper's configuration.
RESCO_WINDOWS: dict[str, tuple[float, float]] = {
    "grid4x4": (0.0, 3600.0),
    "arterial4x4": (0.0, 3600.0),
    "cologne1": (25200.0, 28800.0),
    "cologne3": (25200.0, 28800.0),
    "cologne8": (25200.0, 28800.0),
    "ingolstadt1": (57600.0, 61200.0),
    "ingolstadt7": (57600.0, 61200.0),
    "ingolstadt21": (57600.0, 61200.0),
}


@dataclass(frozen=True)
class TrafficMap:
    """A network, its demand and the episode window to simulate."""

    name: str
    net: Path
    routes: tuple[Path, ...]
    begin: float
    end: float

    def to_dict(self) -> dict[str, object]:
        """Plain data, for JSON output and for passing to worker processes."""
        return {
            "name": self.name,
            "net": str(self.net),
            "routes": [str(r) for r in self.routes],
            "begin": self.begin,
            "end": self.end,
        }


def sumo_home() -> Path:
    """The SUMO installation of the eclipse-sumo wheel (also exported as SUMO_HOME)."""
    spec = importlib.util.find_spec("sumo")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("SUMO is not installed (pip package eclipse-sumo)", field="sumo")
    home = Path(next(iter(spec.submodule_search_locations)))
    os.environ.setdefault("SUMO_HOME", str(home))
    return home


def sumo_binary(name: str = "sumo") -> str:
    """Path of a SUMO tool (``sumo``, ``netgenerate``, ...) from the wheel."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        raise InvalidInput(f"SUMO tool {name!r} not found under {path.parent}", field="sumo")
    return str(path)


def sumo_version() -> str:
    """The version of the SUMO wheel, e.g. ``1.28.0``."""
    from importlib.metadata import version

    return version("eclipse-sumo")


def resco_dir() -> Path:
    """The folder of RESCO networks shipped in the sumo-rl wheel."""
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("RESCO maps need the sumo-rl package", field="map")
    return Path(next(iter(spec.submodule_search_locations))) / "nets" / "RESCO"


def resco_map(name: str, *, end: float | None = None) -> TrafficMap:
    """One of RESCO's maps by name; ``end`` shortens the episode (seconds after its begin)."""
    if name not in RESCO_WINDOWS:
        known = ", ".join(sorted(RESCO_WINDOWS))
        raise InvalidInput(f"map: unknown RESCO map {name!r} (known: {known})", field="map")
    folder = resco_dir() / name
    nets = sorted(folder.glob("*.net.xml"))
    routes = sorted(folder.glob("*.rou.xml"))
    if not nets or not routes:
        raise InvalidInput(f"map: {folder} lacks a .net.xml or .rou.xml", field="map")
    begin, stop = RESCO_WINDOWS[name]
    return TrafficMap(name, nets[0], tuple(routes), begin, min(stop, begin + end) if end else stop)


def custom_map(
    net: Path, routes: list[Path], *, begin: float = 0.0, end: float | None = None
) -> TrafficMap:
    """A map from the user's own network and route files, checked before SUMO sees them."""
    check_xml(Path(net), "net", "net")
    if not routes:
        raise InvalidInput("routes: give at least one route file", field="routes")
    for route in routes:
        check_xml(Path(route), "routes", "routes")
    return TrafficMap(
        Path(net).stem.removesuffix(".net"),
        Path(net),
        tuple(Path(r) for r in routes),
        begin,
        begin + (end if end is not None else 3600.0),
    )


def check_xml(path: Path, root_tag: str, field: str) -> None:
    """Raise a one-line error unless ``path`` is an XML file whose root is ``root_tag``."""
    if not path.is_file():
        raise InvalidInput(f"{field}: no such file {path}", field=field)
    try:
        for _event, element in ET.iterparse(path, events=("start",)):
            if element.tag != root_tag:
                raise InvalidInput(
                    f"{field}: {path} is a <{element.tag}> file, expected <{root_tag}>",
                    field=field,
                )
            break
        else:
            raise InvalidInput(f"{field}: {path} is empty", field=field)
        # iterparse reads lazily: walk the rest so that a truncated file fails here, not in SUMO
        for _ in ET.iterparse(path):
            pass
    except ET.ParseError as exc:
        raise InvalidInput(f"{field}: {path} is not well-formed XML ({exc})", field=field) from None
