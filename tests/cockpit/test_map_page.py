"""The city map page: its HTML in both languages (TestClient) and its drawing in real Chromium
against a stub NGSI-LD endpoint; nothing may leave 127.0.0.1."""

from __future__ import annotations

import html
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from citybrain.cockpit.map import ENTITY_TYPES, install_map
from citybrain.kernel.config import load_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
AT = "2024-05-06T02:00:00Z"


def prop(value: Any, observed: bool = True) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value}
    if observed:
        attr["observedAt"] = AT
    return attr


def area(code: str, name: str, name_en: str, ring: list[list[float]]) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:AdministrativeArea:{code}",
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "type": "AdministrativeArea",
            "name": prop(name, False),
            "alternateName": prop(name_en, False),
            "areaCode": prop(code, False),
        },
    }


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def point(kind: str, code: str, lon: float, lat: float, **attrs: Any) -> dict[str, Any]:
    props = {"type": kind, "name": prop(f"{code} 测点")}
    props.update({k: prop(v) for k, v in attrs.items()})
    return {
        "id": f"urn:ngsi-ld:{kind}:{code}",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


FEATURES: dict[str, list[dict[str, Any]]] = {
    "AdministrativeArea": [
        area("330106", "西湖区", "Xihu", box(120.0, 30.2, 120.15, 30.3)),
        area("330102", "上城区", "Shangcheng", box(120.15, 30.2, 120.3, 30.3)),
    ],
    "AirQualityObserved": [
        point("AirQualityObserved", "AQ-1", 120.05, 30.25, pm25=42.5, pm10=70.1, temperature=21.3),
        point("AirQualityObserved", "AQ-2", 120.2, 30.22, pm25=9999, pm10=80.0),
    ],
    "OffStreetParking": [
        point(
            "OffStreetParking",
            "P-1",
            120.1,
            30.28,
            occupancy=0.97,
            availableSpotNumber=6,
            totalSpotNumber=200,
        ),
    ],
    "TrafficFlowObserved": [
        point("TrafficFlowObserved", "TF-1", 120.25, 30.27, congestionIndex=5.1, intensity=120),
    ],
}


def map_app(tmp_path: Path, failing: frozenset[str] = frozenset()) -> tuple[FastAPI, list[Any]]:
    """The map page plus a stub NGSI-LD endpoint; returns the app and the log of stub calls."""
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=load_settings(environ={}, data_dir=tmp_path))
    calls: list[tuple[str, str, str]] = []

    @app.get("/ngsi-ld/v1/entities")
    def entities(request: Request, type: str = Query(), limit: int = Query(20)) -> JSONResponse:
        accept = request.headers.get("accept", "")
        calls.append((type, accept, str(limit)))
        if "application/geo+json" not in accept:
            return JSONResponse({"title": "not acceptable"}, status_code=406)
        if type in failing:
            return JSONResponse({"title": "unavailable"}, status_code=503)
        body = {"type": "FeatureCollection", "features": FEATURES.get(type, [])}
        return JSONResponse(body, media_type="application/geo+json")

    install_map(app)
    return app, calls


def page_config(text: str) -> dict[str, Any]:
    found = re.search(r'data-config="([^"]*)"', text)
    assert found
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def test_map_page_in_chinese_by_default(tmp_path: Path) -> None:
    app, _ = map_app(tmp_path)
    with TestClient(app) as client:
        r = client.get("/map")
    assert r.status_code == 200
    assert r.headers["content-language"] == "zh-CN"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    text = r.text
    assert '<html lang="zh-CN">' in text
    assert "<title>杭州市城市运行地图 · 数字驾驶舱</title>" in text
    assert ">城市运行地图</h1>" in text
    for label in (
        "图例",
        "行政区",
        "空气质量监测站",
        "公共停车场",
        "交通流量检测器",
        "严重污染",
        "35–75",
    ):
        assert label in text
    assert f'data-types="{" ".join(ENTITY_TYPES)}"' in text
    config = page_config(text)
    assert config["endpoint"] == "/ngsi-ld/v1/entities" and config["limit"] == 1000
    assert config["types"] == list(ENTITY_TYPES)
    assert "无法加载" in config["messages"]["error"]
    assert config["scales"]["AirQualityObserved"]["attr"] == "pm25"
    # only external scripts and styles from this server
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "style=" not in text
    assert not re.search(r"""(src|href)=["'](https?:)?//""", text)
    assert 'href="/map?lang=en"' in text


def test_map_page_in_english_and_remembered(tmp_path: Path) -> None:
    app, _ = map_app(tmp_path)
    with TestClient(app) as client:
        r = client.get("/map?lang=en")
        assert r.headers["content-language"] == "en"
        assert "lang=en" in r.headers["set-cookie"]
        assert "<title>Hangzhou City Operations Map · Digital Cockpit</title>" in r.text
        for label in ("Legend", "Air quality stations", "Severely polluted", "≥ 95%", "Full"):
            assert label in r.text
        assert "Could not load" in page_config(r.text)["messages"]["error"]
        again = client.get("/map")
        assert again.headers["content-language"] == "en"
        assert client.head("/map").status_code == 200
    with TestClient(app) as fresh:
        assert (
            fresh.get("/map", headers={"Accept-Language": "en-GB"}).headers["content-language"]
            == "en"
        )


def test_map_assets_are_served_and_local(tmp_path: Path) -> None:
    app, _ = map_app(tmp_path)
    with TestClient(app) as client:
        js = client.get("/static/map.js")
        css = client.get("/static/map.css")
    assert js.status_code == 200 and "application/geo+json" in js.text
    assert css.status_code == 200 and ".tone-5" in css.text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", js.text)
    assert "url(" not in css.text


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium; missing is a skip on a workstation and a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1, in a background thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-map", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def outside(requests: list[str]) -> list[str]:
    return [
        u for u in requests if urlsplit(u).scheme != "data" and urlsplit(u).hostname != "127.0.0.1"
    ]


@pytest.mark.browser
def test_map_draws_districts_and_sensors_in_chromium(chromium_path: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, calls = map_app(tmp_path)
    requests: list[str] = []
    with serving(app) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.on("request", lambda req: requests.append(req.url))
            page.goto(base_url + "/map")
            status = page.get_by_test_id("map-status")
            expect(status).to_have_attribute("data-state", "ready")
            expect(status).to_have_text("已显示 6 个实体")
            areas = page.locator("[data-testid=area]")
            expect(areas).to_have_count(2)
            assert areas.first.evaluate("e => e.tagName") == "path"
            assert areas.first.get_attribute("d", timeout=1000).startswith("M")  # type: ignore[union-attr]
            expect(page.locator(".area__label")).to_have_text(["西湖区", "上城区"])
            markers = page.locator("[data-testid=marker]")
            expect(markers).to_have_count(4)
            aq = page.locator('[data-entity-id="urn:ngsi-ld:AirQualityObserved:AQ-1"]')
            assert aq.get_attribute("data-level") == "1"
            assert "tone-1" in (aq.get_attribute("class") or "")
            bad = page.locator('[data-entity-id="urn:ngsi-ld:AirQualityObserved:AQ-2"]')
            assert bad.get_attribute("data-level") == "invalid"
            park = page.locator('[data-testid=marker][data-type="OffStreetParking"]')
            assert park.evaluate("e => e.tagName") == "rect"
            assert "tone-5" in (park.get_attribute("class") or "")
            # the colour comes from the stylesheet
            fill = aq.evaluate("e => getComputedStyle(e).fill")
            assert fill == "rgb(181, 154, 0)"
            expect(page.get_by_test_id("count-AirQualityObserved")).to_have_text("2")
            expect(page.get_by_test_id("count-AdministrativeArea")).to_have_text("2")
            expect(page.get_by_test_id("map-error")).to_be_hidden()

            aq.click()
            popup = page.get_by_test_id("map-popup")
            expect(popup).to_be_visible()
            expect(page.get_by_test_id("map-popup-title")).to_have_text("AQ-1 测点")
            expect(popup).to_contain_text("空气质量监测站 · 良")
            expect(popup.locator('[data-attr="pm25"]')).to_have_text("42.5 µg/m³")
            expect(popup.locator('[data-attr="observedAt"]')).to_have_text(
                "2024-05-06 02:00:00 UTC"
            )
            page.get_by_test_id("map-popup-close").click()
            expect(popup).to_be_hidden()
            park.focus()
            page.keyboard.press("Enter")
            expect(popup.locator('[data-attr="occupancy"]')).to_have_text("97%")
        finally:
            browser.close()

    assert outside(requests) == []
    assert {c[0] for c in calls} == set(ENTITY_TYPES)
    assert all(accept == "application/geo+json" and limit == "1000" for _, accept, limit in calls)


@pytest.mark.browser
def test_map_says_which_layer_failed_in_chromium(chromium_path: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, _ = map_app(tmp_path, failing=frozenset({"TrafficFlowObserved"}))
    requests: list[str] = []
    with serving(app) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="en-US")
            page.on("request", lambda req: requests.append(req.url))
            page.goto(base_url + "/map?lang=en")
            expect(page.get_by_test_id("map-status")).to_have_attribute("data-state", "partial")
            error = page.get_by_test_id("map-error")
            expect(error).to_be_visible()
            expect(error).to_have_text(
                'Could not load "Traffic detectors" (503); that layer is not shown.'
            )
            expect(page.locator("[data-testid=area]")).to_have_count(2)
            expect(page.locator("[data-testid=marker]")).to_have_count(3)
            expect(page.locator(".area__label")).to_have_text(["Xihu", "Shangcheng"])
            expect(page.get_by_test_id("count-TrafficFlowObserved")).to_have_text("!")

            page.unroute_all()
            page.route("**/ngsi-ld/v1/entities**", lambda route: route.abort())
            page.reload()
            expect(error).to_be_visible()
            expect(page.locator("[data-testid=map-error-item]")).to_have_count(4)
            expect(error).to_contain_text("network error")
            expect(page.get_by_test_id("map-status")).to_have_text("No entities to show yet")
        finally:
            browser.close()
    assert outside(requests) == []
