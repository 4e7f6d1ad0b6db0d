"""The cockpit's home page and /status.json through the ASGI app (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from citybrain.api.app import create_app
from citybrain.kernel.config import load_settings
from citybrain.kernel.i18n import catalogue, t
from citybrain.kernel.identity.service import organisation_count, user_count
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.status import LedgerVerifier
from tests.helpers import drop_ledger_triggers, make_org, make_user

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


class Page(HTMLParser):
    """Collects the text of every ``data-testid`` element and every URL attribute."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.testids: dict[str, str] = {}
        self.attrs_of: dict[str, dict[str, str]] = {}
        self.urls: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, testid)
        self._text: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        self.urls += [v for k, v in a.items() if k in ("src", "href", "action", "srcset")]
        testid = a.get("data-testid")
        if testid:
            self.attrs_of[testid] = a
            self._text[testid] = []
        if tag not in ("meta", "link", "br", "img", "input", "circle", "rect", "path"):
            self._open.append((tag, testid))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, testid = self._open.pop()
            if testid:
                self.testids[testid] = " ".join("".join(self._text[testid]).split())
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, testid in self._open:
            if testid:
                self._text[testid].append(data)


def page(client: TestClient, url: str = "/", **kwargs: object) -> Page:
    r = client.get(url, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return Page(r.text)


def number(value: str) -> int:
    return int(value.replace(",", ""))


def test_chinese_by_default(client: TestClient, runtime: Runtime) -> None:
    r = client.get("/")
    p = Page(r.text)
    assert p.lang == "zh-CN"
    assert r.headers["content-language"] == "zh-CN"
    assert "set-cookie" not in r.headers
    assert client.head("/").status_code == 200
    assert p.testids["page-title"] == f"{runtime.settings.city_name}城市大脑"
    assert p.testids["lang-switch"] == "English"
    assert p.attrs_of["lang-switch"]["href"] == "/?lang=en"
    assert "<title>" + t("home.title", "zh-CN", city=runtime.settings.city_name) in r.text


def test_lang_query_switches_and_is_remembered(client: TestClient, runtime: Runtime) -> None:
    r = client.get("/?lang=en")
    p = Page(r.text)
    assert p.lang == "en"
    assert p.testids["page-title"] == f"{runtime.settings.city_name_en} City Brain"
    assert p.testids["lang-switch"] == "中文"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    assert "samesite=lax" in cookie.lower()
    assert page(client).lang == "en"  # the cookie now decides
    assert page(client, "/?lang=zh-CN").lang == "zh-CN"
    assert page(client).lang == "zh-CN"


def test_accept_language_and_precedence(client: TestClient) -> None:
    assert page(client, headers={"Accept-Language": "en-GB,en;q=0.9"}).lang == "en"
    assert page(client, headers={"Accept-Language": "zh-TW,zh;q=0.9"}).lang == "zh-CN"
    client.cookies.set("lang", "zh-CN")
    assert page(client, headers={"Accept-Language": "en"}).lang == "zh-CN"
    assert page(client, "/?lang=en", headers={"Accept-Language": "zh"}).lang == "en"


def test_unknown_lang_is_ignored(client: TestClient) -> None:
    r = client.get("/?lang=fr")
    assert Page(r.text).lang == "zh-CN"
    assert "set-cookie" not in r.headers


def test_default_locale_setting(runtime: Runtime, settings_kwargs: dict[str, object]) -> None:
    rt = Runtime.open(load_settings(environ={}, default_locale="en", **settings_kwargs))
    try:
        with TestClient(create_app(rt)) as c:
            assert page(c).lang == "en"
            assert page(c, headers={"Accept-Language": "zh-CN"}).lang == "zh-CN"
    finally:
        rt.close()


def test_counts_match_the_database(client: TestClient, runtime: Runtime) -> None:
    org = make_org(runtime, 7)
    make_user(runtime, "clerk1", org, "clerk")
    make_user(runtime, "auditor1", org, "auditor")
    p = page(client)
    with runtime.factory() as s:
        orgs, users = organisation_count(s), user_count(s)
        head = runtime.ledger.head(s)
        raw_orgs = s.execute(text("SELECT count(*) FROM organisations")).scalar_one()
    assert (orgs, users) == (2, 3) and raw_orgs == orgs
    assert number(p.testids["org-count"]) == orgs
    assert number(p.testids["user-count"]) == users
    assert number(p.testids["ledger-size"]) == head.size > 0
    root = head.root.hex()
    assert p.attrs_of["ledger-root"]["title"] == root
    assert p.testids["ledger-root"].startswith(root[:12])
    status = client.get("/status.json").json()
    assert (status["organisations"], status["users"]) == (orgs, users)
    assert status["ledger"]["size"] == head.size
    assert status["ledger"]["root"] == root


def test_checkpoint_is_shown(client: TestClient, runtime: Runtime) -> None:
    with runtime.factory.begin() as s:
        runtime.ledger.checkpoint(s, force=True)
    with runtime.factory() as s:
        cp = runtime.ledger.latest_checkpoint(s)
    assert cp is not None
    p = page(client, "/?lang=en")
    assert p.attrs_of["checkpoint"]["data-present"] == "yes"
    assert number(p.testids["checkpoint-size"]) == cp.tree_size
    assert p.testids["checkpoint-key"] == cp.key_id
    assert "UTC" in p.testids["checkpoint"]
    body = client.get("/status.json").json()["ledger"]["checkpoint"]
    assert body["size"] == cp.tree_size and body["key_id"] == cp.key_id


def test_empty_hub(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path / "empty"))
    try:
        rt.migrate()
        with TestClient(create_app(rt)) as c:
            p = page(c)
            assert [p.testids[k] for k in ("org-count", "user-count", "ledger-size")] == [
                "0",
                "0",
                "0",
            ]
            assert p.testids["ledger-root"] == t("home.ledger_root_empty", "zh-CN")
            assert p.attrs_of["checkpoint"]["data-present"] == "no"
            assert t("home.checkpoint_none", "zh-CN") in p.testids["checkpoint"]
            assert c.get("/status.json").json()["ledger"]["checkpoint"] is None
    finally:
        rt.close()


def test_verification_states(client: TestClient, runtime: Runtime) -> None:
    p = page(client)
    assert p.attrs_of["ledger-verified"]["data-state"] == "unchecked"
    assert t("home.not_checked", "zh-CN") in p.testids["ledger-verified"]
    assert client.get("/status.json").json()["ledger"]["verification"]["state"] == "unchecked"

    verifier = LedgerVerifier(runtime)
    client.app.state.verifier = verifier  # type: ignore[attr-defined]
    assert verifier.verify_now().ok
    p = page(client)
    assert p.attrs_of["ledger-verified"]["data-state"] == "verified"
    assert "校验通过 ✓" in p.testids["ledger-verified"]
    assert "Verified ✓" in page(client, "/?lang=en").testids["ledger-verified"]

    drop_ledger_triggers(runtime)  # an insider with DDL rights goes behind the gate's back
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 2"))
    result = verifier.verify_now()
    assert not result.ok and result.first_bad_seq == 2
    p = page(client, "/?lang=zh-CN")
    assert p.attrs_of["ledger-verified"]["data-state"] == "tampered"
    assert "台账被篡改：第 2 条" in p.testids["ledger-verified"]
    assert "TAMPERED at seq 2" in page(client, "/?lang=en").testids["ledger-verified"]
    v = client.get("/status.json").json()["ledger"]["verification"]
    assert (v["state"], v["first_bad_seq"]) == ("tampered", 2)
    assert v["checked_at"] and v["reason"]


def test_values_are_escaped(runtime: Runtime, settings_kwargs: dict[str, object]) -> None:
    rt = Runtime.open(load_settings(environ={}, city_name="<b>X</b>市", **settings_kwargs))
    try:
        with TestClient(create_app(rt)) as c:
            html = c.get("/").text
        assert "<b>X</b>" not in html
        assert "&lt;b&gt;X&lt;/b&gt;市城市大脑" in html
    finally:
        rt.close()


def test_nothing_is_fetched_from_outside(client: TestClient) -> None:
    for lang in ("zh-CN", "en"):
        r = client.get(f"/?lang={lang}")
        p = Page(r.text)
        assert p.urls, "the page links somewhere"
        assert [u for u in p.urls if EXTERNAL.match(u)] == []
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", r.text, re.I)
    css = client.get("/static/cockpit.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css.text, re.I)


def test_links(client: TestClient) -> None:
    p = page(client)
    hrefs = {k: p.attrs_of[k]["href"] for k in ("link-docs", "link-openapi", "link-health")}
    assert hrefs == {
        "link-docs": "/docs",
        "link-openapi": "/openapi.json",
        "link-health": "/health",
    }
    for href in [*hrefs.values(), p.attrs_of["link-status"]["href"]]:
        assert client.get(href).status_code == 200, href


def test_status_json_shape_and_schema(client: TestClient, runtime: Runtime) -> None:
    r = client.get("/status.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"city", "organisations", "users", "ledger"}
    assert body["city"] == {
        "name": runtime.settings.city_name,
        "name_en": runtime.settings.city_name_en,
    }
    assert isinstance(body["organisations"], int) and isinstance(body["users"], int)
    assert set(body["ledger"]) == {"size", "root", "checkpoint", "verification"}
    assert re.fullmatch(r"[0-9a-f]{64}", body["ledger"]["root"])
    assert set(body["ledger"]["verification"]) == {
        "state",
        "size",
        "first_bad_seq",
        "reason",
        "checked_at",
    }
    dump = json.dumps(body)
    assert "admin" not in dump and "password" not in dump  # aggregates only
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/status.json"]["get"]["tags"] == ["operations"]
    assert "/" not in schema["paths"]


def test_catalogues_have_the_same_cockpit_keys() -> None:
    zh = {k for k in catalogue("zh-CN") if k.startswith(("home.", "nav."))}
    en = {k for k in catalogue("en") if k.startswith(("home.", "nav."))}
    assert zh == en and len(zh) > 20
    for locale in ("zh-CN", "en"):
        assert all(catalogue(locale)[k].strip() for k in zh)
