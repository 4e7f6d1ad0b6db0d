"""Every catalogue route passes the gate and leaves a ledger entry carrying its request id."""

from __future__ import annotations

from fastapi.routing import APIRoute

from citybrain.hub.catalogue.api import ROUTERS
from citybrain.kernel.http import governed, public_or_governed
from tests.hub.conftest import World, dataset_body
from tests.hub.test_catalogue_api import API_BODY


def _uses_gate(dependant: object) -> bool:
    if getattr(dependant, "call", None) in (governed, public_or_governed):
        return True
    return any(_uses_gate(d) for d in getattr(dependant, "dependencies", []))


def routes() -> list[tuple[str, str]]:
    """(method, path) of every catalogue route."""
    out = []
    for r in ROUTERS:
        for route in r.routes:
            assert isinstance(route, APIRoute)
            assert _uses_gate(route.dependant), route.path
            out += [(m, route.path) for m in sorted(route.methods)]
    return out


def test_every_catalogue_route_is_ledgered(world: World) -> None:
    world.register(id="signal-timing")
    update = dataset_body("signal-timing", world.transport, title_zh="新标题")
    del update["id"]
    bodies = {
        ("POST", "/catalog/datasets"): dataset_body("another", world.transport),
        ("PUT", "/catalog/datasets/{id}"): update,
        ("POST", "/catalog/apis"): dict(API_BODY, owner_code=world.transport),
        ("POST", "/api/3/action/package_show"): {"id": "signal-timing"},
        ("POST", "/api/action/package_show"): {"id": "signal-timing"},
    }
    params = {"/api/3/action/package_show": {"id": "signal-timing"}}
    params["/api/action/package_show"] = params["/api/3/action/package_show"]
    all_routes = routes()
    assert len(all_routes) == 22
    for anonymous in (False, True):
        for method, path in all_routes:
            if anonymous and not (path.startswith("/api/") or path == "/catalog/dcat"):
                continue
            rid = f"{'anon' if anonymous else 'admin'}-{method}-{path}".replace("/", "_")
            rid = rid.replace("{", "").replace("}", "")
            headers = {"X-Request-ID": rid} | ({} if anonymous else world.h("admin"))
            r = world.client.request(
                method,
                path.replace("{id}", "signal-timing"),
                headers=headers,
                json=bodies.get((method, path)),
                params=params.get(path) if method == "GET" else None,
            )
            assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text}"
            with world.runtime.factory() as s:
                rows = world.runtime.ledger.entries(s, -1, 100000)
            mine = [e.data for e in rows if e.data.request_id == rid]
            assert len(mine) == 1, f"{method} {path}: {len(mine)} entries"
            expected = "public:anonymous" if anonymous else "admin"
            assert mine[0].actor == expected and mine[0].decision == "allow"
