"""Geo-queries (ETSI GS CIM 009, clause 4.10) and GeoJSON checks for GeoProperty values.

Coordinates are WGS84 ``[longitude, latitude]``; planar relations (within, intersects, ...)
are shapely's; distances are metres on the mean-radius sphere (haversine), which is within
about 0.5 % of the ellipsoid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points
from shapely.validation import explain_validity
from sqlalchemy import ColumnElement

from citybrain.hub.entities.problems import BadRequestData

EARTH_RADIUS_M = 6_371_008.8
GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
RELATIONS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
MAX_POSITIONS = 100_000
MAX_COORDINATES_TEXT = 1_000_000
_EPS = 1e-9  # degrees: slack so bounding-box tests never drop a boundary case


def _bad(field: str, msg: str) -> BadRequestData:
    return BadRequestData(f"{field}: {msg}", field=field)


def _position(p: Any, field: str, where: str) -> None:
    numbers = isinstance(p, list | tuple) and len(p) in (2, 3)
    numbers = numbers and all(
        isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p
    )
    if not numbers:
        shown = json.dumps(p, default=str)[:80]
        raise _bad(field, f"{where} must be a position [longitude, latitude], not {shown}")
    if not -180 <= p[0] <= 180:
        raise _bad(field, f"longitude {p[0]} at {where} is outside [-180, 180]")
    if not -90 <= p[1] <= 90:
        raise _bad(field, f"latitude {p[1]} at {where} is outside [-90, 90]")


def _positions(ps: Any, field: str, where: str, minimum: int) -> int:
    if not isinstance(ps, list | tuple) or len(ps) < minimum:
        raise _bad(field, f"{where} must be an array of at least {minimum} positions")
    for i, p in enumerate(ps):
        _position(p, field, f"{where}[{i}]")
    return len(ps)


def _parts(value: Any, field: str, where: str, what: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise _bad(field, f"{where} must be a non-empty array of {what}")
    return list(value)


def _rings(rings: Any, field: str, where: str) -> int:
    count = 0
    for i, ring in enumerate(_parts(rings, field, where, "linear rings")):
        count += _positions(ring, field, f"{where}[{i}]", 4)
        if list(ring[0]) != list(ring[-1]):
            raise _bad(field, f"linear ring {where}[{i}] is not closed (first != last position)")
    return count


def _check(value: Any, field: str, prefix: str, nested: bool) -> int:
    """Check a GeoJSON geometry's structure; returns how many positions it has."""
    if not isinstance(value, Mapping):
        raise _bad(field, f"{prefix or 'the value'} is not a GeoJSON geometry object")
    kind, where = value.get("type"), f"{prefix}coordinates"
    if kind == "GeometryCollection" and not nested:
        members = _parts(value.get("geometries"), field, f"{prefix}geometries", "geometries")
        return sum(_check(g, field, f"geometries[{i}].", True) for i, g in enumerate(members))
    if kind not in GEOMETRIES:
        allowed = ", ".join(GEOMETRIES)
        raise _bad(field, f"unsupported geometry type {kind!r} (expected one of {allowed})")
    coords = value.get("coordinates")
    if kind == "Point":
        _position(coords, field, where)
        return 1
    if kind in ("MultiPoint", "LineString"):
        return _positions(coords, field, where, 1 if kind == "MultiPoint" else 2)
    if kind == "MultiLineString":
        lines = _parts(coords, field, where, "line strings")
        return sum(_positions(line, field, f"{where}[{i}]", 2) for i, line in enumerate(lines))
    if kind == "Polygon":
        return _rings(coords, field, where)
    polygons = _parts(coords, field, where, "polygons")
    return sum(_rings(poly, field, f"{where}[{i}]") for i, poly in enumerate(polygons))


def validate_geometry(value: Any, field: str) -> BaseGeometry:
    """The shapely geometry of a GeoJSON value, or BadRequestData naming ``field`` and the fault
    (structure, numbers, lon/lat ranges, ring closure, validity as explained by shapely)."""
    if _check(value, field, "", False) > MAX_POSITIONS:
        raise _bad(field, f"more than {MAX_POSITIONS} positions")
    try:
        geom = shape(value)
    except (ShapelyError, ValueError, TypeError) as exc:
        raise _bad(field, f"not a valid {value.get('type')}: {exc}") from None
    if not geom.is_valid:
        raise _bad(field, f"invalid {value['type']}: {explain_validity(geom)}")
    return geom


def _all_positions(value: Any) -> Iterator[Any]:
    if value.get("type") == "GeometryCollection":
        for member in value.get("geometries") or ():
            yield from _all_positions(member)
        return
    stack = [value.get("coordinates")]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple) and item and isinstance(item[0], int | float):
            yield item
        elif isinstance(item, list | tuple):
            stack.extend(item)


def bbox_of(geojson: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of a (valid) GeoJSON geometry."""
    try:
        xs, ys = zip(*((float(p[0]), float(p[1])) for p in _all_positions(geojson)), strict=True)
    except (ValueError, TypeError, AttributeError, IndexError):
        raise _bad("location", "the geometry has no positions to bound") from None
    return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query: relation (``near`` with max/min distance in metres), query geometry
    (type, JSON coordinates and shapely shape) and the GeoProperty it applies to."""

    georel: str
    geometry: str
    coordinates: str
    shape: BaseGeometry
    max_distance: float | None = None
    min_distance: float | None = None
    geoproperty: str = "location"


def _georel(text: str) -> tuple[str, float | None, float | None]:
    rel, *mods = (part.strip() for part in text.split(";"))
    if rel not in RELATIONS:
        raise _bad("georel", f"unknown relation {rel!r} (expected one of {', '.join(RELATIONS)})")
    if rel != "near" and mods:
        raise _bad("georel", f"{rel!r} takes no modifiers, got {';'.join(mods)!r}")
    distances: dict[str, float] = {}
    for mod in mods:
        name, sep, number = mod.partition("==")
        if not sep:
            name, sep, number = mod.partition(":")
        if name not in ("maxDistance", "minDistance") or not sep or name in distances:
            raise _bad(
                "georel", f"bad near modifier {mod!r} (expected maxDistance==N or minDistance==N)"
            )
        try:
            distances[name] = float(number)
        except ValueError:
            distances[name] = -1.0
        if not 0 <= distances[name] < math.inf:
            raise _bad("georel", f"{name} must be a non-negative number of metres, not {number!r}")
    if rel == "near" and not distances:
        raise _bad("georel", "near needs maxDistance==N or minDistance==N (metres)")
    return rel, distances.get("maxDistance"), distances.get("minDistance")


def parse_geoquery(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str | None
) -> GeoQuery | None:
    """The geo-query of the ``georel``/``geometry``/``coordinates``/``geoproperty`` parameters;
    None when none is given; BadRequestData naming the missing or faulty one otherwise."""
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    if all(v is None for v in given.values()):
        if geoproperty is not None:
            raise _bad("geoproperty", "needs georel, geometry and coordinates")
        return None
    for name, v in given.items():
        if v is None or not str(v).strip():
            others = " and ".join(n for n in given if n != name)
            raise _bad(name, f"{name} is required together with {others}")
    assert georel is not None and geometry is not None and coordinates is not None
    rel, max_d, min_d = _georel(georel)
    if geometry not in GEOMETRIES:
        raise _bad(
            "geometry",
            f"unsupported geometry {geometry!r} (expected one of {', '.join(GEOMETRIES)})",
        )
    if len(coordinates) > MAX_COORDINATES_TEXT:
        raise _bad("coordinates", f"longer than {MAX_COORDINATES_TEXT} characters")
    try:
        coords = json.loads(coordinates)
    except ValueError as exc:
        raise _bad("coordinates", f"not a JSON array ({exc})") from None
    if not isinstance(coords, list):
        raise _bad("coordinates", "must be a JSON array such as [120.15,30.28]")
    geom = validate_geometry({"type": geometry, "coordinates": coords}, field="coordinates")
    prop = (geoproperty or "location").strip()
    if not prop or any(c.isspace() or c in ",;()\"'" for c in prop):
        raise _bad("geoproperty", f"{geoproperty!r} is not an attribute name")
    text = json.dumps(coords, separators=(",", ":"))
    return GeoQuery(rel, geometry, text, geom, max_d, min_d, prop)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (spherical Earth)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2
    h += math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Metres between the nearest points of two geometries (0 when they intersect)."""
    if a.intersects(b):
        return 0.0
    p, q = nearest_points(a, b)
    return haversine_m(p.x, p.y, q.x, q.y)


def matches_geo(q: GeoQuery, geojson: Mapping[str, Any]) -> bool:
    """Whether a GeoProperty value (GeoJSON) stands in relation ``q.georel`` to the query
    geometry (``within``: the entity's geometry lies within it; ``contains``: it contains
    the query geometry). Values that are not geometries never match."""
    try:
        geom = shape(geojson)
        if geom.is_empty:
            return False
        if q.georel != "near":
            return bool(getattr(geom, q.georel)(q.shape))
        d = distance_m(q.shape, geom)
    except (ShapelyError, ValueError, TypeError, KeyError, AttributeError, IndexError):
        return False  # not a geometry, or one GEOS cannot relate
    if q.max_distance is not None and d > q.max_distance:
        return False
    return q.min_distance is None or d >= q.min_distance


def bbox_prefilter(
    q: GeoQuery, min_x: Any, min_y: Any, max_x: Any, max_y: Any
) -> ColumnElement[bool] | None:
    """A predicate on an entity's bounding-box columns that never excludes an entity
    ``matches_geo`` accepts, or None when boxes cannot narrow (disjoint, minDistance alone).

    The columns hold the box of the ``location`` GeoProperty: use it only when ``q`` is on
    that property. ``near;maxDistance`` grows the query box by the distance: latitude by
    d/R, longitude by the widest span a great circle of length d can cover at that latitude.
    """
    x0, y0, x1, y1 = q.shape.bounds
    if q.georel == "near":
        if q.max_distance is None:
            return None
        arc = q.max_distance / EARTH_RADIUS_M
        dlat = math.degrees(arc) * (1 + 1e-6) + _EPS
        y0, y1 = y0 - dlat, y1 + dlat
        clauses = [min_y <= y1, max_y >= y0]
        widest = min(90.0, max(abs(y0), abs(y1)))
        spread = math.sin(min(arc, math.pi) / 2) / max(math.cos(math.radians(widest)), 1e-300)
        if spread < 1:
            dlon = math.degrees(2 * math.asin(spread)) * (1 + 1e-6) + _EPS
            if x0 - dlon >= -180 and x1 + dlon <= 180:  # else it may wrap the antimeridian
                clauses += [min_x <= x1 + dlon, max_x >= x0 - dlon]
        return sa.and_(*clauses)
    inside = [min_x >= x0 - _EPS, min_y >= y0 - _EPS, max_x <= x1 + _EPS, max_y <= y1 + _EPS]
    around = [min_x <= x0 + _EPS, min_y <= y0 + _EPS, max_x >= x1 - _EPS, max_y >= y1 - _EPS]
    overlap = [min_x <= x1 + _EPS, min_y <= y1 + _EPS, max_x >= x0 - _EPS, max_y >= y0 - _EPS]
    chosen = {"within": inside, "contains": around, "equals": inside + around}.get(q.georel)
    if q.georel in ("intersects", "overlaps"):
        chosen = overlap
    return sa.and_(*chosen) if chosen else None
