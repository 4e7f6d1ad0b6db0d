"""Privacy routes: personal information found (profile, proposal, confirmation into the
catalogue) and k-anonymised releases, checked by pycanon, with who may do what."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from pycanon import anonymity
from sqlalchemy import func, select

from citybrain.governance.privacy.api import ROUTERS, register_gate_actions
from citybrain.governance.privacy.proposals import PrivacyProposal
from citybrain.governance.privacy.releases import PrivacyRelease
from citybrain.kernel.db import Base
from citybrain.kernel.http import GOVERNED_PROBLEMS, STRICT_QUERY
from citybrain.kernel.runtime import Runtime
from tests.governance.conftest import FIELDS, ROWS, Sharing, dataset_body, residents_csv
from tests.helpers import applied_revisions

TABLES = {"privacy_proposals", "privacy_releases"}
DISTRICTS = [["西湖区", "主城区", "*"], ["上城区", "主城区", "*"], ["滨江区", "滨江", "*"]]


def mount(client: TestClient) -> None:
    """Mount the privacy routes unless the app already does."""
    app: Any = client.app
    if "/privacy/releases/{id}" not in [getattr(r, "path", "") for r in app.routes]:
        register_gate_actions()
        for router in ROUTERS:
            app.include_router(router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)


@pytest.fixture
def world(sharing: Sharing) -> Sharing:
    """The sharing world with the privacy routes mounted."""
    mount(sharing.client)
    return sharing


def register(world: Sharing, slug: str, csv: str, **over: Any) -> None:
    """Register a dataset of the civil-affairs department and upload ``csv`` into it."""
    body = dataset_body(slug, world.civil, "unconditional", **over)
    r = world.client.post("/catalog/datasets", headers=world.h("civil_clerk"), json=body)
    assert r.status_code == 201, r.text
    r = world.client.post(
        f"/hub/datasets/{slug}/batches",
        headers=world.h("civil_clerk") | {"Content-Type": "text/csv"},
        content=csv,
    )
    assert r.status_code == 201, r.text


def ledger_tail(rt: Runtime, n: int = 5) -> list[Any]:
    """The last ``n`` ledger entries' data."""
    with rt.factory() as s:
        size = rt.ledger.size(s)
        return [e.data for e in rt.ledger.entries(s, size - n - 1, n)]


def count(rt: Runtime, model: Any) -> int:
    """Rows of a table."""
    with rt.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def column(view: dict[str, Any], name: str) -> dict[str, Any]:
    """One column of a proposal view."""
    return next(c for c in view["columns"] if c["column"] == name)


def test_tables_match_migration_0011(runtime: Runtime) -> None:
    assert "0011" in applied_revisions(runtime)
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in TABLES)] == []


def test_profile_finds_what_the_catalogue_does_not_flag_and_confirm_writes_it(
    world: Sharing,
) -> None:
    c, rt = world.client, world.runtime
    flags = ("pii", "sensitive_pii", "subject")
    unflagged = [{k: v for k, v in f.items() if k not in flags} for f in FIELDS]
    schema = {"fields": unflagged, "primaryKey": ["person_id"]}
    register(world, "assist-plain", residents_csv(ROWS), schema=schema, grade="general")
    url = "/privacy/datasets/assist-plain"
    # only the provider's clerks and operators profile; nobody profiles what does not exist
    assert c.post(f"{url}/profile", headers=world.h("health_clerk")).status_code == 403
    assert c.post(f"{url}/profile", headers=world.h("auditor")).status_code == 403
    r = c.post("/privacy/datasets/nope/profile", headers=world.h("civil_clerk"))
    assert r.status_code == 404 and r.json()["field"] == "dataset"
    assert c.get(f"{url}/proposal", headers=world.h("civil_clerk")).status_code == 404
    r = c.post(f"{url}/profile", headers=world.h("civil_clerk"))
    assert r.status_code == 200, r.text
    view = r.json()
    entry = ledger_tail(rt, 1)[0]
    assert (entry.action, entry.resource, entry.decision) == (
        "use",
        "Dataset/assist-plain",
        "allow",
    )
    assert view["trigger"] == "manual"
    ids = column(view, "id_number")
    assert ids["catalogue"] == {"pii": False, "sensitive_pii": False}
    assert ids["proposed_flag"] == "sensitive_pii" and ids["differs"] is True
    finding = ids["finding"]
    assert finding["kind"] == "id_number" and finding["share"] == 1.0
    assert finding["samples_checked"] == ROWS and finding["proposed_mask"] == "SHOW_LAST_4"
    assert "居民身份证号码" in finding["reason"]["zh-CN"]
    assert "Resident ID number" in finding["reason"]["en"]
    assert column(view, "phone")["proposed_flag"] == "pii"
    assert column(view, "phone")["finding"]["kind"] == "mobile"
    name = column(view, "name")  # "张一0": the name hints, the values do not bear it out
    assert name["finding"]["flagged"] is False and name["proposed_flag"] is None
    assert column(view, "district")["finding"] is None
    assert view["proposed_flags"] == {"id_number": "sensitive_pii", "phone": "pii"}
    assert (view["proposed_grade"], view["current_grade"]) == ("important", "general")
    # provider, operators and auditors read it; another department does not
    for who in ("civil_clerk", "operator", "auditor"):
        r = c.get(f"{url}/proposal", headers=world.h(who))
        assert r.status_code == 200 and r.json()["id"] == view["id"], who
    assert c.get(f"{url}/proposal", headers=world.h("health_clerk")).status_code == 403
    # confirmation: named errors first, nothing changes
    confirm = f"{url}/proposal/confirm"
    for columns, field in (({"nope": "pii"}, "columns.nope"), ({"phone": "x"}, "columns.phone")):
        r = c.post(confirm, headers=world.h("civil_clerk"), json={"columns": columns})
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    r = c.post(confirm, headers=world.h("civil_clerk"), json={"columns": {}, "grade": "top"})
    assert r.status_code == 422 and r.json()["field"] == "grade"
    body = {"columns": {"name": "pii", "id_number": "sensitive_pii", "phone": "pii"}}
    assert c.post(confirm, headers=world.h("health_clerk"), json=body).status_code == 403
    assert c.post(confirm, headers=world.h("operator"), json=body).status_code == 403
    assert (
        c.get("/catalog/datasets/assist-plain", headers=world.h("civil_clerk")).json()["version"]
        == 1
    )
    r = c.post(confirm, headers=world.h("civil_clerk"), json=body | {"grade": "important"})
    assert r.status_code == 200, r.text
    assert ledger_tail(rt, 1)[0].action == "admin"
    out = r.json()
    assert out["proposal"]["confirmed_by"] == "civil" and out["proposal"]["confirmed_at"]
    ds = c.get("/catalog/datasets/assist-plain", headers=world.h("civil_clerk")).json()
    assert ds["version"] == 2 and ds["grade"]["code"] == "important"
    assert ds["pii_fields"] == ["name", "id_number", "phone"]
    assert ds["sensitive_pii_fields"] == ["id_number"]
    assert column(out["proposal"], "id_number")["differs"] is False
    # an override: the provider decides the phone column is not personal after all
    r = c.post(confirm, headers=world.h("civil_clerk"), json={"columns": {"phone": "none"}})
    ds = r.json()["dataset"]
    assert ds["version"] == 3 and ds["pii_fields"] == ["name", "id_number"]
    history = c.get("/catalog/datasets/assist-plain/versions", headers=world.h("civil_clerk"))
    assert [v["version"] for v in history.json()] == [1, 2, 3]


def test_open_data_refuses_personal_information_and_its_releases_are_public(
    world: Sharing,
) -> None:
    c = world.client
    fields = [
        {"name": "person_id", "type": "string", "constraints": {"required": True}},
        {"name": "phone", "type": "string"},  # personal, though the catalogue does not say so
        {"name": "district", "type": "string"},
        {"name": "age", "type": "integer"},
        {"name": "allowance", "type": "number"},
    ]
    lines = residents_csv(ROWS).splitlines()
    keep = (0, 3, 5, 6, 7)
    csv = "\n".join(",".join(line.split(",")[i] for i in keep) for line in lines) + "\n"
    schema = {"fields": fields, "primaryKey": ["person_id"]}
    register(world, "assist-open", csv, schema=schema, grade="general", open_data=True)
    url = "/privacy/datasets/assist-open"
    view = c.post(f"{url}/profile", headers=world.h("operator")).json()
    assert view["proposed_flags"] == {"phone": "pii"}
    r = c.post(
        f"{url}/proposal/confirm",
        headers=world.h("civil_clerk"),
        json={"columns": {"phone": "pii"}},
    )
    assert r.status_code == 422 and r.json()["field"] == "schema.fields.1.pii", r.text
    ds = c.get("/catalog/datasets/assist-open", headers=world.h("civil_clerk")).json()
    assert ds["version"] == 1 and ds["pii_fields"] == []
    # a release: the phone numbers (found) and the record key never go out
    body = {"k": 3, "qi": ["age", "district"], "max_suppression": 0.0}
    r = c.post(f"{url}/releases", headers=world.h("civil_clerk"), json=body)
    assert r.status_code == 201, r.text
    release = r.json()
    assert release["columns"] == ["district", "age", "allowance"]
    assert {d["column"]: d["reason"] for d in release["dropped"]} == {
        "person_id": "primary_key",
        "phone": "detected:mobile",
    }
    # open data: anyone reads the release, without a token too
    r = c.get(f"/privacy/releases/{release['id']}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = r.text.splitlines()
    assert rows[0] == "district,age,allowance" and len(rows) == ROWS + 1
    assert "1381234" not in r.text
    doc = c.get(f"/privacy/releases/{release['id']}").json()
    assert "created_by" not in doc and len(doc["rows"]) == ROWS
    frame = pd.DataFrame(doc["rows"])
    assert anonymity.k_anonymity(frame, ["age", "district"]) >= 3
    assert (
        c.get(f"/privacy/releases/{release['id']}", headers=world.h("health_clerk")).json()[
            "created_by"
        ]
        == "civil"
    )


def release_errors(world: Sharing, url: str) -> None:
    """Bad parameters: 422 naming the field, nothing stored."""
    c, rt = world.client, world.runtime
    base: dict[str, Any] = {"k": 5, "qi": ["age", "district"]}
    cases = [
        ({"qi": ["age", "nope"]}, "qi"),
        ({"k": 1}, "k"),
        ({"k": ROWS + 1, "max_suppression": 0}, "k"),  # no generalisation is enough
        ({"qi": ["id_number"]}, "qi"),  # direct identifiers never go out, not even generalised
        ({"sensitive": "phone", "l": 2}, "sensitive"),
        ({"sensitive": "nope", "l": 2}, "sensitive"),
        ({"sensitive": "allowance"}, "l"),  # l without the other, or the other way round
        ({"hierarchies": {"allowance": [["100", "*"]]}}, "hierarchies.allowance"),
        ({"hierarchies": {"district": DISTRICTS[:2]}}, "hierarchies"),  # 滨江区 missing
        ({"hierarchies": {"district": [["西湖区", "主城区"], ["上城区"]]}}, "hierarchies"),
        ({"max_suppression": 1}, "max_suppression"),
        ({"suppression_weight": 0.5}, "suppression_weight"),
        ({"suppression_weight": 1001}, "suppression_weight"),
        ({"suppression_weight": "abc"}, "suppression_weight"),
    ]
    for change, field in cases:
        r = c.post(url, headers=world.h("civil_clerk"), json=copy.deepcopy(base) | change)
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field, (change, r.json())
    r = c.post("/privacy/datasets/nope/releases", headers=world.h("civil_clerk"), json=base)
    assert r.status_code == 404 and r.json()["field"] == "dataset"
    assert count(rt, PrivacyRelease) == 0
    assert count(rt, PrivacyProposal) == 0
    r = c.get("/privacy/releases/99", headers=world.h("admin"))
    assert r.status_code == 404 and r.json()["field"] == "id"
    r = c.get("/privacy/releases/1", headers=world.h("admin"), params={"format": "xml"})
    assert r.status_code == 422


def test_release_is_k_anonymous_and_l_diverse_and_kept_from_strangers(world: Sharing) -> None:
    c, rt = world.client, world.runtime
    url = "/privacy/datasets/assist-unconditional/releases"
    body: dict[str, Any] = {
        "k": 5,
        "qi": ["age", "district"],
        "hierarchies": {"district": DISTRICTS},
    }
    assert c.post(url, headers=world.h("health_clerk"), json=body).status_code == 403
    assert c.post(url, headers=world.h("auditor"), json=body).status_code == 403
    release_errors(world, url)
    r = c.post(url, headers=world.h("civil_clerk"), json=body)
    assert r.status_code == 201, r.text
    release = r.json()
    entry = ledger_tail(rt, 1)[0]
    assert (entry.action, entry.resource) == ("use", "Dataset/assist-unconditional")
    report = release["report"]
    assert release["columns"] == ["district", "age", "allowance"]  # direct identifiers dropped
    assert {d["column"] for d in release["dropped"]} == {
        "person_id",
        "name",
        "id_number",
        "phone",
        "birth_date",
    }
    assert report["k"] == 5 and set(report["levels"]) == {"age", "district"}
    assert report["suppressed"] <= 0.05 * ROWS and report["rows_out"] == ROWS - report["suppressed"]
    assert 0 <= report["loss"] <= 1 and report["classes"] >= 1 and report["seconds"] >= 0
    rid = release["id"]
    # provider, operators, auditors read it; not another department, not the public
    for who in ("civil_clerk", "operator", "auditor"):
        assert c.get(f"/privacy/releases/{rid}", headers=world.h(who)).status_code == 200, who
    assert c.get(f"/privacy/releases/{rid}", headers=world.h("health_clerk")).status_code == 403
    assert c.get(f"/privacy/releases/{rid}").status_code == 403
    assert c.get(f"/privacy/releases/{rid}.csv").status_code == 403
    doc = c.get(f"/privacy/releases/{rid}", headers=world.h("auditor")).json()
    assert doc["created_by"] == "civil" and doc["params"]["k"] == 5
    frame = pd.DataFrame(doc["rows"])
    assert len(frame) == report["rows_out"]
    assert anonymity.k_anonymity(frame, ["age", "district"]) >= 5
    assert set(frame["district"]) <= {"西湖区", "上城区", "滨江区", "主城区", "*"}
    csv = c.get(f"/privacy/releases/{rid}.csv", headers=world.h("civil_clerk"))
    same = c.get(
        f"/privacy/releases/{rid}", headers=world.h("civil_clerk"), params={"format": "csv"}
    )
    assert csv.status_code == 200 and csv.text == same.text
    assert csv.text.splitlines()[0] == "district,age,allowance"
    # l-diversity of the allowance (7 distinct amounts)
    body = {"k": 3, "qi": ["age", "district"], "sensitive": "allowance", "l": 3}
    r = c.post(url, headers=world.h("operator"), json=body)
    assert r.status_code == 201, r.text
    rows = c.get(f"/privacy/releases/{r.json()['id']}", headers=world.h("operator")).json()["rows"]
    frame = pd.DataFrame(rows)
    assert anonymity.k_anonymity(frame, ["age", "district"]) >= 3
    assert anonymity.l_diversity(frame, ["age", "district"], ["allowance"]) >= 3


def test_release_with_a_suppression_weight(world: Sharing) -> None:
    c = world.client
    url = "/privacy/datasets/assist-unconditional/releases"
    base: dict[str, Any] = {"k": 2, "qi": ["age", "district"], "max_suppression": 0.3}
    r = c.post(url, headers=world.h("civil_clerk"), json=base | {"suppression_weight": 0.5})
    assert r.status_code == 422 and r.json()["field"] == "suppression_weight", r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert count(world.runtime, PrivacyRelease) == 0
    reports = {}
    for weight in (None, 1, 2.5, 1000):
        body = base if weight is None else base | {"suppression_weight": weight}
        r = c.post(url, headers=world.h("civil_clerk"), json=body)
        assert r.status_code == 201, r.text
        release = r.json()
        report = reports[weight] = release["report"]
        assert release["params"]["suppression_weight"] == (weight or 1)
        assert report["suppression_weight"] == (weight or 1)
        assert report["objective"] == pytest.approx(
            report["loss"] + ((weight or 1) - 1) * report["suppressed"] / ROWS
        )
        doc = c.get(f"/privacy/releases/{release['id']}", headers=world.h("operator")).json()
        assert doc["params"]["suppression_weight"] == (weight or 1)
        frame = pd.DataFrame(doc["rows"])
        assert len(frame) == ROWS - report["suppressed"]
        assert anonymity.k_anonymity(frame, ["age", "district"]) >= 2
    assert reports[None]["levels"] == reports[1]["levels"]  # 1 is the default
    assert reports[None]["suppressed"] == reports[1]["suppressed"] == 3
    # weight 1 suppresses three rows at age level 2; a weight of 2.5 keeps them at level 3
    assert reports[2.5]["suppressed"] == reports[1000]["suppressed"] == 0
    assert reports[2.5]["levels"]["age"] == reports[1]["levels"]["age"] + 1
    assert reports[2.5]["loss"] > reports[1]["loss"]
