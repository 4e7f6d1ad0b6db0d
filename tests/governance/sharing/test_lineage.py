"""Derived data: lineage is recorded, the derived dataset is shared at least as strictly as its
strictest source (transitively), unless its provider relaxes it with a reason."""

from __future__ import annotations

from typing import Any

from tests.governance.conftest import Sharing, dataset_body


def register(world: Sharing, slug: str, sharing_class: str) -> None:
    r = world.client.post(
        "/catalog/datasets",
        headers=world.h("civil_clerk"),
        json=dataset_body(slug, world.civil, sharing_class),
    )
    assert r.status_code == 201, r.text


def lineage(world: Sharing, slug: str, who: str = "civil_clerk", **body: Any) -> Any:
    return world.client.put(f"/sharing/lineage/{slug}", headers=world.h(who), json=body)


def test_looser_than_its_source_only_with_a_reason(sharing: Sharing) -> None:
    register(sharing, "derived-open", "unconditional")
    r = lineage(sharing, "derived-open", sources=["assist-conditional"])
    assert r.status_code == 422 and r.json()["field"] == "relax_reason"
    assert "assist-conditional" in r.json()["detail"]
    got = sharing.client.get("/sharing/lineage/derived-open", headers=sharing.h("auditor"))
    assert got.json()["sources"] == []  # the refused change left nothing behind
    r = lineage(
        sharing,
        "derived-open",
        sources=["assist-conditional"],
        relax_reason="只含区级汇总，不含个人信息",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["effective"] == "unconditional" and body["relaxed"] == "只含区级汇总，不含个人信息"
    assert body["inherited"] == "conditional" and body["inherited_from"] == "assist-conditional"
    assert sharing.request(dataset="derived-open")["status"] == "approved"
    assert lineage(sharing, "derived-open", who="health_clerk", sources=["x"]).status_code == 403


def test_a_source_made_stricter_makes_its_derivatives_stricter(sharing: Sharing) -> None:
    register(sharing, "derived-a", "unconditional")
    register(sharing, "derived-b", "unconditional")
    assert lineage(sharing, "derived-a", sources=["assist-unconditional"]).status_code == 200
    assert lineage(sharing, "derived-b", sources=["derived-a"]).status_code == 200
    assert sharing.request(dataset="derived-b")["status"] == "approved"
    # The source becomes 不予共享: both derivatives now need a legal basis.
    body = dataset_body("x", sharing.civil, "none")
    body.pop("id")
    r = sharing.client.put(
        "/catalog/datasets/assist-unconditional", headers=sharing.h("civil_clerk"), json=body
    )
    assert r.status_code == 200, r.text
    got = sharing.client.get("/sharing/lineage/derived-b", headers=sharing.h("health_clerk"))
    assert got.json()["effective"] == "none"
    assert got.json()["inherited_from"] == "assist-unconditional"
    refused = sharing.request(dataset="derived-b")
    assert refused["status"] == 422 and refused["field"] == "legal_basis"
    pending = sharing.request(dataset="derived-b", legal_basis="《突发公共卫生事件应急条例》")
    assert pending["status"] == "pending"


def test_unknown_sources_and_cycles_are_refused(sharing: Sharing) -> None:
    register(sharing, "derived-c", "conditional")
    r = lineage(sharing, "derived-c", sources=["nope"])
    assert r.status_code == 404
    r = lineage(sharing, "derived-c", sources=["derived-c"])
    assert r.status_code == 422 and r.json()["field"] == "sources[0]"
    assert lineage(sharing, "derived-c", sources=["assist-conditional"]).status_code == 200
    r = lineage(sharing, "assist-conditional", sources=["derived-c"])
    assert r.status_code == 422 and r.json()["field"] == "sources"
