"""The quality board at /quality through the app (SQLite and PostgreSQL): both languages,
scores with colour and text, evidence, open alerts, sparklines; no inline script or style."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

from sqlalchemy import update

from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.quality.monitor import QualityMonitor
from tests.hub.quality.conftest import World

HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


class Page(HTMLParser):
    """Text and attributes of every ``data-testid`` element, and every tag name seen."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self.tags: list[str] = []
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "html":
            self.lang = a.get("lang", "")
        if "data-testid" in a:
            self.attrs[a["data-testid"]] = a
            self.text.setdefault(a["data-testid"], "")
            self._open.append(a["data-testid"])
        elif tag not in ("meta", "link", "br", "polyline", "path", "circle", "rect"):
            self._open.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for testid in self._open:
            if testid:
                self.text[testid] += data

    def say(self, testid: str) -> str:
        """The element's text, whitespace collapsed."""
        return " ".join(self.text[testid].split())


def scored(w: World) -> None:
    c = w.city
    c.dataset("air", w.transport)
    c.dataset("bus", w.health)
    c.punctual("air", w.transport)
    c.batch("bus", w.health, 3 * HOUR, verified=None)
    monitor = QualityMonitor(c.runtime, window=HOUR)
    monitor.run_once(c.now - 2 * MIN)
    monitor.run_once(c.now)


def get(w: World, url: str = "/quality", **kw: object) -> tuple[Page, str, dict[str, str]]:
    r = w.client.get(url, **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return Page(r.text), r.text, dict(r.headers)


def test_empty_board(world: World) -> None:
    page, _, headers = get(world)
    assert page.lang == "zh-CN" and headers["content-language"] == "zh-CN"
    assert "还没有评分" in page.say("no-scores")
    assert page.say("no-alerts") == "当前没有未处理的告警"
    assert page.say("as-of") == "尚未完成评分"


def test_board_in_chinese(world: World) -> None:
    scored(world)
    page, html, headers = get(world)
    assert page.say("page-title") == "数据质量看板"
    assert "评分时间" in page.say("as-of")
    assert page.say("score-air-timeliness") == "100"
    assert page.attrs["score-air-timeliness"]["data-level"] == "good"
    assert "class" in page.attrs["score-air-timeliness"]
    assert page.say("score-bus-timeliness") == "30"
    assert page.attrs["score-bus-timeliness"]["data-level"] == "poor"
    assert page.attrs["score-bus-timeliness"]["title"] == "及时性评分 30"
    assert page.say("score-bus-authenticity") == "100"  # nothing arrived in the window
    assert page.say("provider-air") == "机构300"
    assert "最新数据已滞后 3.0 小时" in page.say("evidence-bus")
    assert "无扣分" in page.say("evidence-air")
    alerts = page.say("alerts")
    assert "bus" in alerts and "及时性评分 30 低于阈值 60" in alerts
    points = page.attrs["spark-bus-timeliness"]
    assert "近 2 轮趋势" in points["aria-label"]
    assert "<polyline points=" in html
    assert "Content-Security-Policy" in headers or "content-security-policy" in headers
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert 'href="/static/quality.css' in html


def test_board_in_english_is_remembered(world: World) -> None:
    scored(world)
    r = world.client.get("/quality?lang=en")
    page = Page(r.text)
    assert page.lang == "en" and r.headers["content-language"] == "en"
    assert "lang=en" in r.headers.get("set-cookie", "")
    assert page.say("page-title") == "Data quality board"
    assert page.attrs["score-bus-timeliness"]["title"] == "Timeliness score 30"
    assert "Newest data is 3.0 h old" in page.say("evidence-bus")
    assert "Timeliness score 30 is below the threshold 60" in page.say("alerts")
    assert page.say("quality-lang-switch") == "中文"
    assert page.attrs["quality-lang-switch"]["href"] == "/quality?lang=zh-CN"
    again = Page(world.client.get("/quality").text)
    assert again.lang == "en"  # from the cookie


def test_titles_are_escaped_and_css_is_served(world: World) -> None:
    scored(world)
    with world.city.runtime.factory.begin() as s:
        s.execute(update(Dataset).where(Dataset.slug == "air").values(title_zh="<b>空气</b>"))
    _, html, _ = get(world)
    assert "&lt;b&gt;空气&lt;/b&gt;" in html and "<b>空气" not in html
    css = world.client.get("/static/quality.css")
    assert css.status_code == 200 and ".q-score--poor" in css.text
    assert world.client.head("/quality").status_code == 200


def test_public_board_names_open_data_only(world: World) -> None:
    scored(world)
    with world.city.runtime.factory.begin() as s:
        s.execute(update(Dataset).where(Dataset.slug == "bus").values(open_data=False))
    page, _, _ = get(world)
    assert "row-air" in page.attrs and "row-bus" not in page.attrs
    assert page.say("no-alerts")  # bus's alert is not shown either
    assert "另有 1 个非开放数据集" in page.say("hidden-datasets")
    r = world.client.get("/hub/quality/scores?dataset=bus", headers=world.h("operator"))
    assert r.status_code == 200 and r.json()  # operators still see it through the API
