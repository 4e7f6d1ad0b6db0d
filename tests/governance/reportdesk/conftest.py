"""Report desk fixtures: the app, a department (the organisation reported on), two supervisors,
an operator, an auditor, a clerk and the administrator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.kernel.events import Event
from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, make_org, make_user

DESCRIPTION = "某街道办把低保对象名单（含身份证号）发到了200人的微信群里。"
IDENTITY = {
    "name": "李举报",
    "phone": "13800138000",
    "email": "li.jubao@example.cn",
    "id_number": "11010519491231002X",
}


@dataclass
class Desk:
    """Who is who at the report desk."""

    runtime: Runtime
    client: TestClient
    org: str  # a registered department, the organisation reported on
    tokens: dict[str, str]
    heard: list[Event]

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who`` (``public``: none)."""
        return {} if who == "public" else bearer(self.tokens[who])

    def file(self, who: str = "public", **over: Any) -> httpx.Response:
        """POST a report (anonymous, category leak, about ``org``, unless overridden)."""
        body: dict[str, Any] = {
            "category": "leak",
            "description": DESCRIPTION,
            "organisation": self.org,
        } | over
        return self.client.post("/reports", headers=self.h(who), json=body)

    def filed(self, **over: Any) -> dict[str, Any]:
        """File a report that must succeed; its answer."""
        r = self.file(**over)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def follow(self, code: str) -> httpx.Response:
        """Look a case up by receipt code (anonymously)."""
        return self.client.post("/reports/receipt", json={"code": code})

    def triage(self, case: int, who: str = "sup", **over: Any) -> httpx.Response:
        """Triage a case (medium, to ``sup``)."""
        body = {"severity": "medium", "assignee": "sup"} | over
        return self.client.post(f"/reports/{case}/triage", headers=self.h(who), json=body)

    def status(self, case: int, status: str, who: str = "sup", **over: Any) -> httpx.Response:
        """Move a case to ``status``."""
        body = {"status": status} | over
        return self.client.post(f"/reports/{case}/status", headers=self.h(who), json=body)


@pytest.fixture
def desk(runtime: Runtime) -> Iterator[Desk]:
    """The report desk with its cast; every report desk event is collected in ``heard``."""
    root = runtime.settings.city_code
    org = make_org(runtime, 501)
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["sup"] = make_user(runtime, "sup", root, "supervisor")
    tokens["sup2"] = make_user(runtime, "sup2", root, "supervisor")
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["auditor"] = make_user(runtime, "aud", root, "auditor")
    tokens["clerk"] = make_user(runtime, "clerk", org, "clerk")
    heard: list[Event] = []
    runtime.bus.subscribe("governance.reportdesk", heard.append)
    with TestClient(create_app(runtime)) as client:
        yield Desk(runtime, client, org, tokens, heard)
