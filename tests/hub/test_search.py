"""Search with Chinese working: n-gram index, ranking, filters, cursor paging."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.hub.catalogue.search import grams, query_terms
from tests.hub.conftest import World, dataset_body


def test_grams() -> None:
    assert grams("交通信号灯") == ["交通", "通信", "信号", "号灯"]
    assert grams("PM2.5 监测") == ["pm", "m2", "5", "监测"]
    assert grams("Ｔｒａｆｆｉｃ") == grams("traffic")  # full-width folds (NFKC)
    assert query_terms("交通 交通") == ["交通"]
    assert grams("，。!") == []


def _search(world: World, who: str = "clerk", **params: object) -> dict:
    r = world.client.get("/catalog/search", params=params, headers=world.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def _seed(world: World) -> None:
    world.register(id="signal-timing")
    world.register(
        id="bus-gps",
        title_zh="公交车辆实时位置",
        title_en="Bus positions",
        description_zh="公共交通车辆的实时定位数据",
        keywords_zh=["公交"],
        keywords_en=["bus"],
    )
    world.register(
        id="air-quality",
        title_zh="空气质量监测",
        title_en="Air quality",
        description_zh="各监测站的PM2.5等指标",
        theme="environment",
        keywords_zh=["空气"],
        keywords_en=["air"],
        provider_code=world.health,
        grade="important",
        sharing="conditional",
        open_data=False,
    )


def test_chinese_substrings_find_datasets_ranked(world: World) -> None:
    _seed(world)
    found = _search(world, q="交通")["items"]
    # title match outranks a description match
    assert [d["id"] for d in found] == ["signal-timing", "bus-gps"]
    assert found[0]["score"] > found[1]["score"]
    assert [d["id"] for d in _search(world, q="信号灯配时")["items"]] == ["signal-timing"]
    assert [d["id"] for d in _search(world, q="pm2.5")["items"]] == ["air-quality"]
    assert [d["id"] for d in _search(world, q="Air Quality")["items"]] == ["air-quality"]
    assert {d["id"] for d in _search(world, q="监")["items"]} == {"air-quality"}
    assert _search(world, q="地铁")["items"] == []
    assert _search(world, q="！！")["items"] == []


def test_filters(world: World) -> None:
    _seed(world)
    ids = lambda **p: [d["id"] for d in _search(world, **p)["items"]]  # noqa: E731
    assert ids(theme="environment") == ["air-quality"]
    assert ids(q="监测", org=world.health) == ["air-quality"]
    assert ids(grade="重要") == ["air-quality"]
    assert ids(sharing="conditional") == ["air-quality"]
    assert ids(open="true") == ["signal-timing", "bus-gps"]
    assert ids(open="false") == ["air-quality"]
    r = world.client.get("/catalog/search", params={"theme": "x"}, headers=world.h("clerk"))
    assert (r.status_code, r.json()["field"]) == (422, "theme")
    listed = world.client.get(
        "/catalog/datasets", params={"theme": "transport"}, headers=world.h("service")
    ).json()
    assert [d["id"] for d in listed["items"]] == ["signal-timing", "bus-gps"]


def test_cursor_paging_visits_every_hit_once(world: World) -> None:
    for i in range(7):
        world.register(id=f"ds-{i}", title_zh="交通" * (1 + i % 3) + f"数据{i}")
    for q in ("交通", None):
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 3} | ({"q": q} if q else {}) | ({"cursor": cursor} if cursor else {})
            page = _search(world, **params)
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(f"ds-{i}" for i in range(7))
        assert len(seen) == 7
    r = world.client.get("/catalog/search", params={"cursor": "bad!"}, headers=world.h("clerk"))
    assert (r.status_code, r.json()["field"]) == (422, "cursor")


CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF)
WORD = st.one_of(CJK, st.sampled_from("abcXYZ0123"))
_slugs = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(title=st.text(WORD, min_size=2, max_size=24), data=st.data())
def test_any_substring_of_a_title_finds_it(world: World, title: str, data: st.DataObject) -> None:
    slug = f"h-{next(_slugs)}"
    r = world.client.post(
        "/catalog/datasets",
        headers=world.h("admin"),
        json=dataset_body(slug, world.transport, title_zh=title, keywords_zh=[], keywords_en=[]),
    )
    assert r.status_code == 201, r.text
    start = data.draw(st.integers(0, len(title) - 2))
    end = data.draw(st.integers(start + 2, len(title)))
    found = _search(world, who="admin", q=title[start:end], limit=500)["items"]
    assert slug in [d["id"] for d in found]
