"""The catalogue page: open datasets only, Chinese search, both languages, every view ledgered."""

from __future__ import annotations

from tests.hub.conftest import World, dataset_body


def test_open_data_listed_searchable_and_ledgered(world: World) -> None:
    world.register()  # 交通信号灯配时, open data
    closed = dataset_body("health-records", world.health, title_zh="门诊病历", open_data=False)
    closed["title_en"] = "Outpatient records"
    assert world.client.post("/catalog/datasets", headers=world.h("admin"), json=closed).is_success
    with world.runtime.reader() as s:
        before = world.runtime.ledger.size(s)
    page = world.client.get("/catalogue")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-testid="dataset-signal-timing"' in page.text
    assert "交通信号灯配时" in page.text and "门诊病历" not in page.text
    with world.runtime.reader() as s:
        assert world.runtime.ledger.size(s) == before + 1
    found = world.client.get("/catalogue", params={"q": "交通"}).text
    assert 'data-testid="dataset-signal-timing"' in found
    missing = world.client.get("/catalogue", params={"q": "空气质量"}).text
    assert 'data-testid="no-results"' in missing
    english = world.client.get("/catalogue?lang=en").text
    assert "Traffic signal timing" in english and "Data catalogue" in english
    assert 'href="/catalogue?lang=zh-CN"' in english
    assert "<script" not in english
