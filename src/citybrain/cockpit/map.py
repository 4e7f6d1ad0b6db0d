"""The city map (城市运行地图): districts and live sensors drawn from the hub's own entities.

No map tiles and no CDN: the page's script (``static/map.js``) asks the hub's NGSI-LD API for
each entity type as GeoJSON (``Accept: application/geo+json``) and draws it as SVG. Everything
the script needs — the types, the colour scales, the popup fields and every message in the
request's language — is embedded in the page as data attributes (the CSP allows no inline
script).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import mount_static, render_page
from citybrain.kernel.i18n import t

ENTITY_TYPES = (
    "AdministrativeArea",
    "AirQualityObserved",
    "OffStreetParking",
    "TrafficFlowObserved",
)
ENDPOINT = "/ngsi-ld/v1/entities"
LIMIT = 1000
REFRESH_S = 60
FALLBACK_BBOX = (120.0, 30.1, 120.4, 30.4)  # lon/lat box shown before any entity arrives


@dataclass(frozen=True)
class Scale:
    """How one sensor type is coloured: by ``attr``, levels split at ``breaks``; each level
    has a tone (0 good .. 5 worst); values outside ``valid`` are shown as invalid."""

    entity_type: str
    attr: str
    breaks: tuple[float, ...]
    tones: tuple[int, ...]
    valid: tuple[float, float]
    percent: bool = False

    def ranges(self) -> list[str]:
        """Each level's value range as text, e.g. ``35–75`` or ``≥ 95%``."""

        def show(v: float) -> str:
            return f"{v * 100:g}%" if self.percent else f"{v:g}"

        edges = [self.valid[0], *self.breaks]
        out = [f"{show(lo)}–{show(hi)}" for lo, hi in zip(edges, self.breaks, strict=False)]
        return [*out, f"≥ {show(self.breaks[-1])}"]


SCALES: tuple[Scale, ...] = (
    # China's PM2.5 breakpoints (HJ 633-2012), µg/m³
    Scale("AirQualityObserved", "pm25", (35, 75, 115, 150, 250), (0, 1, 2, 3, 4, 5), (0, 1000)),
    Scale("OffStreetParking", "occupancy", (0.5, 0.8, 0.95), (0, 1, 3, 5), (0, 1), percent=True),
    # road traffic performance index (0-10) bands
    Scale("TrafficFlowObserved", "congestionIndex", (2, 4, 6, 8), (0, 1, 2, 3, 5), (0, 10)),
)
# (attribute, unit, shown as percent) per type, for the popup
POPUP: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "AdministrativeArea": (("areaCode", "", False),),
    "AirQualityObserved": (
        ("pm25", "µg/m³", False),
        ("pm10", "µg/m³", False),
        ("no2", "µg/m³", False),
        ("o3", "µg/m³", False),
        ("temperature", "℃", False),
    ),
    "OffStreetParking": (
        ("availableSpotNumber", "", False),
        ("totalSpotNumber", "", False),
        ("occupancy", "", True),
    ),
    "TrafficFlowObserved": (
        ("intensity", "", False),
        ("averageVehicleSpeed", "km/h", False),
        ("congestionIndex", "", False),
        ("occupancy", "", True),
    ),
}


@dataclass(frozen=True)
class LegendLevel:
    """One row of the legend."""

    tone: int
    label: str
    range: str


@dataclass(frozen=True)
class LegendGroup:
    """The legend of one entity type."""

    entity_type: str
    label: str
    by: str
    levels: tuple[LegendLevel, ...]


def legend(locale: str) -> list[LegendGroup]:
    """The legend in ``locale``: districts first, then each sensor type with its levels."""
    groups = [LegendGroup("AdministrativeArea", t("map.type.AdministrativeArea", locale), "", ())]
    for scale in SCALES:
        kind = scale.entity_type
        levels = tuple(
            LegendLevel(tone, t(f"map.level.{kind}.{i}", locale), rng)
            for i, (tone, rng) in enumerate(zip(scale.tones, scale.ranges(), strict=True))
        )
        groups.append(
            LegendGroup(kind, t(f"map.type.{kind}", locale), t(f"map.by.{kind}", locale), levels)
        )
    return groups


def map_config(locale: str) -> dict[str, Any]:
    """Everything ``map.js`` needs, in ``locale``."""
    keys = ("loading", "loaded", "empty", "error", "error_network", "invalid", "close", "observed")
    return {
        "endpoint": ENDPOINT,
        "limit": LIMIT,
        "refresh_s": REFRESH_S,
        "types": list(ENTITY_TYPES),
        "bbox": list(FALLBACK_BBOX),
        "scales": {
            s.entity_type: {
                "attr": s.attr,
                "breaks": list(s.breaks),
                "tones": list(s.tones),
                "valid": list(s.valid),
            }
            for s in SCALES
        },
        "popup": {
            kind: [
                {"attr": a, "label": t(f"map.attr.{a}", locale), "unit": unit, "percent": pct}
                for a, unit, pct in fields
            ]
            for kind, fields in POPUP.items()
        },
        "messages": {key: t(f"map.{key}", locale) for key in keys},
        "type_labels": {kind: t(f"map.type.{kind}", locale) for kind in ENTITY_TYPES},
        "level_labels": {
            s.entity_type: [
                t(f"map.level.{s.entity_type}.{i}", locale) for i in range(len(s.tones))
            ]
            for s in SCALES
        },
    }


def render_map(request: Request) -> HTMLResponse:
    """The map page in the request's locale."""
    runtime = getattr(request.app.state, "runtime", None)
    settings = getattr(runtime, "settings", None)

    def build(locale: str) -> dict[str, object]:
        city = ""
        if settings is not None:
            city = settings.city_name if locale == "zh-CN" else settings.city_name_en
        return {
            "city": city,
            "types": " ".join(ENTITY_TYPES),
            "config": json.dumps(map_config(locale), ensure_ascii=False, separators=(",", ":")),
            "legend": legend(locale),
        }

    return render_page(request, "map.html", "/map", build)


def install_map(app: FastAPI) -> None:
    """Add ``/map``; mount the cockpit's ``/static`` too unless it is mounted already."""
    mount_static(app)

    @app.api_route("/map", methods=["GET", "HEAD"], include_in_schema=False)
    def city_map(request: Request) -> HTMLResponse:
        """The city map page."""
        return render_map(request)
