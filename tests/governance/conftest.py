"""Sharing fixtures: a civil-affairs department providing three datasets (one per sharing
class) with records, a health department requesting them, a third department, an operator,
an auditor and the administrator."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import ric

from citybrain.api.app import create_app
from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, make_org, make_user

FIELDS: list[dict[str, Any]] = [
    {"name": "person_id", "type": "string", "constraints": {"required": True}, "pii": True},
    {"name": "name", "type": "string", "pii": True},
    {"name": "id_number", "type": "string", "sensitive_pii": True, "subject": True},
    {"name": "phone", "type": "string", "pii": True},
    {"name": "birth_date", "type": "date", "pii": True},
    {"name": "district", "type": "string"},
    {"name": "age", "type": "integer"},
    {"name": "allowance", "type": "number"},
]
SCHEMA = {"fields": FIELDS, "primaryKey": ["person_id"]}
DISTRICTS = ("西湖区", "上城区", "滨江区")


def id_number(n: int) -> str:
    """A valid resident ID number (GB 11643 check digit) for person ``n``."""
    body = f"330106{1950 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder digit


def residents_csv(count: int) -> str:
    """``count`` residents as CSV, deterministic."""
    lines = ["person_id,name,id_number,phone,birth_date,district,age,allowance"]
    for n in range(count):
        birth = f"{1950 + n % 50:04d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        lines.append(
            f"P{n:05d},张{'一二三四五六七八九十'[n % 10]}{n},{id_number(n)},"
            f"1381234{n % 10000:04d},{birth},{DISTRICTS[n % 3]},{2026 - 1950 - n % 50},"
            f"{100 + n % 7 * 10}"
        )
    return "\n".join(lines) + "\n"


def dataset_body(slug: str, provider: str, sharing: str, **over: Any) -> dict[str, Any]:
    """A registration of the residents' allowance dataset under ``slug``."""
    body: dict[str, Any] = {
        "id": slug,
        "title_zh": "困难群众救助对象",
        "title_en": "Recipients of social assistance",
        "description_zh": "民政部门登记的救助对象及补助金额。",
        "description_en": "Recipients of assistance registered by civil affairs, with amounts.",
        "provider_code": provider,
        "theme": "social-security",
        "keywords_zh": ["救助"],
        "keywords_en": ["assistance"],
        "update_frequency": "P1M",
        "schema": copy.deepcopy(SCHEMA),
        "grade": "important",
        "sharing": sharing,
        "open_data": False,
    }
    if sharing == "none":
        body["legal_basis"] = "《社会救助暂行办法》第六十六条"
    body.update(over)
    return body


@dataclass
class Sharing:
    """Who is who in the sharing tests."""

    runtime: Runtime
    client: TestClient
    civil: str  # the provider
    health: str  # the requester
    transport: str  # a bystander
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who``."""
        return bearer(self.tokens[who])

    def request(self, who: str = "health_clerk", **over: Any) -> dict[str, Any]:
        """POST a request (default: name, district, age of the conditional dataset)."""
        body: dict[str, Any] = {
            "dataset": "assist-conditional",
            "fields": ["person_id", "name", "district", "age"],
            "purpose": "public-health",
            "purpose_text": "慢病随访",
            "term_days": 30,
        }
        body.update(over)
        return self.client.post("/sharing/requests", headers=self.h(who), json=body).json()

    def approve(self, request_id: int, who: str = "civil_clerk", **over: Any) -> dict[str, Any]:
        """The provider approves; returns the request with its grant."""
        body: dict[str, Any] = {"approve": True} | over
        r = self.client.post(
            f"/sharing/requests/{request_id}/decision", headers=self.h(who), json=body
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def read(self, grant: int, who: str = "health_clerk", **params: Any) -> Any:
        """GET rows through a grant (purpose public-health unless given)."""
        params.setdefault("purpose", "public-health")
        return self.client.get(
            f"/sharing/grants/{grant}/records", headers=self.h(who), params=params
        )


ROWS = 30


@pytest.fixture
def sharing(runtime: Runtime) -> Iterator[Sharing]:
    """Three departments, their accounts and three datasets (one per class) with 30 rows."""
    root = runtime.settings.city_code
    civil, health, transport = (make_org(runtime, n) for n in (401, 402, 403))
    tokens = {"admin": runtime.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(runtime, "op", root, "operator")
    tokens["auditor"] = make_user(runtime, "aud", root, "auditor")
    tokens["civil_clerk"] = make_user(runtime, "civil", civil, "clerk")
    tokens["health_clerk"] = make_user(runtime, "doctor", health, "clerk")
    tokens["health_service"] = make_user(runtime, "his", health, "service", service_account=True)
    tokens["transport_clerk"] = make_user(runtime, "driver", transport, "clerk")
    with TestClient(create_app(runtime)) as client:
        world = Sharing(runtime, client, civil, health, transport, tokens)
        for sharing_class in ("unconditional", "conditional", "none"):
            slug = f"assist-{sharing_class}"
            r = client.post(
                "/catalog/datasets",
                headers=world.h("civil_clerk"),
                json=dataset_body(slug, civil, sharing_class),
            )
            assert r.status_code == 201, r.text
            r = client.post(
                f"/hub/datasets/{slug}/batches",
                headers=world.h("civil_clerk") | {"Content-Type": "text/csv"},
                content=residents_csv(ROWS),
            )
            assert r.status_code == 201, r.text
        yield world
