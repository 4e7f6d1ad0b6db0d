"""Every dispute route leaves a ledger entry carrying its request id."""

from __future__ import annotations

from fastapi.routing import APIRoute
from sqlalchemy import select

from citybrain.ledger.models import LedgerEntry
from tests.governance.disputes.conftest import Desk


def test_every_dispute_route_is_ledgered_with_its_request_id(desk: Desk) -> None:
    steps = [  # (method, path, who, body)
        ("POST", "/disputes", "civil", None),
        ("GET", "/disputes", "civil", None),
        ("GET", "/disputes/{id}", "civil", None),
        ("POST", "/disputes/{id}/claims", "civil", {"text": "more"}),
        ("POST", "/disputes/{id}/evidence", "civil", {"batch_id": 1}),
        ("GET", "/disputes/{id}/evidence-bundle", "civil", None),
        ("POST", "/disputes/{id}/accept", "op", {"accept": True}),
        ("POST", "/disputes/{id}/decision", "op", {"outcome": "upheld", "text": "支持"}),
        ("POST", "/disputes/{id}/appeal", "hub", {"reason": "不服"}),
        (
            "POST",
            "/disputes/{id}/appeal-decision",
            "sup1",
            {"outcome": "dismissed", "text": "维持"},
        ),
    ]
    mounted = {
        (m, r.path)
        for r in desk.client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path.startswith("/disputes")
        for m in r.methods
    }
    assert mounted == {(m, p) for m, p, _, _ in steps}
    case_id = None
    for n, (method, path, who, body) in enumerate(steps):
        rid = f"dispute-walk-{n}"
        headers = desk.h(who) | {"X-Request-ID": rid}
        if path == "/disputes":
            r = desk.file(who) if method == "POST" else desk.client.get(path, headers=headers)
            if method == "POST":
                case_id = r.json()["id"]
                with desk.runtime.reader() as s:
                    rid = s.scalar(select(LedgerEntry.request_id).order_by(LedgerEntry.seq.desc()))
        else:
            url = path.replace("{id}", str(case_id))
            r = desk.client.request(method, url, headers=headers, json=body)
        assert r.status_code < 400, f"{method} {path}: {r.text}"
        with desk.runtime.reader() as s:
            entries = s.scalars(select(LedgerEntry).where(LedgerEntry.request_id == rid)).all()
        assert any(e.purpose.startswith("disputes.") and e.actor == who for e in entries), (
            method,
            path,
        )
