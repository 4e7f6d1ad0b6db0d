"""The sharing page shell (/sharing): Chinese by default, English with ?lang=en, public and
without any data (the script fetches it through the gated API), no inline script, every
message the script shows present in both catalogues."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.cockpit.sharing_page import install_sharing_page, sharing_messages
from citybrain.cockpit.web import HERE
from citybrain.governance.privacy.masking import MaskKind
from citybrain.governance.sharing import vocab
from citybrain.kernel.http import governed, public_or_governed
from citybrain.kernel.i18n import catalogue
from citybrain.kernel.runtime import Runtime
from tests.cockpit.pages import embedded_config, page_only_app, placeholders, scripts_text
from tests.helpers import bearer, make_org, make_user

# The page's scripts in document order: the shared helpers first, then the page's core and its
# parts (each a plain deferred script, no modules, no inline code).
SCRIPT_NAMES = (
    "cockpit_ui.js",
    "sharing.js",
    "sharing_request.js",
    "sharing_decide.js",
    "sharing_grants.js",
)
SCRIPTS = [HERE / "static" / name for name in SCRIPT_NAMES]
MAX_SCRIPT_LINES = 600  # the house rule: no god file


def script_source() -> str:
    """Every script the page loads, as one text."""
    return scripts_text(SCRIPTS)


def page_app(tmp_path: Path) -> FastAPI:
    """Only the page (and /static) over settings: the shell needs no database."""
    return page_only_app(tmp_path, install_sharing_page)


def with_page(app: FastAPI) -> FastAPI:
    """The full app with /sharing (added here unless the app already mounts it)."""
    if not any(getattr(r, "path", None) == "/sharing" for r in app.routes):
        install_sharing_page(app)
    return app


def page_config(text: str) -> dict[str, Any]:
    return embedded_config(text, "sharing")


def scripts(text: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", text)


def test_page_in_chinese_by_default(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/sharing")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-language"] == "zh-CN"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        text = r.text
        assert '<html lang="zh-CN">' in text
        assert "<title>数据共享 · 数字驾驶舱</title>" in text
        for label in ("登录", "用户名", "密码", "申请数据", "待我审批", "我的申请", "授权"):
            assert f">{label}<" in text, label
        for label in (
            "有效授权",
            "已结束的授权",
            "法律依据",
            "期限（天）",
            "用途说明",
            "可用不可见",
        ):
            assert label in text, label
        # only external scripts from this server, helpers first, each deferred (so they run in
        # document order); no inline code (the CSP would refuse it)
        version = _version(text)
        assert scripts(text) == [
            f'<script src="/static/{name}?v={version}" defer>' for name in SCRIPT_NAMES
        ]
        assert re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S) == [""] * len(SCRIPT_NAMES)
        # every part of the page's script is loaded by the page
        parts = {p.name for p in (HERE / "static").glob("sharing*.js")}
        assert parts == set(SCRIPT_NAMES) - {"cockpit_ui.js"}
        assert 'href="/sharing?lang=en"' in text  # the language switch stays on this page
        config = page_config(text)
        assert config["locale"] == "zh-CN"
        assert config["messages"] == sharing_messages("zh-CN")
        assert config["messages"]["status.pending"] == "待审批"
        assert config["messages"]["grant.revoked"] == "已撤销"
        assert config["masks"] == [k.value for k in MaskKind]
        assert config["max_term_days"] == vocab.MAX_TERM_DAYS
        assets = [f"/static/{name}" for name in SCRIPT_NAMES]
        for asset in (*assets, "/static/sharing.css", "/static/cockpit.css"):
            assert client.get(asset).status_code == 200, asset
        head = client.head("/sharing")
        assert head.status_code == 200 and head.content == b""


def _version(text: str) -> str:
    found = re.search(r"/static/sharing\.js\?v=([^\"]+)\"", text)
    assert found
    return found.group(1)


def test_page_in_english_with_lang(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/sharing?lang=en")
        assert r.status_code == 200 and r.headers["content-language"] == "en"
        assert "lang=en" in r.headers["set-cookie"]  # the choice is remembered
        text = r.text
        assert '<html lang="en">' in text
        assert "<title>Data sharing · Digital Cockpit</title>" in text
        for label in ("Sign in", "Request data", "To decide", "My requests", "Grants"):
            assert f">{label}<" in text, label
        assert "待我审批" not in text and "申请数据" not in text
        assert 'href="/sharing?lang=zh-CN"' in text
        config = page_config(text)
        assert config["locale"] == "en"
        assert config["messages"]["status.lapsed"] == "Lapsed"
        assert config["messages"]["mask.SHOW_LAST_4"] == "Show last 4"
        # the cookie now picks English without ?lang=
        assert client.get("/sharing").headers["content-language"] == "en"
        # and Accept-Language is honoured for a first visit
        client.cookies.clear()
        r = client.get("/sharing", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert r.headers["content-language"] == "en"


def _uses_gate(dependant: object) -> bool:
    call = getattr(dependant, "call", None)
    if call is governed or call is public_or_governed:
        return True
    return any(_uses_gate(d) for d in getattr(dependant, "dependencies", []))


def test_page_is_public_and_carries_no_data(runtime: Runtime) -> None:
    civil, health = make_org(runtime, 451), make_org(runtime, 452)
    civil_token = make_user(runtime, "civil-clerk", civil, "clerk")
    health_token = make_user(runtime, "health-clerk", health, "clerk")
    dataset = {
        "id": "relief-roll",
        "title_zh": "救助名册甲",
        "title_en": "Relief roll alpha",
        "description_zh": "救助对象名册。",
        "provider_code": civil,
        "theme": "social-security",
        "update_frequency": "P1M",
        "schema": {"fields": [{"name": "resident_name", "type": "string", "pii": True}]},
        "grade": "important",
        "sharing": "conditional",
    }
    with TestClient(with_page(create_app(runtime))) as client:
        r = client.post("/catalog/datasets", headers=bearer(civil_token), json=dataset)
        assert r.status_code == 201, r.text
        r = client.post(
            "/sharing/requests",
            headers=bearer(health_token),
            json={"dataset": "relief-roll", "fields": ["resident_name"], "purpose": "research"},
        )
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        with runtime.reader() as s:
            before = runtime.ledger.size(s)
        for headers in ({}, bearer(civil_token)):
            page = client.get("/sharing", headers=headers)
            assert page.status_code == 200
            for secret in (
                "救助名册甲",
                "Relief roll",
                "relief-roll",
                "resident_name",
                "civil-clerk",
                "health-clerk",
                "机构451",
                civil,
                health,
            ):
                assert secret not in page.text, secret
        with runtime.reader() as s:
            assert runtime.ledger.size(s) == before  # the shell reads nothing governed
        routes = [r for r in client.app.routes if isinstance(r, APIRoute) and r.path == "/sharing"]
        assert len(routes) == 1 and routes[0].methods == {"GET", "HEAD"}
        assert not _uses_gate(routes[0].dependant)
        assert "/sharing" not in client.get("/openapi.json").json()["paths"]


def test_catalogues_have_the_same_sharing_keys() -> None:
    zh = {k: v for k, v in catalogue("zh-CN").items() if k.startswith("sharing.")}
    en = {k: v for k, v in catalogue("en").items() if k.startswith("sharing.")}
    assert set(zh) == set(en) and len(zh) > 100
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert placeholders(zh[key]) == placeholders(en[key]), key
    assert catalogue("zh-CN")["nav.sharing"] == "数据共享"
    assert catalogue("en")["nav.sharing"] == "Data sharing"
    # the vocabularies the script labels
    for state in vocab.REQUEST_STATES:
        assert f"sharing.status.{state}" in zh
    for mode in vocab.MODES:
        assert f"sharing.mode.{mode}" in zh
    for kind in MaskKind:
        assert f"sharing.mask.{kind.value}" in zh
    for state in ("active", "expired", "revoked"):
        assert f"sharing.grant.{state}" in zh
    for field in ("dataset", "fields", "purpose", "legal_basis", "term_days", "reason"):
        assert f"sharing.field.{field}" in zh


def test_every_message_the_script_reads_exists() -> None:
    source = script_source()  # the page's files and the shared helpers
    used = set(re.findall(r'\bmsg\("([a-z_.]+)"', source))
    assert len(used) > 40  # the extraction really finds the script's messages
    messages = sharing_messages("en")
    missing = sorted(k for k in used if k not in messages)
    assert missing == []
    # families the script builds from API values (status.${...}, mode.${...}, mask.${...})
    for family in re.findall(r"msg\(`([a-z_]+)\.\$\{", source):
        assert any(k.startswith(f"{family}.") for k in messages), family


def test_script_inserts_text_only_and_stays_on_this_server() -> None:
    unsafe = r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML\(|document\.write|\beval\(|new Function"
    for path in SCRIPTS:  # every file, the shared helpers included
        text = path.read_text(encoding="utf-8")
        assert re.findall(unsafe, text) == [], path.name
        assert not re.search(r"https?://", text), path.name  # every request goes to this origin
        assert "localStorage" not in text, path.name
        assert len(text.splitlines()) <= MAX_SCRIPT_LINES, path.name
    source = script_source()
    assert "sessionStorage" in source
    assert "Authorization" in source and "Bearer" in source
