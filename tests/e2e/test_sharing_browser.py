"""The sharing page in real Chromium: a requester asks for a conditional dataset, the provider
approves it with a mask, the requester previews masked rows; API errors appear next to their
form naming the field; English labels with ?lang=en; nothing leaves 127.0.0.1."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from citybrain.api.app import create_app
from citybrain.cockpit.sharing_page import install_sharing_page
from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime
from tests.e2e.test_home_browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import bearer, make_org, make_user

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-battery"  # what tests.helpers.make_user sets
SCREENSHOT = "/tmp/sharing.png"
RESIDENTS = [  # person_id, name, phone, district, age
    ("P001", "王小明", "13812340001", "西湖区", 76),
    ("P002", "李四海", "13812340002", "上城区", 45),
    ("P003", "张三丰", "13812340003", "滨江区", 38),
]
ROWS = len(RESIDENTS)
RAW_NAMES = [r[1] for r in RESIDENTS]
DATASET = {
    "id": "assist-conditional",
    "title_zh": "困难群众救助对象",
    "title_en": "Recipients of social assistance",
    "description_zh": "民政部门登记的救助对象。",
    "description_en": "Recipients of assistance registered by civil affairs.",
    "theme": "social-security",
    "update_frequency": "P1M",
    "schema": {
        "fields": [
            {"name": "person_id", "type": "string", "constraints": {"required": True}, "pii": True},
            {"name": "name", "type": "string", "pii": True},
            {"name": "phone", "type": "string", "sensitive_pii": True},
            {"name": "district", "type": "string"},
            {"name": "age", "type": "integer"},
        ],
        "primaryKey": ["person_id"],
    },
    "grade": "important",
    "sharing": "conditional",
    "open_data": False,
}


@dataclass
class World:
    """A served hub with a provider (civil affairs) and a requester (health)."""

    url: str
    runtime: Runtime
    civil: str
    health: str


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium; missing is a skip on a workstation and a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


def with_sharing_page(app: FastAPI) -> FastAPI:
    """The app with ``/sharing`` (added here unless the app already mounts it)."""
    if not any(getattr(r, "path", None) == "/sharing" for r in app.routes):
        install_sharing_page(app)
    return app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Two departments with a clerk each, the provider's conditional dataset with three rows,
    the app served by uvicorn on a free port of 127.0.0.1."""
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    rt.migrate()
    rt.bootstrap()
    civil, health = make_org(rt, 401), make_org(rt, 402)
    civil_token = make_user(rt, "civil", civil, "clerk")
    make_user(rt, "doctor", health, "clerk")
    app = with_sharing_page(create_app(rt))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-sharing", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, headers=bearer(civil_token)) as api:
            for slug, sharing in (
                ("assist-conditional", "conditional"),
                ("assist-open", "unconditional"),
                ("assist-closed", "none"),
            ):
                body = DATASET | {"id": slug, "sharing": sharing, "provider_code": civil}
                if sharing == "none":
                    body["legal_basis"] = "《社会救助暂行办法》第六十六条"
                r = api.post("/catalog/datasets", json=body)
                assert r.status_code == 201, r.text
            csv = "person_id,name,phone,district,age\n" + "".join(
                ",".join(map(str, row)) + "\n" for row in RESIDENTS
            )
            r = api.post(
                "/hub/datasets/assist-conditional/batches",
                headers={"Content-Type": "text/csv"},
                content=csv,
            )
            assert r.status_code == 201, r.text
        yield World(url, rt, civil, health)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()


def sign_in(page: Any, name: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    form = page.get_by_test_id("signin-form")
    expect(form).to_be_visible()
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(password)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("session-user")).to_have_text(name)
    expect(form).to_be_hidden()


def sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    expect(page.get_by_test_id("workspace")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_request_approve_and_preview_masked_rows(chromium_path: Path, world: World) -> None:
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Refused" in m.text else None,
            )
            page.goto(world.url + "/sharing")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_test_id("page-title")).to_contain_text("数据共享")

            # A wrong password is the API's answer, shown next to the sign-in form.
            page.get_by_test_id("signin-name").fill("doctor")
            page.get_by_test_id("signin-password").fill("wrong-password-1")
            page.get_by_test_id("signin-submit").click()
            expect(page.get_by_test_id("signin-error")).to_be_visible()
            expect(page.get_by_test_id("workspace")).to_be_hidden()

            # The requester signs in and sees who they are.
            sign_in(page, "doctor")
            expect(page.get_by_test_id("signin-error")).to_be_hidden()
            expect(page.get_by_test_id("session-org")).to_have_text("机构402")
            token = page.evaluate("sessionStorage.getItem('citybrain.sharing.token')")
            assert token and token.count(".") == 2  # a JWT, kept in this tab's sessionStorage

            page.get_by_test_id("req-dataset").select_option("assist-conditional")
            expect(page.get_by_test_id("req-sharing")).to_have_text("有条件共享")
            expect(page.get_by_test_id("req-provider")).to_have_text("机构401")
            expect(page.get_by_test_id("pii-name")).to_have_text("个人信息")
            expect(page.get_by_test_id("pii-phone")).to_have_text("敏感个人信息")
            expect(page.get_by_test_id("req-legal-required")).to_be_hidden()
            purpose = page.get_by_test_id("req-purpose")
            purpose.select_option("public-health")
            expect(purpose.locator("option:checked")).to_have_text("公共卫生")

            # No field ticked: the API's problem names the field, in the page's language.
            page.get_by_test_id("req-submit").click()
            error = page.get_by_test_id("request-error")
            expect(error).to_be_visible()
            expect(error.get_by_test_id("problem-field")).to_have_text("字段：字段（fields）")
            expect(page.locator("#req-fields")).to_have_attribute("aria-invalid", "true")
            expect(page.get_by_test_id("request-result")).to_be_hidden()

            # 不予共享 data: the legal basis is marked required, and the API insists on it.
            page.get_by_test_id("req-dataset").select_option("assist-closed")
            expect(page.get_by_test_id("req-sharing")).to_have_text("不予共享")
            expect(page.get_by_test_id("req-legal-required")).to_have_text("（必填）")
            page.get_by_test_id("req-field-district").check()
            page.get_by_test_id("req-submit").click()
            expect(error.get_by_test_id("problem-field")).to_have_text(
                "字段：法律依据（legal_basis）"
            )
            expect(page.get_by_test_id("req-legal-basis")).to_have_attribute("aria-invalid", "true")
            page.get_by_test_id("req-dataset").select_option("assist-conditional")
            expect(page.get_by_test_id("req-legal-required")).to_be_hidden()

            for field in ("name", "district", "age"):
                page.get_by_test_id(f"req-field-{field}").check()
            page.get_by_test_id("req-purpose-text").fill("慢病随访")
            page.get_by_test_id("req-term").fill("30")
            page.get_by_test_id("req-submit").click()
            result = page.get_by_test_id("request-result")
            expect(result).to_contain_text("申请 #1 已提交，待提供单位审批")
            expect(error).to_be_hidden()
            mine = page.get_by_test_id("outgoing-1")
            expect(mine).to_contain_text("待审批")
            expect(mine).to_contain_text("name, district, age")
            expect(page.get_by_test_id("incoming-none")).to_be_visible()  # nothing to decide
            sign_out(page)

            # The provider sees it under 待我审批 and approves it, masking the name.
            sign_in(page, "civil")
            expect(page.get_by_test_id("req-purpose-text")).to_have_value("")  # form was reset
            card = page.get_by_test_id("incoming-1")
            expect(card).to_contain_text("困难群众救助对象")
            expect(card.get_by_test_id("incoming-1-requester")).to_have_text("11330100000000402E")
            expect(card.get_by_test_id("incoming-1-fields")).to_have_text("name, district, age")
            expect(card.get_by_test_id("incoming-1-purpose")).to_have_text("公共卫生 — 慢病随访")
            mask = card.get_by_test_id("mask-1-name")
            expect(mask).to_have_value("MASK")  # personal information: masked unless changed
            expect(card.get_by_test_id("mask-1-district")).to_have_value("NONE")
            mask.select_option("MASK")
            card.get_by_test_id("mask-1-age").select_option("GENERALIZE")
            card.get_by_test_id("width-1-age").fill("10")
            expect(card.get_by_test_id("term-1")).to_have_value("30")
            page.screenshot(path="/tmp/sharing-decide.png", full_page=True)
            card.get_by_test_id("approve-1").click()
            expect(page.get_by_test_id("notice")).to_contain_text("已批准申请 #1，生成授权 #1")
            expect(page.get_by_test_id("incoming-none")).to_be_visible()
            grant = page.get_by_test_id("grants-live").get_by_test_id("grant-1")
            expect(grant).to_contain_text("有效")
            expect(grant.get_by_test_id("grant-1-mask-name")).to_have_attribute("data-mask", "MASK")
            expect(grant.get_by_test_id("revoke-1")).to_be_visible()  # the provider may revoke
            expect(grant.get_by_test_id("preview-1")).to_have_count(0)  # but not read
            page.screenshot(path=SCREENSHOT, full_page=True)
            sign_out(page)

            # The requester sees the live grant and previews masked rows through it.
            sign_in(page, "doctor")
            expect(page.get_by_test_id("outgoing-1")).to_contain_text("已批准")
            grant = page.get_by_test_id("grants-live").get_by_test_id("grant-1")
            expect(grant).to_contain_text("有效")
            expect(grant.get_by_test_id("revoke-1")).to_have_count(0)
            grant.get_by_test_id("preview-1").click()
            rows = page.get_by_test_id("preview-row")
            expect(rows).to_have_count(ROWS)
            expect(page.get_by_test_id("preview-title")).to_have_text("授权 #1 数据预览")
            first = rows.first
            expect(first.locator('td[data-field="name"]')).to_have_text("***")
            expect(first.locator('td[data-field="district"]')).to_have_text("西湖区")
            expect(first.locator('td[data-field="age"]')).to_have_text("70-79")
            html = page.content()
            assert not [raw for raw in RAW_NAMES if raw in html], "a raw name reached the page"
            page.screenshot(path="/tmp/sharing-preview.png", full_page=True)

            # The same tab in English: still signed in, English labels and statuses.
            page.goto(world.url + "/sharing?lang=en")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_test_id("page-title")).to_contain_text("Data sharing")
            expect(page.get_by_test_id("session-user")).to_have_text("doctor")
            expect(page.get_by_role("heading", name="Request data")).to_be_visible()
            expect(page.get_by_role("heading", name="To decide")).to_be_visible()
            expect(page.get_by_role("heading", name="My requests")).to_be_visible()
            expect(page.get_by_role("heading", name="Grants", exact=True)).to_be_visible()
            expect(page.get_by_test_id("outgoing-1")).to_contain_text("Approved")
            expect(page.get_by_test_id("outgoing-1")).to_contain_text("Public health")
            grant = page.get_by_test_id("grants-live").get_by_test_id("grant-1")
            expect(grant).to_contain_text("Live")
            expect(grant.get_by_test_id("grant-1-mask-name")).to_contain_text("Mask characters")
            page.get_by_test_id("req-dataset").select_option("assist-conditional")
            expect(page.get_by_test_id("req-sharing")).to_have_text("Shared on conditions")
            page.get_by_test_id("req-submit").click()
            expect(page.get_by_test_id("problem-field")).to_have_text("Field: Fields (fields)")
            # 无条件共享 data is granted at once.
            page.get_by_test_id("req-dataset").select_option("assist-open")
            page.get_by_test_id("req-field-district").check()
            page.get_by_test_id("req-submit").click()
            expect(page.get_by_test_id("request-result")).to_contain_text(
                "Request #2 was granted at once (grant #2"
            )
            expect(page.get_by_test_id("grants-live").get_by_test_id("grant-2")).to_be_visible()
            sign_out(page)

            # The provider revokes: a reason is required, then the grant has ended.
            sign_in(page, "civil")
            revoke = page.get_by_test_id("revoke-1")
            revoke.get_by_role("button", name="Revoke").click()
            expect(revoke.get_by_test_id("problem-field")).to_have_text("Field: Reason (reason)")
            page.get_by_test_id("revoke-reason-1").fill("project finished")
            revoke.get_by_role("button", name="Revoke").click()
            ended = page.get_by_test_id("grants-ended").get_by_test_id("grant-1")
            expect(ended).to_contain_text("Revoked")
            expect(ended.get_by_test_id("revoked-1")).to_contain_text("project finished")
            live = page.get_by_test_id("grants-live")
            expect(live.get_by_test_id("grant-1")).to_have_count(0)
            expect(live.get_by_test_id("grant-2")).to_contain_text("Live")
        finally:
            browser.close()

    assert problems == []  # no script error, no content-security-policy violation
    outside = [
        u for u in requests if urlsplit(u).scheme != "data" and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert outside == []
    paths = {urlsplit(u).path for u in requests}
    assert {"/static/sharing.js", "/static/sharing.css", "/sharing/grants/1/records"} <= paths
