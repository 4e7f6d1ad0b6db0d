"""`citybrain up` with no configuration, as a user meets it: the demo city is seeded, its
sensors' entities are on the map (real Chromium, nothing leaves 127.0.0.1), the quality board
names the late and the dirty provider, the home page links to catalogue, map and board and
shows the live traffic grid's panel in both languages; stopping leaves no process behind.

The only setting given is the live grid's speed (``CITYBRAIN_TRAFFIC_SPEED``), so that its
first snapshot and ambulance arrive within seconds instead of a minute."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.test_home_browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import child_pids, running, start_up

pytestmark = pytest.mark.browser
TRAFFIC_SPEED = "120"  # simulated seconds per wall second


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running `citybrain up` (its URL and everything it printed)."""
    proc, url, out = start_up(
        tmp_path_factory.mktemp("demo") / "data", env={"CITYBRAIN_TRAFFIC_SPEED": TRAFFIC_SPEED}
    )
    children: list[int] = []
    try:
        yield url, out
    finally:
        children = child_pids(proc.pid)
        proc.terminate()
        proc.wait(30)
    # the live traffic grid (a child process, with multiprocessing's resource tracker)
    # stopped with the server
    deadline = time.time() + 10
    while [pid for pid in children if running(pid)] and time.time() < deadline:
        time.sleep(0.1)
    assert children and [pid for pid in children if running(pid)] == []


def _board(url: str) -> str:
    """The quality board once its first round is in."""
    deadline = time.time() + 60
    while time.time() < deadline:
        html = httpx.get(url + "quality").text
        if 'data-testid="row-public-parking"' in html:
            return html
        time.sleep(1)
    raise AssertionError("no quality round within 60 s")


def _score(html: str, slug: str, dimension: str) -> int:
    m = re.search(rf'data-testid="score-{slug}-{dimension}"[^>]*>\s*(\d+)', html)
    assert m, f"no {dimension} score for {slug}"
    return int(m.group(1))


def test_demo_is_seeded_with_progress_and_summary(city: tuple[str, str]) -> None:
    _, out = city
    assert "演示城市就绪" in out and "13 个机构" in out and "14 个数据集" in out


def test_sensor_entities_are_open_data_as_geojson(city: tuple[str, str]) -> None:
    url, _ = city
    for etype in ("AirQualityObserved", "OffStreetParking", "TrafficFlowObserved"):
        r = httpx.get(
            url + "ngsi-ld/v1/entities",
            params={"type": etype, "limit": 1000},
            headers={"Accept": "application/geo+json"},
        )
        assert r.status_code == 200, r.text
        features = r.json()["features"]
        assert features and all(f["geometry"]["type"] == "Point" for f in features), etype


def test_quality_board_names_the_late_and_the_dirty_provider(city: tuple[str, str]) -> None:
    url, _ = city
    html = _board(url)
    assert _score(html, "traffic-flow", "timeliness") >= 90  # a punctual provider
    assert _score(html, "public-parking", "timeliness") < 90  # reports every ~20 min, not 5
    assert _score(html, "micro-air-quality", "accuracy") < 100  # out-of-range values
    assert _score(html, "micro-air-quality", "authenticity") < 50  # unsigned messages


def test_home_links_and_map_in_chromium(city: tuple[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    chromium_path: Path = CHROMIUM

    url, _ = city
    home = httpx.get(url).text
    for link in ('href="/catalogue"', 'href="/map"', 'href="/quality"'):
        assert link in home
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "request",
                lambda req: (
                    outside.append(req.url)
                    if urlsplit(req.url).hostname not in ("127.0.0.1", None)
                    and not req.url.startswith("data:")
                    else None
                ),
            )
            page.goto(url + "map")
            expect(page.locator("[data-testid=area]").first).to_be_visible(timeout=20_000)
            assert page.locator("[data-testid=area]").count() >= 6
            assert page.locator("[data-testid=marker]").count() >= 30
            page.goto(url + "catalogue?q=交通")
            expect(page.locator("[data-testid=result-count]")).to_be_visible()
        finally:
            browser.close()
    assert outside == []


def _home_with_traffic(url: str) -> str:
    """The home page once the live grid's first snapshot is in the store."""
    deadline = time.time() + 60
    while time.time() < deadline:
        html = httpx.get(url).text
        if 'data-testid="traffic-panel"' in html:
            return html
        time.sleep(0.5)
    raise AssertionError("no traffic panel on the home page within 60 s")


def test_home_shows_the_traffic_panel_in_both_languages(city: tuple[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    url, _ = city
    _home_with_traffic(url)
    index = re.compile(r"^\d+\.\d{2}$")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(url)
            panel = page.get_by_test_id("traffic-panel")
            expect(panel).to_be_visible()
            expect(panel.get_by_role("heading", level=2)).to_have_text("交通信号")
            expect(page.get_by_test_id("traffic-index")).to_have_text(index)
            assert float(page.get_by_test_id("traffic-index").inner_text()) >= 1.0
            expect(page.get_by_test_id("traffic-controlled")).to_have_text("9")
            expect(page.get_by_test_id("traffic-ambulance")).to_contain_text(
                re.compile(r"\d+ 秒|暂无救护车")
            )
            page.goto(url + "?lang=en")
            expect(panel.get_by_role("heading", level=2)).to_have_text("Traffic signals")
            expect(page.get_by_test_id("traffic-controlled")).to_have_text("9")
            expect(page.get_by_test_id("traffic-ambulance")).to_contain_text(
                re.compile(r"Time saved \(estimate\)|No ambulance yet")
            )
        finally:
            browser.close()
