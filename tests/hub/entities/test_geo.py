"""Geo-queries and GeoJSON checks: Hangzhou distances against the WGS84 ellipsoid, the West Lake
polygon, and a property test that the bounding-box prefilter, run in SQLite, never drops an
entity that the exact test accepts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape
from sqlalchemy import Column, Engine, Float, Integer, MetaData, Table, create_engine, select
from sqlalchemy.pool import StaticPool

from citybrain.hub.entities.geo import (
    GeoQuery,
    bbox_of,
    bbox_prefilter,
    distance_m,
    haversine_m,
    matches_geo,
    parse_geoquery,
    validate_geometry,
)
from citybrain.hub.entities.problems import BadRequestData

WEST_LAKE = [
    [120.1372, 30.2447],
    [120.1405, 30.2358],
    [120.1497, 30.2323],
    [120.1602, 30.2378],
    [120.1625, 30.2505],
    [120.1583, 30.2618],
    [120.1467, 30.2650],
    [120.1385, 30.2582],
    [120.1372, 30.2447],
]
LAKE = {"type": "Polygon", "coordinates": [WEST_LAKE]}
MID_LAKE = [120.1480, 30.2500]  # near the Mid-lake Pavilion
EAST_STATION = [120.2127, 30.2905]  # Hangzhou East railway station

# WGS84 ellipsoid, for references independent of the haversine under test
A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)


def meridian_m_per_degree(lat: float) -> float:
    """Length of one degree of latitude at ``lat`` on the ellipsoid."""
    s = math.sin(math.radians(lat))
    return A * (1 - E2) / (1 - E2 * s * s) ** 1.5 * math.pi / 180


def parallel_m_per_degree(lat: float) -> float:
    """Length of one degree of longitude at ``lat`` on the ellipsoid."""
    s = math.sin(math.radians(lat))
    return A * math.cos(math.radians(lat)) / math.sqrt(1 - E2 * s * s) * math.pi / 180


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def query(georel: str, geometry: str, coordinates: Any, geoproperty: str | None = None) -> GeoQuery:
    """A parsed geo-query (never None here)."""
    gq = parse_geoquery(georel, geometry, json.dumps(coordinates), geoproperty)
    assert gq is not None
    return gq


# ---- distances ---------------------------------------------------------------------------


def test_hangzhou_north_south_kilometre() -> None:
    a, b = shape(point(120.15, 30.28)), shape(point(120.15, 30.29))
    d = distance_m(a, b)
    assert d == pytest.approx(6_371_008.8 * math.radians(0.01), rel=1e-9)  # 1111.95 m
    assert abs(d / (0.01 * meridian_m_per_degree(30.285)) - 1) < 0.005


def test_hangzhou_east_west_kilometre() -> None:
    d = haversine_m(120.15, 30.28, 120.1615, 30.28)
    expected = 0.0115 * parallel_m_per_degree(30.28)  # about 1107 m
    assert 1090 < expected < 1120
    assert abs(d / expected - 1) < 0.005


def test_near_with_max_and_min_distance() -> None:
    there = point(120.15, 30.29)
    assert matches_geo(query("near;maxDistance==1115", "Point", [120.15, 30.28]), there)
    assert not matches_geo(query("near;maxDistance==1100", "Point", [120.15, 30.28]), there)
    assert matches_geo(query("near;minDistance==1000", "Point", [120.15, 30.28]), there)
    assert not matches_geo(query("near;minDistance==1200", "Point", [120.15, 30.28]), there)
    both = query("near;minDistance==1000;maxDistance==1200", "Point", [120.15, 30.28])
    assert matches_geo(both, there)
    assert not matches_geo(both, point(120.15, 30.28))


def test_near_measures_to_the_nearest_point_of_the_lake() -> None:
    d = distance_m(shape(point(*EAST_STATION)), shape(LAKE))
    nearest_vertex = min(haversine_m(*EAST_STATION, *v) for v in WEST_LAKE)
    assert 5000 < d <= nearest_vertex < 7000
    assert matches_geo(query("near;maxDistance==7000", "Point", EAST_STATION), LAKE)
    assert not matches_geo(query("near;maxDistance==5000", "Point", EAST_STATION), LAKE)
    assert matches_geo(query("near;maxDistance==1", "Point", MID_LAKE), LAKE)  # inside: 0 m


# ---- relations on the West Lake ------------------------------------------------------------


def test_relations_on_the_west_lake() -> None:
    lake_query = ("Polygon", [WEST_LAKE])
    assert matches_geo(query("within", *lake_query), point(*MID_LAKE))
    assert not matches_geo(query("within", *lake_query), point(*EAST_STATION))
    assert matches_geo(query("contains", "Point", MID_LAKE), LAKE)
    assert not matches_geo(query("contains", "Point", EAST_STATION), LAKE)
    crossing = [MID_LAKE, EAST_STATION]
    assert matches_geo(query("intersects", "LineString", crossing), LAKE)
    assert matches_geo(query("disjoint", "Point", EAST_STATION), LAKE)
    assert not matches_geo(query("disjoint", "Point", MID_LAKE), LAKE)
    shifted = [[x + 0.01, y] for x, y in WEST_LAKE]
    assert matches_geo(query("overlaps", "Polygon", [shifted]), LAKE)
    assert not matches_geo(query("overlaps", "Point", MID_LAKE), LAKE)
    rotated = WEST_LAKE[3:-1] + WEST_LAKE[:4]
    assert matches_geo(query("equals", "Polygon", [rotated]), LAKE)
    assert not matches_geo(query("equals", "Polygon", [shifted]), LAKE)


BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    "junk", [{}, {"type": "Point"}, {"type": "Nope", "coordinates": []}, [], BOW_TIE]
)
def test_values_that_are_not_geometries_never_match(junk: Any) -> None:
    assert not matches_geo(query("intersects", "Polygon", [WEST_LAKE]), junk)


# ---- GeoJSON validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        point(120.15, 30.28),
        {"type": "Point", "coordinates": [-180, 90, 12.5]},
        {"type": "MultiPoint", "coordinates": [[120.1, 30.2], [120.2, 30.3]]},
        {"type": "LineString", "coordinates": [[120.1, 30.2], [120.2, 30.3]]},
        {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]},
        LAKE,
        {"type": "MultiPolygon", "coordinates": [[WEST_LAKE], [[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
        {"type": "GeometryCollection", "geometries": [point(1, 2), LAKE]},
    ],
)
def test_valid_geometries_are_accepted(value: dict[str, Any]) -> None:
    assert validate_geometry(value, "location").geom_type == value["type"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (point(200, 30), "longitude 200 at coordinates is outside [-180, 180]"),
        (point(120, -95), "latitude -95 at coordinates is outside [-90, 90]"),
        ({"type": "Point", "coordinates": ["120", 30]}, "coordinates must be a position"),
        ({"type": "Point", "coordinates": [True, 30]}, "coordinates must be a position"),
        ({"type": "Point", "coordinates": [float("nan"), 30]}, "coordinates must be a position"),
        ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "coordinates must be a position"),
        ({"type": "LineString", "coordinates": [[1, 2]]}, "at least 2 positions"),
        ({"type": "MultiPoint", "coordinates": [[1, 2], [1, 200]]}, "at coordinates[1] is outside"),
        ({"type": "MultiLineString", "coordinates": []}, "non-empty array of line strings"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "coordinates[0] is not closed",
        ),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "invalid Polygon: Self-intersection",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1]]]]},
            "coordinates[0][0] must be",
        ),
        (
            {"type": "LineString", "coordinates": [[1, 2], [1, 2]]},
            "invalid LineString: Too few points",
        ),
        ({"type": "Circle", "coordinates": [1, 2]}, "unsupported geometry type 'Circle'"),
        (
            {
                "type": "GeometryCollection",
                "geometries": [{"type": "GeometryCollection", "geometries": []}],
            },
            "unsupported geometry type 'GeometryCollection'",
        ),
        (
            {"type": "GeometryCollection", "geometries": [point(1, 2), point(1, 99)]},
            "at geometries[1].coordinates",
        ),
        ([1, 2], "the value is not a GeoJSON geometry object"),
    ],
)
def test_invalid_geometries_are_refused_naming_field_and_place(value: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as info:
        validate_geometry(value, "location")
    assert info.value.field == "location"
    assert info.value.detail.startswith("location: ")
    assert message in info.value.detail


def test_bbox_of() -> None:
    assert bbox_of(point(120.15, 30.28)) == (120.15, 30.28, 120.15, 30.28)
    assert bbox_of(LAKE) == (120.1372, 30.2323, 120.1625, 30.2650)
    collection = {"type": "GeometryCollection", "geometries": [point(1, 5), point(-3, 2)]}
    assert bbox_of(collection) == (-3, 2, 1, 5)
    with pytest.raises(BadRequestData, match="no positions"):
        bbox_of({"type": "MultiPoint", "coordinates": []})


# ---- parsing the query parameters ----------------------------------------------------------


def test_parse_geoquery() -> None:
    assert parse_geoquery(None, None, None, None) is None
    gq = query("near;maxDistance==2000", "Point", [120.15, 30.28])
    assert (gq.georel, gq.max_distance, gq.min_distance, gq.geoproperty) == (
        "near",
        2000.0,
        None,
        "location",
    )
    assert gq.coordinates == "[120.15,30.28]" and gq.shape.equals(shape(point(120.15, 30.28)))
    assert query("near;minDistance:10", "Point", [0, 0]).min_distance == 10.0  # NGSIv2 style
    assert (
        query("within", "Polygon", [WEST_LAKE], "observationSpace").geoproperty
        == "observationSpace"
    )


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (
            (None, "Point", "[1,2]", None),
            "georel",
            "georel is required together with geometry and coordinates",
        ),
        (("within", None, "[1,2]", None), "geometry", "geometry is required"),
        (("within", "Point", " ", None), "coordinates", "coordinates is required"),
        ((None, None, None, "location"), "geoproperty", "needs georel, geometry and coordinates"),
        (("nearby", "Point", "[1,2]", None), "georel", "unknown relation 'nearby'"),
        (("near", "Point", "[1,2]", None), "georel", "near needs maxDistance==N or minDistance==N"),
        (
            ("near;maxDistance==-5", "Point", "[1,2]", None),
            "georel",
            "maxDistance must be a non-negative",
        ),
        (("near;maxDistance==far", "Point", "[1,2]", None), "georel", "not 'far'"),
        (("near;radius==5", "Point", "[1,2]", None), "georel", "bad near modifier 'radius==5'"),
        (
            ("near;maxDistance==5;maxDistance==6", "Point", "[1,2]", None),
            "georel",
            "bad near modifier",
        ),
        (
            ("within;maxDistance==5", "Point", "[1,2]", None),
            "georel",
            "'within' takes no modifiers",
        ),
        (("within", "Circle", "[1,2]", None), "geometry", "unsupported geometry 'Circle'"),
        (("within", "Point", "[1,2", None), "coordinates", "not a JSON array"),
        (("within", "Point", '{"x": 1}', None), "coordinates", "must be a JSON array"),
        (
            ("within", "Point", "[1,200]", None),
            "coordinates",
            "latitude 200 at coordinates is outside",
        ),
        (
            ("within", "Polygon", "[[[0,0],[1,1],[1,0],[0,1],[0,0]]]", None),
            "coordinates",
            "Self-intersection",
        ),
        (("within", "Point", "[1,2]", "a b"), "geoproperty", "'a b' is not an attribute name"),
    ],
)
def test_parse_geoquery_errors_name_the_parameter(
    args: tuple[Any, ...], field: str, message: str
) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geoquery(*args)
    assert info.value.field == field
    assert info.value.detail.startswith(f"{field}: ")
    assert message in info.value.detail


# ---- the bounding-box prefilter, in SQL ----------------------------------------------------

META = MetaData()
BOXES = Table(
    "geo_boxes",
    META,
    Column("id", Integer, primary_key=True),
    *(Column(name, Float, nullable=True) for name in ("min_x", "min_y", "max_x", "max_y")),
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """An in-memory SQLite database with one bounding-box table."""
    eng = create_engine("sqlite://", poolclass=StaticPool)
    META.create_all(eng)
    yield eng
    eng.dispose()


def kept(engine: Engine, gq: GeoQuery, geojson: dict[str, Any]) -> bool:
    """Whether the prefilter, evaluated by SQLite, keeps an entity with this geometry."""
    pre = bbox_prefilter(gq, BOXES.c.min_x, BOXES.c.min_y, BOXES.c.max_x, BOXES.c.max_y)
    assert pre is not None
    with engine.begin() as conn:
        conn.execute(BOXES.delete())
        x0, y0, x1, y1 = bbox_of(geojson)
        conn.execute(
            BOXES.insert(), [{"id": 1, "min_x": x0, "min_y": y0, "max_x": x1, "max_y": y1}]
        )
        return conn.execute(select(BOXES.c.id).where(pre)).first() is not None


def test_prefilter_narrows_and_gives_up_where_it_must(engine: Engine) -> None:
    here = query("near;maxDistance==1000", "Point", [120.15, 30.28])
    assert kept(engine, here, point(120.15, 30.2889))  # 988 m
    assert not kept(engine, here, point(120.15, 30.30))  # 2.2 km north
    assert not kept(engine, here, point(120.17, 30.28))  # 1.9 km east
    assert kept(engine, query("within", "Polygon", [WEST_LAKE]), point(*MID_LAKE))
    assert not kept(engine, query("within", "Polygon", [WEST_LAKE]), point(*EAST_STATION))
    assert not kept(engine, query("contains", "Point", EAST_STATION), LAKE)
    assert not kept(engine, query("intersects", "Point", EAST_STATION), LAKE)
    cols = (BOXES.c.min_x, BOXES.c.min_y, BOXES.c.max_x, BOXES.c.max_y)
    assert bbox_prefilter(query("disjoint", "Point", MID_LAKE), *cols) is None
    assert bbox_prefilter(query("near;minDistance==10", "Point", MID_LAKE), *cols) is None


def _wrap(lon: float) -> float:
    return (lon + 180) % 360 - 180


@st.composite
def geometry_near(draw: st.DrawFn, lon: float, lat: float) -> dict[str, Any]:
    """A Point, LineString or Polygon somewhere around (lon, lat), across the antimeridian too."""
    scale = draw(st.sampled_from([1e-4, 1e-2, 0.5, 5.0, 40.0]))
    x = _wrap(lon + draw(st.floats(-1, 1)) * scale)
    y = max(-90.0, min(90.0, lat + draw(st.floats(-1, 1)) * scale))
    kind = draw(st.sampled_from(["Point", "LineString", "Polygon"]))
    size = draw(st.sampled_from([1e-3, 0.1, 2.0]))
    if kind == "Point" or not (abs(x) + size < 180 and abs(y) + size < 90):
        return point(x, y)
    if kind == "LineString":
        return {"type": kind, "coordinates": [[x, y], [x + size, y + size / 2]]}
    ring = [[x - size, y - size], [x + size, y - size], [x + size, y + size], [x - size, y - size]]
    return {"type": kind, "coordinates": [ring]}


@st.composite
def near_cases(draw: st.DrawFn) -> tuple[GeoQuery, dict[str, Any]]:
    """A geometry and a near;maxDistance query it just satisfies (or comfortably satisfies)."""
    lon, lat = draw(st.floats(-180, 180)), draw(st.floats(-89.99, 89.99))
    lat = draw(st.sampled_from([lat, math.copysign(89.9, lat), 30.28]))
    lon = draw(st.sampled_from([lon, math.copysign(179.99, lon), 120.15]))
    entity = draw(geometry_near(lon, lat))
    if draw(st.booleans()):
        q_geom: dict[str, Any] = point(lon, lat)
    else:
        q_geom = draw(geometry_near(lon, lat))
    d = distance_m(shape(q_geom), shape(entity))
    factor = draw(st.sampled_from([1.0, 1.0 + 1e-9, 1.01, 1.5]))
    gq = query(f"near;maxDistance=={d * factor!r}", q_geom["type"], q_geom["coordinates"])
    return gq, entity


@settings(max_examples=400, deadline=None)
@given(case=near_cases())
def test_near_prefilter_never_drops_a_match(engine: Engine, case: tuple[GeoQuery, Any]) -> None:
    gq, entity = case
    assert matches_geo(gq, entity)
    assert kept(engine, gq, entity)


@settings(max_examples=300, deadline=None)
@given(
    rel=st.sampled_from(["within", "contains", "intersects", "overlaps", "equals"]),
    box=st.tuples(
        st.floats(-170, 160), st.floats(-80, 70), st.floats(1e-3, 10), st.floats(1e-3, 10)
    ),
    shift=st.tuples(st.floats(-0.3, 1.3), st.floats(-0.3, 1.3), st.floats(0, 0.8)),
    entity_kind=st.sampled_from(["Point", "Polygon", "same"]),
)
def test_relation_prefilters_never_drop_a_match(
    engine: Engine, rel: str, box: tuple[float, ...], shift: tuple[float, ...], entity_kind: str
) -> None:
    x0, y0, w, h = box
    ring = [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]
    gq = query(rel, "Polygon", [ring])
    ex, ey = x0 + shift[0] * w, y0 + shift[1] * h
    if entity_kind == "Point":
        entity = point(ex, ey)
    elif entity_kind == "same":
        entity = {"type": "Polygon", "coordinates": [ring]}
    else:
        ew, eh = max(shift[2] * w, 1e-3), max(shift[2] * h, 1e-3)
        square = [[ex, ey], [ex + ew, ey], [ex + ew, ey + eh], [ex, ey + eh], [ex, ey]]
        entity = {"type": "Polygon", "coordinates": [square]}
    assume(matches_geo(gq, entity))
    assert kept(engine, gq, entity)


@pytest.mark.parametrize("lat", [0.0, 30.28, 60.0, 80.0, -70.0])
@pytest.mark.parametrize("metres", [1000.0, 100_000.0, 1_000_000.0])
def test_near_prefilter_keeps_the_easternmost_point_of_the_circle(
    engine: Engine, lat: float, metres: float
) -> None:
    # The meridian tangent to the circle of radius c around (0, lat) touches it at longitude
    # asin(sin c / cos lat) and latitude asin(sin lat / cos c): the widest reach east.
    c, phi = metres / 6_371_008.8, math.radians(lat)
    reach = math.degrees(math.asin(math.sin(c) / math.cos(phi))) * (1 - 1e-9)
    entity = point(reach, math.degrees(math.asin(math.sin(phi) / math.cos(c))))
    gq = query(f"near;maxDistance=={metres}", "Point", [0, lat])
    assert matches_geo(gq, entity)
    assert not matches_geo(gq, point(reach * 1.001, entity["coordinates"][1]))
    assert kept(engine, gq, entity)
