"""The citizen page shell (/citizen): Chinese by default, English with ?lang=en, public and
without any data (the script fetches it through the gated API), no inline script, the rights
notice (PIPL §24, §44-45) in both languages, every message the script shows in both
catalogues."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.cockpit.citizen_page import citizen_messages, install_citizen_page
from citybrain.cockpit.web import HERE
from citybrain.kernel.http import governed, public_or_governed
from citybrain.kernel.i18n import catalogue
from citybrain.kernel.runtime import Runtime
from tests.cockpit.pages import embedded_config, page_only_app, placeholders, scripts_text
from tests.governance.conftest import dataset_body, id_number, residents_csv
from tests.helpers import bearer, make_org, make_user

# The page's scripts in document order: the shared helpers first (plain deferred scripts, no
# modules, no inline code).
SCRIPT_NAMES = ("cockpit_ui.js", "citizen.js")
SCRIPTS = [HERE / "static" / name for name in SCRIPT_NAMES]
MAX_SCRIPT_LINES = 600  # the house rule: no god file
PASSWORD = "citizen-password-1"


def page_app(tmp_path: Path) -> FastAPI:
    """Only the page (and /static) over settings: the shell needs no database."""
    return page_only_app(tmp_path, install_citizen_page)


def with_page(app: FastAPI) -> FastAPI:
    """The full app with /citizen (added here unless the app already mounts it)."""
    if not any(getattr(r, "path", None) == "/citizen" for r in app.routes):
        install_citizen_page(app)
    return app


def page_config(text: str) -> dict[str, Any]:
    return embedded_config(text, "citizen")


def scripts(text: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", text)


def script_source() -> str:
    """Every script the page loads, as one text."""
    return scripts_text(SCRIPTS)


def rights(text: str) -> str:
    """The rights notice as plain text (it must not be hidden: it shows before sign-in)."""
    found = re.search(r'(<section[^>]*id="rights"[^>]*>)(.*?)</section>', text, re.S)
    assert found, "the page has a rights notice"
    assert "hidden" not in found.group(1)
    plain = re.sub(r"<[^>]+>", " ", found.group(2))
    return re.sub(r"\s+", " ", html.unescape(plain))


def test_page_in_chinese_by_default(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/citizen")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-language"] == "zh-CN"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        text = r.text
        assert '<html lang="zh-CN">' in text
        assert "<title>我的数据 · 数字驾驶舱</title>" in text
        for label in (
            "登录",
            "注册",
            "用户名",
            "居民身份证号码",
            "再次输入密码",
            "谁使用了我的数据",
            "我的异议",
            "导出 CSV",
            "您的权利",
            "部门（统一社会信用代码）",
            "账本记录",
        ):
            assert f">{label}<" in text, label
        # only external scripts from this server, helpers first, each deferred (so they run in
        # document order); no inline code (the CSP would refuse it)
        found = re.search(r"/static/citizen\.js\?v=([^\"]+)\"", text)
        assert found
        assert scripts(text) == [
            f'<script src="/static/{name}?v={found.group(1)}" defer>' for name in SCRIPT_NAMES
        ]
        assert re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S) == [""] * len(SCRIPT_NAMES)
        # every part of the page's script is loaded by the page
        parts = {p.name for p in (HERE / "static").glob("citizen*.js")}
        assert parts == set(SCRIPT_NAMES) - {"cockpit_ui.js"}
        assert 'href="/citizen?lang=en"' in text  # the language switch stays on this page
        config = page_config(text)
        assert config["locale"] == "zh-CN"
        assert config["messages"] == citizen_messages("zh-CN")
        assert config["messages"]["action.share"] == "共享读取"
        assert config["messages"]["action.delete"] == "到期销毁"
        assert config["messages"]["status.open"] == "处理中"
        assert config["min_password"] == 10 and config["max_text"] == 4000
        assets = [f"/static/{name}" for name in SCRIPT_NAMES]
        for asset in (*assets, "/static/citizen.css", "/static/cockpit.css"):
            assert client.get(asset).status_code == 200, asset
        head = client.head("/citizen")
        assert head.status_code == 200 and head.content == b""


def test_page_in_english_with_lang(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        r = client.get("/citizen?lang=en")
        assert r.status_code == 200 and r.headers["content-language"] == "en"
        assert "lang=en" in r.headers["set-cookie"]  # the choice is remembered
        text = r.text
        assert '<html lang="en">' in text
        assert "<title>My data · Digital Cockpit</title>" in text
        for label in ("Sign in", "Register", "Resident ID number", "Who used my data"):
            assert f">{label}<" in text, label
        assert "我的异议" not in text and "居民身份证号码" not in text
        assert 'href="/citizen?lang=zh-CN"' in text
        config = page_config(text)
        assert config["locale"] == "en"
        assert config["messages"]["action.share"] == "Read through a grant"
        assert config["messages"]["action.delete"] == "Destroyed at end of retention"
        assert client.get("/citizen").headers["content-language"] == "en"  # the cookie


def test_rights_notice_in_both_languages(tmp_path: Path) -> None:
    with TestClient(page_app(tmp_path)) as client:
        zh = rights(client.get("/citizen?lang=zh-CN").text)
        en = rights(client.get("/citizen?lang=en").text)
    # what the page shows and where it comes from
    assert "防篡改账本" in zh and "tamper-evident ledger" in en
    # PIPL §44-45: know, decide, object; objections go to the supervision desk
    assert "第四十四条、第四十五条" in zh and "Articles 44 and 45" in en
    for word in ("知道", "决定", "提出异议"):
        assert word in zh, word
    for word in ("to know", "to decide", "object"):
        assert word in en, word
    # PIPL §24: explanation, refusal of solely automated decisions, and how
    assert "第二十四条" in zh and "Article 24" in en
    for part in (
        "完全是由计算机系统自动作出",
        "健康码",
        "补贴资格",
        "要求说明理由",
        "拒绝仅以自动化方式作出决定",
        "对相关的使用记录提出异议",
        "数据资源管理部门监督窗口",
    ):
        assert part in zh, part
    for part in (
        "made solely by automated means",
        "health code",
        "subsidy",
        "ask for an explanation",
        "refuse that it be made solely by automated means",
        "file an objection on the use here",
        "the data bureau's supervision desk",
    ):
        assert part in en, part
    # only a keyed hash of the ID number is kept
    assert "带密钥的哈希值" in zh and "keyed hash" in en
    # no invented contact details
    for text in (zh, en):
        assert not re.search(r"\d{3,}[-\s]?\d{4,}", text)


def _uses_gate(dependant: object) -> bool:
    call = getattr(dependant, "call", None)
    if call is governed or call is public_or_governed:
        return True
    return any(_uses_gate(d) for d in getattr(dependant, "dependencies", []))


def test_page_is_public_and_carries_no_data(runtime: Runtime) -> None:
    civil, health = make_org(runtime, 461), make_org(runtime, 462)
    civil_token = make_user(runtime, "civil-clerk", civil, "clerk")
    health_token = make_user(runtime, "health-clerk", health, "clerk")
    with TestClient(with_page(create_app(runtime))) as client:
        r = client.post(
            "/catalog/datasets",
            headers=bearer(civil_token),
            json=dataset_body("relief-open", civil, "unconditional", title_zh="救助名册乙"),
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/hub/datasets/relief-open/batches",
            headers=bearer(civil_token) | {"Content-Type": "text/csv"},
            content=residents_csv(2),
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/citizen/register",
            json={"name": "resident-zero", "id_number": id_number(0), "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        login = client.post("/auth/login", json={"name": "resident-zero", "password": PASSWORD})
        citizen = bearer(login.json()["access_token"])
        grant = client.post(
            "/sharing/requests",
            headers=bearer(health_token),
            json={"dataset": "relief-open", "fields": ["district"], "purpose": "public-health"},
        ).json()["grant"]
        r = client.get(
            f"/sharing/grants/{grant['id']}/records",
            headers=bearer(health_token),
            params={"purpose": "public-health"},
        )
        assert r.status_code == 200, r.text
        uses = client.get("/citizen/me/uses", headers=citizen).json()
        assert [u["organisation"] for u in uses] == [health]  # there is data to leak
        with runtime.reader() as s:
            before = runtime.ledger.size(s)
        for headers in ({}, citizen, bearer(civil_token)):
            page = client.get("/citizen", headers=headers)
            assert page.status_code == 200
            for secret in (
                "救助名册乙",
                "relief-open",
                "resident-zero",
                "health-clerk",
                "public-health",
                id_number(0),
                civil,
                health,
            ):
                assert secret not in page.text, secret
        with runtime.reader() as s:
            assert runtime.ledger.size(s) == before  # the shell reads nothing governed
        routes = [r for r in client.app.routes if isinstance(r, APIRoute) and r.path == "/citizen"]
        assert len(routes) == 1 and routes[0].methods == {"GET", "HEAD"}
        assert not _uses_gate(routes[0].dependant)
        assert "/citizen" not in client.get("/openapi.json").json()["paths"]


def test_catalogues_have_the_same_citizen_keys() -> None:
    zh = {k: v for k, v in catalogue("zh-CN").items() if k.startswith("citizen.")}
    en = {k: v for k, v in catalogue("en").items() if k.startswith("citizen.")}
    assert set(zh) == set(en) and len(zh) > 60
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert placeholders(zh[key]) == placeholders(en[key]), key
    assert catalogue("zh-CN")["nav.citizen"] == "我的数据"
    assert catalogue("en")["nav.citizen"] == "My data"
    # the vocabularies the script labels: actions of a use, objection states, API fields
    for action in ("share", "delete"):
        assert f"citizen.action.{action}" in zh
    assert "citizen.status.open" in zh
    for field in ("name", "display_name", "id_number", "password", "text", "use_id"):
        assert f"citizen.field.{field}" in zh


def test_every_message_and_element_the_script_reads_exists(tmp_path: Path) -> None:
    source = script_source()  # the page's files and the shared helpers
    used = set(re.findall(r'\bmsg\("([a-z_.]+)"', source))
    assert len(used) > 20  # the extraction really finds the script's messages
    messages = citizen_messages("en")
    assert sorted(k for k in used if k not in messages) == []
    # families the script builds from API values (action.${...}, status.${...}, field.${...})
    families = set(re.findall(r"msg\(`([a-z_]+)\.\$\{", source))
    assert {"action", "status", "field", "hint"} <= families
    for family in families:
        assert any(k.startswith(f"{family}.") for k in messages), family
    # every element the script looks up is in the page
    with TestClient(page_app(tmp_path)) as client:
        text = client.get("/citizen").text
    ids = set(re.findall(r'byId\("([a-z-]+)"\)', source))
    testids = set(re.findall(r"querySelector\('\[data-testid=\"([a-z-]+)\"\]'\)", source))
    assert ids and testids
    assert sorted(i for i in ids if f'id="{i}"' not in text) == []
    assert sorted(i for i in testids if f'data-testid="{i}"' not in text) == []


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
    for path in ("/citizen/register", "/auth/login", "/citizen/me/uses", "/citizen/me/uses.csv"):
        assert f'"{path}"' in source, path
    assert "URL.createObjectURL" in source  # the CSV is fetched with the token, then saved
