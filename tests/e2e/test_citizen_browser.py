"""The citizen page in real Chromium: a resident registers with the ID number (a wrong one is
refused next to the form, naming the field), sees the one read of their record through a
department's grant, exports it as CSV, objects to it and sees the objection open; the rights
notice (PIPL §24) shows before sign-in; English with ?lang=en; nothing leaves 127.0.0.1."""

from __future__ import annotations

import os
import re
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
from stdnum.cn import ric

from citybrain.api.app import create_app
from citybrain.cockpit.citizen_page import install_citizen_page
from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime
from tests.e2e.test_home_browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import bearer, make_org, make_user

pytestmark = pytest.mark.browser
PASSWORD = "my-own-password-1"
STAFF_PASSWORD = "correct-horse-battery"  # what tests.helpers.make_user sets
SCREENSHOT = "/tmp/citizen.png"
DATASET = "elderly-allowance"
PURPOSE = "public-health"


def id_number(n: int) -> str:
    """A valid resident ID number (GB 11643 check digit) for resident ``n``."""
    body = f"330106{1950 + n:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder digit


def wrong_id_number(n: int) -> str:
    """Resident ``n``'s number with a check digit that does not match."""
    good = id_number(n)
    return good[:-1] + ("1" if good[-1] != "1" else "2")


RESIDENTS = [(id_number(n), district, 70 + n) for n, district in enumerate(("西湖区", "上城区"))]


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium; missing is a skip on a workstation and a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


@dataclass
class World:
    """A served hub: civil affairs provides the dataset, health (``doctor``) read it once."""

    url: str
    runtime: Runtime
    civil: str
    health: str
    grant: int


def with_citizen_page(app: FastAPI) -> FastAPI:
    """The app with ``/citizen`` (added here unless the app already mounts it)."""
    if not any(getattr(r, "path", None) == "/citizen" for r in app.routes):
        install_citizen_page(app)
    return app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The provider's unconditional dataset whose ``id_number`` field names the data subject,
    two residents' rows, the requester's auto-granted request and one read through it; the app
    served by uvicorn on a free port of 127.0.0.1."""
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    rt.migrate()
    rt.bootstrap()
    civil, health = make_org(rt, 411), make_org(rt, 412)
    civil_token = make_user(rt, "civil", civil, "clerk")
    doctor_token = make_user(rt, "doctor", health, "clerk")
    app = with_citizen_page(create_app(rt))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-citizen", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url) as api:
            schema = {
                "fields": [
                    {"name": "id_number", "type": "string", "pii": True, "subject": True},
                    {"name": "district", "type": "string"},
                    {"name": "age", "type": "integer"},
                ],
                "primaryKey": ["id_number"],
            }
            body = {
                "id": DATASET,
                "title_zh": "高龄津贴发放名册",
                "title_en": "Old-age allowance roll",
                "description_zh": "民政部门发放高龄津贴的老人名册。",
                "provider_code": civil,
                "theme": "social-security",
                "update_frequency": "P1M",
                "schema": schema,
                "grade": "important",
                "sharing": "unconditional",
                "open_data": False,
            }
            r = api.post("/catalog/datasets", headers=bearer(civil_token), json=body)
            assert r.status_code == 201, r.text
            csv = "id_number,district,age\n" + "".join(
                f"{number},{district},{age}\n" for number, district, age in RESIDENTS
            )
            r = api.post(
                f"/hub/datasets/{DATASET}/batches",
                headers=bearer(civil_token) | {"Content-Type": "text/csv"},
                content=csv,
            )
            assert r.status_code == 201, r.text
            r = api.post(
                "/sharing/requests",
                headers=bearer(doctor_token),
                json={"dataset": DATASET, "fields": ["district", "age"], "purpose": PURPOSE},
            )
            assert r.status_code == 201 and r.json()["grant"], r.text  # granted at once
            grant = r.json()["grant"]["id"]
            r = api.get(
                f"/sharing/grants/{grant}/records",
                headers=bearer(doctor_token),
                params={"purpose": PURPOSE},
            )
            assert r.status_code == 200 and len(r.json()["items"]) == len(RESIDENTS), r.text
        yield World(url, rt, civil, health, grant)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()


def register(
    page: Any, name: str, number: str, display_name: str = "", repeat: str = PASSWORD
) -> None:
    """Fill in and submit the register form (password ``PASSWORD``, repeated as ``repeat``)."""
    page.get_by_test_id("reg-name").fill(name)
    page.get_by_test_id("reg-display-name").fill(display_name)
    page.get_by_test_id("reg-id-number").fill(number)
    page.get_by_test_id("reg-password").fill(PASSWORD)
    page.get_by_test_id("reg-password-repeat").fill(repeat)
    page.get_by_test_id("reg-submit").click()


def test_register_see_export_and_object(chromium_path: Path, world: World) -> None:
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
            )
            page.set_default_timeout(10_000)
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Refused" in m.text else None,
            )
            page.goto(world.url + "/citizen")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_test_id("page-title")).to_contain_text("我的数据")

            # Before sign-in: the forms and the rights notice, with PIPL §24.
            expect(page.get_by_test_id("register-form")).to_be_visible()
            expect(page.get_by_test_id("signin-form")).to_be_visible()
            expect(page.get_by_test_id("workspace")).to_be_hidden()
            auto = page.get_by_test_id("rights-auto")
            expect(auto).to_be_visible()
            expect(auto).to_contain_text("第二十四条")
            expect(auto).to_contain_text("健康码")
            expect(auto).to_contain_text("拒绝仅以自动化方式作出决定")
            expect(auto).to_contain_text("数据资源管理部门监督窗口")
            expect(page.get_by_test_id("rights-id")).to_contain_text("带密钥的哈希值")

            # A wrong check digit: the API refuses it, the error names the ID number field.
            register(page, "resident0", wrong_id_number(0), display_name="王阿姨")
            error = page.get_by_test_id("register-error")
            expect(error).to_be_visible()
            expect(error.get_by_test_id("problem-field")).to_have_text(
                "字段：居民身份证号码（id_number）"
            )
            expect(error.get_by_test_id("problem-hint")).to_contain_text("校验码")
            expect(page.get_by_test_id("reg-id-number")).to_have_attribute("aria-invalid", "true")
            expect(page.get_by_test_id("workspace")).to_be_hidden()
            page.screenshot(path="/tmp/citizen-register.png", full_page=True)
            # Two different passwords are caught here, before the API is asked.
            register(page, "resident0", id_number(0), display_name="王阿姨", repeat="x" * 12)
            expect(error.get_by_test_id("problem-field")).to_have_text(
                "字段：再次输入密码（password_repeat）"
            )
            expect(page.get_by_test_id("reg-id-number")).not_to_have_attribute(
                "aria-invalid", "true"
            )

            # The right number: registered and signed in at once.
            register(page, "resident0", id_number(0), display_name="王阿姨")
            expect(page.get_by_test_id("session-user")).to_have_text("王阿姨 (resident0)")
            expect(page.get_by_test_id("notice")).to_contain_text("账户 resident0 已注册")
            expect(page.get_by_test_id("auth")).to_be_hidden()
            token = page.evaluate("sessionStorage.getItem('citybrain.citizen.token')")
            assert token and token.count(".") == 2  # a JWT, kept in this tab's sessionStorage

            # One use: the requester's department read the record through the grant.
            rows = page.locator('[data-testid^="use-"][data-use]')
            expect(rows).to_have_count(1)
            use = rows.first
            expect(use.get_by_test_id("use-organisation")).to_have_text(world.health)
            expect(use.get_by_test_id("use-actor")).to_have_text("doctor")
            expect(use.get_by_test_id("use-action")).to_have_text("共享读取")
            expect(use.get_by_test_id("use-dataset")).to_have_text(DATASET)
            expect(use.get_by_test_id("use-grant")).to_have_text(f"#{world.grant}")
            expect(use.get_by_test_id("use-purpose")).to_contain_text(PURPOSE)
            expect(use.get_by_test_id("use-ledger")).to_have_text(re.compile(r"^#\d+$"))
            when = use.get_by_test_id("use-at").locator("time")
            assert when.get_attribute("datetime", timeout=1000).endswith("Z")
            expect(when).to_contain_text("年")  # the reader's local format, not ISO
            expect(page.get_by_test_id("uses-none")).to_be_hidden()
            expect(page.get_by_test_id("objections-none")).to_be_visible()
            use_id = use.get_attribute("data-use")
            assert use_id

            # Export: fetched with the token, saved as a file naming the department.
            with page.expect_download() as download:
                page.get_by_test_id("export").click()
            saved = download.value
            assert saved.suggested_filename == "my-data-uses.csv"
            text = Path(saved.path()).read_text(encoding="utf-8-sig")
            assert text.startswith("at,organisation,actor,action")
            assert world.health in text and DATASET in text and len(text.splitlines()) == 2
            expect(page.get_by_test_id("notice")).to_contain_text("已导出 my-data-uses.csv")

            # Object: the reason is required, then the objection is listed as open.
            page.get_by_test_id(f"object-{use_id}").click()
            form = page.get_by_test_id(f"objection-form-{use_id}")
            expect(form).to_be_visible()
            page.get_by_test_id(f"objection-submit-{use_id}").click()
            problem = page.get_by_test_id(f"objection-error-{use_id}")
            expect(problem.get_by_test_id("problem-field")).to_have_text("字段：异议理由（text）")
            page.get_by_test_id(f"objection-text-{use_id}").fill(
                "我没有在该部门办理过业务，请说明读取我信息的依据。"
            )
            page.get_by_test_id(f"objection-submit-{use_id}").click()
            expect(page.get_by_test_id("notice")).to_contain_text("异议 #1 已提交")
            objection = page.get_by_test_id("objection-1")
            expect(objection).to_have_attribute("data-status", "open")
            expect(objection.get_by_test_id("objection-status")).to_have_text("处理中")
            expect(objection.get_by_test_id("objection-use")).to_contain_text(f"记录 #{use_id}")
            expect(objection.get_by_test_id("objection-text")).to_contain_text("读取我信息的依据")
            expect(page.get_by_test_id(f"objected-{use_id}")).to_have_text("已提出异议")
            expect(page.get_by_test_id("objections-none")).to_be_hidden()
            page.screenshot(path=SCREENSHOT, full_page=True)

            # Sign out, and back in through the sign-in form.
            page.get_by_test_id("signout").click()
            expect(page.get_by_test_id("signin-form")).to_be_visible()
            expect(page.get_by_test_id("workspace")).to_be_hidden()
            assert page.evaluate("sessionStorage.length") == 0
            page.get_by_test_id("signin-name").fill("resident0")
            page.get_by_test_id("signin-password").fill(PASSWORD)
            page.get_by_test_id("signin-submit").click()
            expect(page.get_by_test_id("session-user")).to_have_text("王阿姨 (resident0)")
            expect(page.get_by_test_id("objection-1")).to_be_visible()

            # The same tab in English: still signed in, English labels and states.
            page.goto(world.url + "/citizen?lang=en")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_test_id("page-title")).to_contain_text("My data")
            expect(page.get_by_test_id("rights-auto")).to_contain_text(
                "made solely by automated means"
            )
            expect(page.get_by_test_id("rights-auto")).to_contain_text(
                "the data bureau's supervision desk"
            )
            expect(page.get_by_test_id("session-user")).to_have_text("王阿姨 (resident0)")
            expect(page.get_by_role("heading", name="Who used my data")).to_be_visible()
            expect(page.get_by_test_id("use-action")).to_have_text("Read through a grant")
            expect(page.get_by_test_id("objection-status")).to_have_text("Open (being handled)")

            # A resident whose records nobody used sees the empty state; ID already taken: 409.
            page.get_by_test_id("signout").click()
            register(page, "resident0-again", id_number(0))
            expect(
                page.get_by_test_id("register-error").get_by_test_id("problem-field")
            ).to_have_text("Field: Resident ID number (id_number)")
            register(page, "resident9", id_number(9))
            expect(page.get_by_test_id("session-user")).to_have_text("resident9")
            expect(page.get_by_test_id("uses-none")).to_have_text(
                "Nothing yet: no department has read or destroyed records linked to your ID number."
            )
            expect(page.get_by_test_id("export")).to_be_disabled()
            expect(page.get_by_test_id("objections-none")).to_be_visible()

            # A department's account is not a citizen's: the page says so, shows no data.
            page.get_by_test_id("signout").click()
            page.get_by_test_id("signin-name").fill("doctor")
            page.get_by_test_id("signin-password").fill(STAFF_PASSWORD)
            page.get_by_test_id("signin-submit").click()
            expect(page.get_by_test_id("uses-error")).to_contain_text(
                "This account has no resident ID number linked to it"
            )
            expect(page.locator("[data-use]")).to_have_count(0)
        finally:
            browser.close()

    assert problems == []  # no script error, no content-security-policy violation
    outside = [
        u
        for u in requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert outside == []
    paths = {urlsplit(u).path for u in requests}
    assert {"/static/citizen.js", "/static/citizen.css", "/citizen/me/uses.csv"} <= paths
