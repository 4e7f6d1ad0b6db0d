"""The home page in real Chromium: Chinese first, the language switch, nothing leaves 127.0.0.1."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from citybrain.api.app import create_app
from citybrain.kernel.config import load_settings
from citybrain.kernel.identity.service import organisation_count, user_count
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.status import LedgerVerifier

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

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium; missing is a skip on a workstation and a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A migrated, bootstrapped runtime on SQLite in tmp_path, with a verified ledger."""
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    rt.migrate()
    rt.bootstrap()
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1, in a background thread."""
    app = create_app(runtime)
    verifier = LedgerVerifier(runtime)
    verifier.verify_now()
    app.state.verifier = verifier
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
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


def test_home_page_in_chromium(chromium_path: Path, runtime: Runtime, base_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with runtime.factory() as s:
        orgs, users = organisation_count(s), user_count(s)
        size = runtime.ledger.head(s).size
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.on("request", lambda req: requests.append(req.url))
            page.goto(base_url + "/")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            heading = page.get_by_role("heading", level=1)
            expect(heading).to_have_text(f"{runtime.settings.city_name}城市大脑")
            expect(page.get_by_test_id("org-count")).to_have_text(str(orgs))
            expect(page.get_by_test_id("user-count")).to_have_text(str(users))
            expect(page.get_by_test_id("ledger-size")).to_have_text(f"{size:,}")
            expect(page.get_by_test_id("ledger-verified")).to_contain_text("校验通过")
            expect(page.get_by_test_id("checkpoint")).to_contain_text("最近签名检查点")
            # the stylesheet arrived and applied (the dark top bar)
            bar = page.evaluate(
                "getComputedStyle(document.querySelector('.topbar')).backgroundColor"
            )
            assert bar == "rgb(7, 26, 51)"

            page.get_by_test_id("lang-switch").click()
            page.wait_for_url("**/?lang=en")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(heading).to_have_text(f"{runtime.settings.city_name_en} City Brain")
            expect(page.get_by_test_id("ledger-verified")).to_contain_text("Verified")
            expect(page.get_by_test_id("lang-switch")).to_have_text("中文")
            expect(page.get_by_test_id("org-count")).to_have_text(str(orgs))

            page.goto(base_url + "/")  # the choice is remembered in the cookie
            expect(page.locator("html")).to_have_attribute("lang", "en")
        finally:
            browser.close()

    assert requests, "the browser made requests"
    outside = [
        u for u in requests if urlsplit(u).scheme != "data" and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert outside == []
    assert any(urlsplit(u).path == "/static/cockpit.css" for u in requests)


def test_api_docs_render_offline_in_chromium(chromium_path: Path, base_url: str) -> None:
    """/docs renders Swagger UI from the package's own copy; nothing is fetched from outside."""
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda req: requests.append(req.url))
            page.goto(base_url + "/docs")
            # every tag is listed, collapsed, down to the last one; open the ledger's
            expect(page.locator("#operations-tag-ngsi-ld")).to_be_visible(timeout=20000)
            page.locator("#operations-tag-ledger").click()
            expect(page.get_by_text("/ledger/proofs/inclusion").first).to_be_visible(timeout=20000)
            expect(page.locator(".info .title")).to_contain_text("CityBrain")
        finally:
            browser.close()
    outside = [
        u for u in requests if urlsplit(u).scheme != "data" and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert outside == []
    assert any(u.endswith("/openapi.json") for u in requests)
