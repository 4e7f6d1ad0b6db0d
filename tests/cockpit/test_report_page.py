"""The report page (/report, 举报): Chinese by default, English with ?lang=en, public and without
data, no inline script, every message the script shows in both catalogues; and in real
Chromium: an anonymous report filed through the form (bad input refused next to it, naming the
field), the receipt code shown, looked up, the status followed as the staff move the case."""

from __future__ import annotations

import json
import re
import string
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
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.cockpit.report_page import install_report_page, report_messages
from citybrain.cockpit.web import HERE
from citybrain.kernel.config import load_settings
from citybrain.kernel.http import governed, public_or_governed
from citybrain.kernel.i18n import catalogue
from citybrain.kernel.runtime import Runtime
from tests.cockpit.pages import embedded_config, page_only_app, scripts_text
from tests.e2e.test_home_browser import CHROMIUM, CHROMIUM_ARGS, chromium_path  # noqa: F401
from tests.helpers import bearer, make_org, make_user

SCRIPT_NAMES = ("cockpit_ui.js", "report.js")
SCRIPTS = [HERE / "static" / name for name in SCRIPT_NAMES]
CODE = re.compile(r"^RPT(-[0-9A-HJKMNP-TV-Z]{4}){4}$")
STORY = "某社区把居民的健康码信息（含身份证号）拍照发到了公开的微信群里。"


def page_app(tmp_path: Path) -> FastAPI:
    """Only the page (and /static) over settings: the shell needs no database."""
    return page_only_app(tmp_path, install_report_page)


def page_config(text: str) -> dict[str, Any]:
    return embedded_config(text, "report")


def script_source() -> str:
    return scripts_text(SCRIPTS)


def test_page_in_chinese_by_default_and_english_with_lang(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/report")
        assert r.status_code == 200 and r.headers["content-language"] == "zh-CN"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        text = r.text
        assert "<title>举报 · 数字驾驶舱</title>" in text
        for label in ("提交举报", "查询办理进度", "您的身份（可选）", "举报人保护", "数据泄露"):
            assert f">{label}<" in text, label
        assert "第十六条" in text and "匿名" in text
        found = re.search(r"/static/report\.js\?v=([^\"]+)\"", text)
        assert found
        assert re.findall(r"<script\b[^>]*>", text) == [
            f'<script src="/static/{name}?v={found.group(1)}" defer>' for name in SCRIPT_NAMES
        ]
        assert re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S) == [""] * 2
        config = page_config(text)
        assert config["messages"] == report_messages("zh-CN")
        assert config["min_text"] == 10 and config["max_text"] == 4000
        assert not any(k.startswith("cli") for k in config["messages"])
        for asset in ("/static/report.js", "/static/report.css", "/static/cockpit_ui.js"):
            assert client.get(asset).status_code == 200, asset
        head = client.head("/report")
        assert head.status_code == 200 and head.content == b""
        en = client.get("/report?lang=en").text
        assert "<title>Report · Digital Cockpit</title>" in en
        for label in ("File a report", "Follow my report", "Who you are (optional)", "Data leak"):
            assert f">{label}<" in en, label
        assert "查询办理进度" not in en and 'href="/report?lang=zh-CN"' in en
        assert page_config(en)["messages"]["status.received"] == "Received"


def test_catalogues_have_the_same_report_keys() -> None:
    zh = {k: v for k, v in catalogue("zh-CN").items() if k.startswith("reportdesk.")}
    en = {k: v for k, v in catalogue("en").items() if k.startswith("reportdesk.")}
    assert set(zh) == set(en) and len(zh) > 60
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        names = {n for _, n, _, _ in string.Formatter().parse(zh[key]) if n}
        assert names == {n for _, n, _, _ in string.Formatter().parse(en[key]) if n}, key
    from citybrain.governance.reportdesk.models import CATEGORIES, SEVERITIES, STATUSES

    for family, values in (("category", CATEGORIES), ("status", STATUSES), ("step", STATUSES)):
        for value in values:
            assert f"reportdesk.{family}.{value}" in zh, (family, value)
    assert {f"reportdesk.severity.{s}" for s in SEVERITIES} <= set(zh)


def test_every_message_and_element_the_script_reads_exists(tmp_path: Path) -> None:
    source = script_source()
    used = set(re.findall(r'\bmsg\("([a-z_.]+)"', source))
    assert len(used) > 8
    messages = report_messages("en")
    assert sorted(k for k in used if k not in messages) == []
    with TestClient(page_app(tmp_path)) as client:
        text = client.get("/report").text
    ids = set(re.findall(r'byId\("([a-z-]+)"\)', source))
    testids = set(re.findall(r"querySelector\('\[data-testid=\"([a-z-]+)\"\]'\)", source))
    assert ids and testids
    assert sorted(i for i in ids if f'id="{i}"' not in text) == []
    assert sorted(i for i in testids if f'data-testid="{i}"' not in text) == []
    # each field an API problem may name has a label for the problem box
    for field in re.findall(r'data-field="([a-z_]+)"', text):
        assert f"field.{field}" in messages, field


def test_script_inserts_text_only_and_never_sends_a_token() -> None:
    unsafe = r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML\(|document\.write|\beval\(|new Function"
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        assert re.findall(unsafe, text) == [], path.name
        assert not re.search(r"https?://", text), path.name
    own = (HERE / "static" / "report.js").read_text(encoding="utf-8")
    assert "sessionStorage" not in own and "localStorage" not in own
    assert ".save(" not in own and ".restore(" not in own  # the client never holds a token
    assert '"/reports"' in own and '"/reports/receipt"' in own


def test_page_is_public_and_carries_no_data(runtime: Runtime) -> None:
    app = create_app(runtime)
    with TestClient(app) as client:
        r = client.post("/reports", json={"category": "leak", "description": STORY})
        assert r.status_code == 201
        number = r.json()["number"]
        admin = bearer(runtime.issue_token_for("admin")[0])
        with runtime.reader() as s:
            before = runtime.ledger.size(s)
        page = client.get("/report", headers=admin)
        assert page.status_code == 200 and number not in page.text and STORY not in page.text
        with runtime.reader() as s:
            assert runtime.ledger.size(s) == before
        routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path == "/report"]
        assert len(routes) == 1 and routes[0].methods == {"GET", "HEAD"}
        call = getattr(routes[0].dependant, "call", None)
        assert call is not governed and call is not public_or_governed
        assert "/report" not in client.get("/openapi.json").json()["paths"]


# ---------- in real Chromium ----------


@dataclass
class Served:
    """The hub served on 127.0.0.1 with a supervisor account."""

    url: str
    runtime: Runtime
    supervisor: str  # token


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    rt.migrate()
    rt.bootstrap()
    make_org(rt, 521)
    supervisor = make_user(rt, "sup-wang", rt.settings.city_code, "supervisor")
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-report", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", rt, supervisor)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()


@pytest.mark.browser
def test_file_an_anonymous_report_and_follow_it(chromium_path: Path, served: Served) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    requests: list[Any] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.on("request", lambda req: requests.append(req))
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            page.goto(served.url + "/report")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_test_id("page-title")).to_have_text("举报违法违规数据利用行为")
            expect(page.get_by_test_id("rights-law")).to_contain_text("第十六条")
            expect(page.get_by_test_id("rp-counter")).to_have_text("0 / 4000 字")

            # Nothing chosen: caught here, naming the field.
            error = page.get_by_test_id("report-error")
            page.get_by_test_id("rp-submit").click()
            expect(error.get_by_test_id("problem-field")).to_have_text("字段：举报类别（category）")
            expect(page.get_by_test_id("rp-category")).to_have_attribute("aria-invalid", "true")
            # A malformed credit code: the API refuses it, the box names the field.
            page.get_by_test_id("rp-category").select_option("leak")
            page.get_by_test_id("rp-description").fill(STORY)
            expect(page.get_by_test_id("rp-counter")).to_have_text(f"{len(STORY)} / 4000 字")
            page.get_by_test_id("rp-organisation").fill("12345")
            page.get_by_test_id("rp-submit").click()
            expect(error.get_by_test_id("problem-field")).to_have_text(
                "字段：涉及单位（organisation）"
            )
            expect(page.get_by_test_id("rp-organisation")).to_have_attribute("aria-invalid", "true")
            # A phone that is none, in the optional identity: named as the form names it.
            page.get_by_test_id("rp-organisation").fill("")
            page.get_by_test_id("rp-phone").fill("call me")
            page.get_by_test_id("rp-submit").click()
            expect(error.get_by_test_id("problem-field")).to_have_text(
                "字段：联系电话（reporter_phone）"
            )
            expect(page.get_by_test_id("rp-phone")).to_have_attribute("aria-invalid", "true")

            # Anonymous: the receipt, shown once.
            page.get_by_test_id("rp-phone").fill("")
            page.get_by_test_id("rp-submit").click()
            receipt = page.get_by_test_id("receipt")
            expect(receipt).to_be_visible()
            expect(page.get_by_test_id("report-form")).to_be_hidden()
            code = page.get_by_test_id("receipt-code").inner_text()
            assert CODE.match(code), code
            expect(page.get_by_test_id("receipt-number")).to_have_text(re.compile(r"^JB\d{4}-0+1$"))
            expect(page.get_by_test_id("receipt-status")).to_have_text("已受理")
            expect(receipt).to_contain_text("只显示这一次")
            page.screenshot(path="/tmp/report-receipt.png", full_page=True)
            filed = [r for r in requests if r.method == "POST" and r.url.endswith("/reports")]
            assert len(filed) == 3  # two refused by the API, one filed
            assert all("authorization" not in r.headers for r in filed)  # never a token
            body = json.loads(filed[-1].post_data or "{}")
            assert body == {"category": "leak", "description": STORY, "contact_consent": False}

            # Follow it from the receipt.
            page.get_by_test_id("receipt-follow").click()
            result = page.get_by_test_id("follow-result")
            expect(result).to_be_visible()
            expect(page.get_by_test_id("follow-status")).to_have_text("已受理")
            expect(page.get_by_test_id("follow-category")).to_have_text("数据泄露")
            expect(page.get_by_test_id("follow-step")).to_have_count(1)
            expect(page.get_by_test_id("follow-outcome")).to_be_hidden()

            # The staff move the case; the reporter sees it, without their names.
            with httpx.Client(base_url=served.url, headers=bearer(served.supervisor)) as api:
                r = api.post("/reports/1/triage", json={"severity": "high", "assignee": "sup-wang"})
                assert r.status_code == 200, r.text
                r = api.post("/reports/1/status", json={"status": "investigating"})
                assert r.status_code == 200, r.text
            typed = code.lower().replace("-", "")
            page.get_by_test_id("rp-code").fill(typed)
            page.get_by_test_id("follow-submit").click()
            expect(page.get_by_test_id("follow-status")).to_have_text("调查中")
            steps = page.get_by_test_id("follow-step")
            expect(steps).to_have_count(3)
            expect(steps.nth(1)).to_contain_text("已分办给监督人员")
            expect(result).not_to_contain_text("sup-wang")
            page.screenshot(path="/tmp/report-follow.png", full_page=True)

            # A code that is nobody's: said in the page's words.
            page.get_by_test_id("rp-code").fill("RPT-0000-0000-0000-0000")
            page.get_by_test_id("follow-submit").click()
            follow_error = page.get_by_test_id("follow-error")
            expect(follow_error).to_contain_text("没有与此回执码对应的举报")
            expect(result).to_be_hidden()

            # In English: the labels and the states.
            page.goto(served.url + "/report?lang=en")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_test_id("page-title")).to_have_text("Report an illegal use of data")
            expect(page.get_by_test_id("rp-category").locator("option[value=leak]")).to_have_text(
                "Data leak"
            )
            page.get_by_test_id("rp-code").fill(code)
            page.get_by_test_id("follow-submit").click()
            expect(page.get_by_test_id("follow-status")).to_have_text("Under investigation")
            expect(page.get_by_test_id("follow-step").nth(1)).to_contain_text(
                "Assigned to the supervision staff"
            )
            page.get_by_test_id("rp-submit").click()
            expect(
                page.get_by_test_id("report-error").get_by_test_id("problem-field")
            ).to_have_text("Field: Kind of wrongdoing (category)")
        finally:
            browser.close()

    assert problems == []  # no script error, no content-security-policy violation
    outside = [r.url for r in requests if urlsplit(r.url).hostname != "127.0.0.1"]
    assert [u for u in outside if urlsplit(u).scheme not in ("data", "blob")] == []
