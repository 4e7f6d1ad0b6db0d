"""The supervisor's desk (/oversight, 监督工作台): Chinese by default, English with ?lang=en,
public and without data, no inline script, every message and element the script reads present;
and in real Chromium: a supervisor signs in, scans, sees a finding raised by a clerk's read
refused at the gate, acknowledges it and saves its evidence bundle; triages a report filed
through POST /reports and reveals its reporter (ledgered); sees an incident (whose update the
gate refuses to a supervisor, said plainly), a bulletin's acknowledgement progress and an
overdue dispute; renders an organisation report and saves its PDF. A clerk without the role
meets a clear 403 message, in both languages."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from citybrain.cockpit.oversight_page import (
    TABS,
    install_oversight_page,
    oversight_config,
    oversight_messages,
)
from citybrain.cockpit.web import HERE
from citybrain.kernel.config import load_settings
from citybrain.kernel.http import governed, public_or_governed
from citybrain.kernel.i18n import catalogue
from citybrain.kernel.runtime import Runtime
from tests.cockpit.pages import embedded_config, page_only_app, placeholders, scripts_text
from tests.e2e.test_home_browser import CHROMIUM, CHROMIUM_ARGS, chromium_path  # noqa: F401
from tests.e2e.test_sharing_browser import DATASET
from tests.helpers import bearer, make_org, make_user

SCRIPT_NAMES = (
    "cockpit_ui.js",
    "oversight.js",
    "oversight_lists.js",
    "oversight_findings.js",
    "oversight_reports.js",
    "oversight_security.js",
    "oversight_disputes.js",
    "oversight_orgreport.js",
)
SCRIPTS = [HERE / "static" / name for name in SCRIPT_NAMES]
OWN_SCRIPTS = [p for p in SCRIPTS if p.name != "cockpit_ui.js"]
MAX_SCRIPT_LINES = 400
PASSWORD = "correct-horse-battery"  # what tests.helpers.make_user sets
STORY = "某单位把居民的低保名册（含身份证号）通过个人邮箱发给了外包公司。"
CJK = re.compile(r"[\u4e00-\u9fff]")


def page_app(tmp_path: Path) -> FastAPI:
    """Only the page (and /static) over settings: the shell needs no database."""
    return page_only_app(tmp_path, install_oversight_page)


def page_config(text: str) -> dict[str, Any]:
    return embedded_config(text, "oversight")


def script_source(paths: list[Path] = SCRIPTS) -> str:
    return scripts_text(paths)


def test_page_in_chinese_by_default_and_english_with_lang(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/oversight")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-language"] == "zh-CN"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        text = r.text
        assert '<html lang="zh-CN">' in text
        assert "<title>监督工作台 · 数字驾驶舱</title>" in text
        for label in ("监督发现", "举报受理", "安全事件/风险通报", "数据争议", "监督报告", "登录"):
            assert f">{label}<" in text, label
        for label in (
            "立即扫描",
            "下载证据包",
            "查看举报人身份（记入台账）",
            "下载 PDF",
            "仅看逾期",
        ):
            assert label in text, label
        # only external scripts from this server, helpers first, each deferred; no inline code
        found = re.search(r"/static/oversight\.js\?v=([^\"]+)\"", text)
        assert found
        assert re.findall(r"<script\b[^>]*>", text) == [
            f'<script src="/static/{name}?v={found.group(1)}" defer>' for name in SCRIPT_NAMES
        ]
        assert re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S) == [""] * len(SCRIPTS)
        assert {p.name for p in (HERE / "static").glob("oversight*.js")} == {
            p.name for p in OWN_SCRIPTS
        }
        # tabs: one tablist, each tab controls its panel, the first selected
        for i, tab in enumerate(TABS):
            selected = "true" if i == 0 else "false"
            assert f'aria-controls="panel-{tab}" aria-selected="{selected}"' in text, tab
            assert f'id="panel-{tab}" aria-labelledby="tab-{tab}"' in text, tab
        assert 'href="/oversight?lang=en"' in text and 'data-testid="nav-oversight"' in text
        config = page_config(text)
        assert config == oversight_config("zh-CN")
        assert config["messages"]["finding_status.open"] == "待处理"
        assert config["finding"]["moves"]["open"] == ["acknowledged", "resolved", "dismissed"]
        assets = [f"/static/{name}" for name in SCRIPT_NAMES]
        for asset in (*assets, "/static/oversight.css", "/static/sharing.css"):
            assert client.get(asset).status_code == 200, asset
        head = client.head("/oversight")
        assert head.status_code == 200 and head.content == b""

        en = client.get("/oversight?lang=en")
        assert en.headers["content-language"] == "en" and "lang=en" in en.headers["set-cookie"]
        assert "<title>Supervision desk · Digital Cockpit</title>" in en.text
        for label in (
            "Findings",
            "Report desk",
            "Incidents &amp; bulletins",
            "Disputes",
            "Sign in",
        ):
            assert f">{label}<" in en.text, label
        assert "监督发现" not in en.text and 'href="/oversight?lang=zh-CN"' in en.text
        assert page_config(en.text)["messages"]["report_status.investigating"] == (
            "Under investigation"
        )


def test_catalogues_have_the_same_oversight_keys() -> None:
    zh = {k: v for k, v in catalogue("zh-CN").items() if k.startswith("oversight.")}
    en = {k: v for k, v in catalogue("en").items() if k.startswith("oversight.")}
    assert set(zh) == set(en) and len(zh) > 200
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert placeholders(zh[key]) == placeholders(en[key]), key
        # real Chinese: every zh message with words in it has Chinese characters
        words = re.sub(r"\{\w+\}|citybrain [a-z -]+|PDF|JavaScript", "", zh[key])
        assert CJK.search(words) or not re.search(r"[A-Za-z]", words), key
    assert catalogue("zh-CN")["nav.oversight"] == "监督工作台"
    assert catalogue("en")["nav.oversight"] == "Supervision"


# The label families the script builds from API values (label("family", v), badge("family",
# v)) and the vocabulary of the configuration each one labels.
FAMILIES = {
    "finding_status": lambda c: c["finding"]["statuses"],
    "severity": lambda c: c["finding"]["severities"] + c["incident"]["severities"],
    "report_status": lambda c: c["report"]["statuses"],
    "category": lambda c: c["report"]["categories"],
    "step": lambda c: c["report"]["steps"],
    "incident_status": lambda c: c["incident"]["statuses"],
    "audience": lambda c: ["all", "chosen"],
    "dispute_status": lambda c: c["dispute"]["statuses"],
    "subject": lambda c: c["dispute"]["subjects"],
    "outcome": lambda c: c["dispute"]["outcomes"],
    "deadline": lambda c: c["dispute"]["deadlines"],
    "side": lambda c: c["dispute"]["sides"],
    "dispute_step": lambda c: c["dispute"]["steps"],
    "evidence_kind": lambda c: c["dispute"]["evidence_kinds"],
    "ledger_category": lambda c: c["orgreport"]["categories"],
    "grant_state": lambda c: c["orgreport"]["grant_states"],
    "grant_side": lambda c: ["as_provider", "as_grantee"],
    "dimension": lambda c: c["orgreport"]["dimensions"],
    "tabs": lambda c: c["tabs"],
}


def test_every_message_and_element_the_script_reads_exists(tmp_path: Path) -> None:
    source = script_source()
    own = script_source(OWN_SCRIPTS)
    used = set(re.findall(r'\bmsg\("([a-z_.]+)"', source))
    assert len(used) > 100  # the extraction really finds the script's messages
    messages = oversight_messages("en")
    assert sorted(k for k in used if k not in messages) == []
    families = set(re.findall(r'(?<![.\w])(?:label|badge)\("([a-z_]+)"', own))
    assert families and families <= set(FAMILIES), families - set(FAMILIES)
    config = oversight_config("en")
    for family, values in FAMILIES.items():
        for value in values(config):
            assert f"{family}.{value}" in messages, (family, value)
    with TestClient(page_app(tmp_path)) as client:
        text = client.get("/oversight").text
    ids = set(re.findall(r'byId\("([a-z-]+)"\)', own))
    testids = set(re.findall(r'byTestId\("([a-z-]+)"\)', own))
    # the lists the parts page through, and the panels whose failures they report
    for key in set(re.findall(r'pager\("([a-z]+)"', own)):
        ids |= {f"{key}-body", f"{key}-none", f"{key}-more"}
        testids |= {f"{key}-error", f"{key}-denied"}
    for key in set(re.findall(r'failed\("([a-z]+)"', own)):
        testids |= {f"{key}-error", f"{key}-denied"}
    assert len(ids) > 40 and len(testids) > 20
    assert sorted(i for i in ids if f'id="{i}"' not in text) == []
    assert sorted(i for i in testids if f'data-testid="{i}"' not in text) == []
    # each field an API problem may name has a label for the problem box
    for field in set(re.findall(r'data-field="([a-z_]+)"', text)):
        assert f"field.{field}" in messages, field


def test_script_inserts_text_only_and_stays_on_this_server() -> None:
    unsafe = r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML\(|document\.write|\beval\(|new Function"
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        assert re.findall(unsafe, text) == [], path.name
        assert not re.search(r"https?://", text), path.name  # every request goes to this origin
        assert "localStorage" not in text, path.name
    for path in OWN_SCRIPTS:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_SCRIPT_LINES, path.name
    own = script_source(OWN_SCRIPTS)
    assert "citybrain.oversight.token" in own and "sessionStorage" in script_source()
    for route in (
        "/supervision/findings",
        "/supervision/scan",
        "/reports",
        "/security/incidents",
        "/security/bulletins",
        "/disputes",
        "/supervision/org-reports/",
    ):
        assert route in own, route


def test_page_is_public_and_carries_no_data(runtime: Runtime) -> None:
    app = create_app(runtime)
    org = make_org(runtime, 561)
    supervisor = bearer(make_user(runtime, "sup-page", runtime.settings.city_code, "supervisor"))
    with TestClient(app) as client:
        r = client.post("/reports", json={"category": "leak", "description": STORY})
        assert r.status_code == 201, r.text
        number = r.json()["number"]
        with runtime.reader() as s:
            before = runtime.ledger.size(s)
        for headers in ({}, supervisor):
            page = client.get("/oversight", headers=headers)
            assert page.status_code == 200
            for secret in (number, STORY, org, "机构561", "sup-page"):
                assert secret not in page.text, secret
        with runtime.reader() as s:
            assert runtime.ledger.size(s) == before  # the shell reads nothing governed
        routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path == "/oversight"]
        assert len(routes) == 1 and routes[0].methods == {"GET", "HEAD"}
        call = getattr(routes[0].dependant, "call", None)
        assert call is not governed and call is not public_or_governed
        assert not routes[0].dependant.dependencies
        assert "/oversight" not in client.get("/openapi.json").json()["paths"]
        home = client.get("/")
        assert 'href="/oversight" data-testid="nav-oversight">监督工作台<' in home.text


# ---------- in real Chromium ----------


class MovableClock:
    """A clock the test moves (to let a dispute's deadline and a bulletin's pass)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    """The hub served on 127.0.0.1 with a bureau supervisor and three departments' clerks,
    six days after a grant was misused, a report filed, an incident registered, a bulletin
    issued and a dispute filed."""

    url: str
    runtime: Runtime
    civil: str
    health: str
    transport: str


def _setup(rt: Runtime, url: str, civil: str, health: str, transport: str, t0: datetime) -> None:
    """Everything the supervisor will find, made through the real routes."""
    tokens = {
        name: make_user(rt, name, org, "clerk")
        for name, org in (
            ("civil-li", civil),
            ("health-zhao", health),
            ("transport-qian", transport),
        )
    }
    sup = make_user(rt, "sup-wang", rt.settings.city_code, "supervisor")

    def call(who: str, method: str, path: str, **kw: Any) -> Any:
        token = sup if who == "sup" else tokens[who]
        with httpx.Client(base_url=url, headers=bearer(token), timeout=30) as api:
            r = api.request(method, path, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json() if r.content else None

    # a grant from civil affairs to health; transport reads through it and is refused
    call("civil-li", "POST", "/catalog/datasets", json=DATASET | {"provider_code": civil})
    req = call(
        "health-zhao",
        "POST",
        "/sharing/requests",
        json={"dataset": DATASET["id"], "fields": ["district", "age"], "purpose": "research"},
    )
    grant = call(
        "civil-li", "POST", f"/sharing/requests/{req['id']}/decision", json={"approve": True}
    )
    with httpx.Client(base_url=url, headers=bearer(tokens["transport-qian"])) as api:
        r = api.get(
            f"/sharing/grants/{grant['grant']['id']}/records", params={"purpose": "research"}
        )
        assert r.status_code == 403, r.text
    # a report from the public, with the reporter's identity (sealed)
    with httpx.Client(base_url=url) as api:
        r = api.post(
            "/reports",
            json={
                "category": "leak",
                "description": STORY,
                "organisation": health,
                "reporter": {"name": "张三", "phone": "13800000000"},
            },
        )
        assert r.status_code == 201, r.text
    # an incident of the health commission, a bulletin to everyone, a dispute against civil
    call(
        "health-zhao",
        "POST",
        "/security/incidents",
        json={
            "severity": "high",
            "title": "随访名单误发外部邮箱",
            "description": "一份随访名单被误发到外部邮箱。",
            "occurred_at": t0.isoformat(),
            "actions": [{"text": "已要求对方删除并书面确认"}],
        },
    )
    call(
        "sup",
        "POST",
        "/security/bulletins",
        json={
            "title_zh": "勒索软件风险通报",
            "title_en": "Ransomware risk bulletin",
            "body_zh": "近期出现针对政务终端的勒索软件，请立即排查。",
            "severity": "high",
            "ack_deadline": (t0 + timedelta(days=3)).isoformat(),
        },
    )
    call("civil-li", "POST", "/security/bulletins/1/ack")
    call(
        "health-zhao",
        "POST",
        "/disputes",
        json={
            "respondent": civil,
            "subject_type": "grant_terms",
            "title": "授权期限争议",
            "claim": "批准的期限短于随访工作所需。",
        },
    )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
    clock = MovableClock(t0)
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path), clock=clock)
    rt.migrate()
    rt.bootstrap()
    civil, health, transport = make_org(rt, 541), make_org(rt, 542), make_org(rt, 543)
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-oversight", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        _setup(rt, url, civil, health, transport, t0)
        clock.now = t0 + timedelta(days=6)  # the dispute's response and the bulletin are late
        yield Desk(url, rt, civil, health, transport)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()


def sign_in(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("signin-form")).to_be_visible()
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORD)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("session-user")).to_have_text(name)
    expect(page.get_by_test_id("signin-form")).to_be_hidden()


@pytest.mark.browser
def test_the_supervisors_desk(chromium_path: Path, desk: Desk) -> None:  # noqa: F811
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
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            page.goto(desk.url + "/oversight")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_test_id("page-title")).to_have_text("监督工作台")
            sign_in(page, "sup-wang")
            expect(page.get_by_test_id("role-notice")).to_be_hidden()
            expect(page.get_by_test_id("tab-findings")).to_have_attribute("aria-selected", "true")
            token = page.evaluate("sessionStorage.getItem('citybrain.oversight.token')")
            assert token and token.count(".") == 2

            # Findings: scan now; the refused read is a finding under Art. 23(1).
            expect(page.get_by_test_id("findings-none")).to_be_visible()
            page.get_by_test_id("scan").click()
            # (other rules find the late bulletin and dispute too; the refused read comes first)
            expect(page.get_by_test_id("scan-result")).to_contain_text(
                re.compile(r"新增发现 \d+ 条")
            )
            row = page.get_by_test_id("finding-1")
            expect(row).to_contain_text("read-without-live-grant")
            expect(row).to_contain_text("第23(1)条")
            expect(row).to_contain_text("transport-qian")
            expect(row.get_by_test_id("status")).to_have_text("待处理")
            page.get_by_test_id("f-article").select_option("23(3)")
            page.get_by_test_id("f-apply").click()
            expect(page.get_by_test_id("findings-none")).to_be_visible()
            expect(row).to_have_count(0)
            page.get_by_test_id("f-article").select_option("")
            page.get_by_test_id("f-status").select_option("open")
            page.get_by_test_id("f-apply").click()
            page.get_by_test_id("open-finding-1").click()
            detail = page.get_by_test_id("finding-detail")
            expect(detail).to_be_visible()
            expect(detail).to_be_focused()
            expect(page.get_by_test_id("finding-actor")).to_have_text("transport-qian")
            expect(page.get_by_test_id("finding-evidence")).to_have_text(re.compile(r"^#\d+$"))
            # the evidence bundle, fetched with the token and saved as a file
            with page.expect_download() as info:
                page.get_by_test_id("evidence-download").click()
            download = info.value
            assert download.suggested_filename == "finding-1-evidence.json"
            bundle = json.loads(Path(download.path()).read_text(encoding="utf-8"))
            assert len(bundle["entries"]) == 1 and bundle["subject"]["finding"] == 1
            assert bundle["entries"][0]["actor"] == "transport-qian"
            expect(page.get_by_test_id("notice")).to_contain_text("finding-1-evidence.json")
            # dismissing needs a reason (said next to the field); acknowledging does not
            page.get_by_test_id("move-status").select_option("dismissed")
            page.get_by_test_id("move-submit").click()
            move_error = page.get_by_test_id("move-error")
            expect(move_error.get_by_test_id("problem-field")).to_have_text("字段：说明（note）")
            expect(page.get_by_test_id("move-note")).to_have_attribute("aria-invalid", "true")
            page.get_by_test_id("move-status").select_option("acknowledged")
            page.get_by_test_id("move-submit").click()
            expect(page.get_by_test_id("notice")).to_have_text("发现 #1 已改为“已确认”。")
            expect(page.get_by_test_id("finding-status")).to_have_text("已确认")
            expect(row).to_have_count(0)  # the list still shows open ones only
            page.screenshot(path="/tmp/oversight-findings.png", full_page=True)

            # Report desk, reached with the keyboard: triage, move on, reveal (ledgered).
            page.get_by_test_id("tab-findings").focus()
            page.keyboard.press("ArrowRight")
            expect(page.get_by_test_id("tab-reports")).to_be_focused()
            expect(page.get_by_test_id("tab-reports")).to_have_attribute("aria-selected", "true")
            expect(page.get_by_test_id("panel-findings")).to_be_hidden()
            report = page.get_by_test_id("report-1")
            expect(report.get_by_test_id("status")).to_have_text("已受理")
            expect(report).to_contain_text("数据泄露")
            expect(report).to_contain_text("已留身份（密封）")
            page.get_by_test_id("open-report-1").click()
            expect(page.get_by_test_id("report-description")).to_have_text(STORY)
            expect(page.get_by_test_id("reveal-result")).to_be_hidden()
            page.get_by_test_id("triage-severity").select_option("high")
            expect(page.get_by_test_id("triage-assignee")).to_have_value("sup-wang")
            page.get_by_test_id("triage-submit").click()
            expect(page.get_by_test_id("report-status-value")).to_have_text("已分办")
            expect(page.get_by_test_id("report-assignee")).to_have_text("sup-wang")
            expect(page.get_by_test_id("rs-status").locator("option")).to_have_text(
                ["调查中", "不予受理"]
            )
            page.get_by_test_id("rs-status").select_option("dismissed")
            page.get_by_test_id("rs-submit").click()  # no text for the reporter: refused here
            expect(page.get_by_test_id("rs-error").get_by_test_id("problem-field")).to_have_text(
                "字段：告知举报人的结果（outcome）"
            )
            page.get_by_test_id("rs-status").select_option("investigating")
            page.get_by_test_id("rs-submit").click()
            expect(page.get_by_test_id("report-status-value")).to_have_text("调查中")
            expect(page.get_by_test_id("report-step")).to_have_count(3)
            expect(report.get_by_test_id("status")).to_have_text("调查中")
            with desk.runtime.reader() as s:
                before = desk.runtime.ledger.size(s)
            page.get_by_test_id("reveal-button").click()
            expect(page.get_by_test_id("reveal-name")).to_have_text("张三")
            expect(page.get_by_test_id("reveal-phone")).to_have_text("13800000000")
            expect(page.get_by_test_id("notice")).to_have_text("本次查看举报人身份已记入台账。")
            with desk.runtime.reader() as s:
                assert desk.runtime.ledger.size(s) > before  # the reading is on the ledger
            page.screenshot(path="/tmp/oversight-reports.png", full_page=True)

            # Security: the incident and its timeline; an update is not a supervisor's to add.
            page.get_by_test_id("tab-security").click()
            incident = page.get_by_test_id("incident-1")
            expect(incident).to_contain_text("随访名单误发外部邮箱")
            expect(incident.get_by_test_id("status")).to_have_text("待处置")
            page.get_by_test_id("open-incident-1").click()
            expect(page.get_by_test_id("incident-actions")).to_contain_text("已要求对方删除")
            expect(page.get_by_test_id("incident-step")).to_have_count(1)
            page.get_by_test_id("iu-action").fill("已约谈相关人员")
            page.get_by_test_id("iu-submit").click()
            expect(page.get_by_test_id("iu-error")).to_contain_text(
                "您的账号不能补充此事件的处置情况"
            )
            progress = page.get_by_test_id("bulletin-1-progress")
            expect(progress).to_contain_text(re.compile(r"1/\d+ 已确认"))
            expect(progress).to_contain_text("家逾期")
            page.get_by_test_id("open-bulletin-1").click()
            expect(page.get_by_test_id("bulletin-acknowledged")).to_contain_text("civil-li")
            expect(page.get_by_test_id("bulletin-overdue")).to_contain_text("机构543")
            page.screenshot(path="/tmp/oversight-security.png", full_page=True)

            # Disputes: the bureau's response is late, and it shows.
            page.get_by_test_id("tab-disputes").click()
            dispute = page.get_by_test_id("dispute-1")
            expect(dispute).to_have_attribute("data-overdue", "true")
            expect(dispute.get_by_test_id("dispute-1-overdue")).to_have_text("逾期")
            expect(dispute).to_contain_text("受理期限")
            page.get_by_test_id("open-dispute-1").click()
            expect(page.get_by_test_id("dispute-overdue")).to_be_visible()
            expect(page.get_by_test_id("deadline-response_due")).to_have_class("ov-overdue")
            expect(page.get_by_test_id("dispute-step")).to_have_count(1)
            page.screenshot(path="/tmp/oversight-disputes.png", full_page=True)

            # The organisation report: tables, then the PDF.
            page.get_by_test_id("tab-orgreport").click()
            page.get_by_test_id("or-org").fill(desk.transport)
            day = (desk.runtime.clock() + timedelta(hours=8)).date()
            page.get_by_test_id("or-since").fill(str(day - timedelta(days=10)))
            page.get_by_test_id("or-until").fill(str(day))
            page.get_by_test_id("or-submit").click()
            expect(page.get_by_test_id("or-title")).to_have_text(f"机构543（{desk.transport}）")
            expect(page.get_by_test_id("or-actions-table").locator("tbody tr")).to_have_count(8)
            expect(page.get_by_test_id("or-findings-table")).to_contain_text("第23(1)条")
            with page.expect_download() as info:
                page.get_by_test_id("or-pdf").click()
            pdf = info.value
            assert pdf.suggested_filename.startswith(f"oversight-{desk.transport}-")
            assert Path(pdf.path()).read_bytes().startswith(b"%PDF")
            page.screenshot(path="/tmp/oversight-orgreport.png", full_page=True)

            page.get_by_test_id("signout").click()
            expect(page.get_by_test_id("workspace")).to_be_hidden()
            assert page.evaluate("sessionStorage.length") == 0

            # A clerk is no supervisor: said at the top, and where the gate refuses.
            sign_in(page, "health-zhao")
            expect(page.get_by_test_id("role-notice")).to_be_visible()
            expect(page.get_by_test_id("finding-1")).to_have_count(0)  # nothing of others'
            page.get_by_test_id("tab-reports").click()
            denied = page.get_by_test_id("reports-denied")
            expect(denied).to_contain_text("无权访问")
            expect(page.get_by_test_id("report-1")).to_have_count(0)
            # in English, the same (the tab keeps its sign-in)
            page.goto(desk.url + "/oversight?lang=en")
            expect(page.get_by_test_id("session-user")).to_have_text("health-zhao")
            page.get_by_test_id("tab-reports").click()
            expect(page.get_by_test_id("tab-reports")).to_have_text("Report desk")
            expect(page.get_by_test_id("reports-denied")).to_contain_text("Not allowed")
            expect(page.get_by_test_id("role-notice")).to_contain_text("no supervisor role")
        finally:
            browser.close()

    assert problems == []  # no script error, no content-security-policy violation
    outside = [u for u in requests if urlsplit(u).hostname != "127.0.0.1"]
    assert [u for u in outside if urlsplit(u).scheme not in ("data", "blob")] == []
