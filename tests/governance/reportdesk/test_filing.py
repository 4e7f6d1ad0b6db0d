"""Filing a report (Art16 ¶2): anonymous or named, the identity sealed at rest under a key kept
outside the database, limits on size and rate, the receipt code stored only as a hash."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from citybrain.api.app import create_app
from citybrain.governance.reportdesk import sealing
from citybrain.governance.reportdesk.api import REPORTS_PER_WINDOW
from citybrain.kernel.config import load_settings
from citybrain.kernel.errors import ConfigError
from tests.governance.reportdesk.conftest import DESCRIPTION, IDENTITY, Desk


def raw_case(desk: Desk, case_id: int) -> dict[str, object]:
    """The case's row as a database reader sees it."""
    with desk.runtime.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM report_cases WHERE id = :i"), {"i": case_id})
        return dict(row.mappings().one())


def test_an_anonymous_report_is_filed_and_announced(desk: Desk) -> None:
    out = desk.filed(dataset="elderly-allowance", occurred_on="2026-01-15")
    assert out["status"] == "received" and out["number"].startswith("JB")
    code = out["receipt_code"]
    row = raw_case(desk, out["id"])
    # neither the code nor anything that finds the case by it without the code
    assert code not in str(row)
    assert row["receipt_hash"] == hashlib.sha256(code.encode()).hexdigest()
    assert row["reporter_identity"] is None and row["description"] == DESCRIPTION
    assert desk.follow(code).json()["status"] == "received"
    [event] = desk.heard
    assert event.topic == "governance.reportdesk.case_filed"
    assert event.model_dump(include={"case_id", "category", "organisation", "dataset"}) == {
        "case_id": out["id"],
        "category": "leak",
        "organisation": desk.org,
        "dataset": "elderly-allowance",
    }
    listed = desk.client.get("/reports", headers=desk.h("sup")).json()["items"]
    assert [(c["number"], c["anonymous"]) for c in listed] == [(out["number"], True)]
    # signed-in staff may report too
    for who in ("clerk", "operator"):
        assert desk.file(who).status_code == 201
    # each filing is ledgered as a collection by its caller, naming no case
    with desk.runtime.reader() as s:
        entries = desk.runtime.ledger.entries(s, -1, 1000)
    filed = [e.data for e in entries if e.data.purpose.startswith("reportdesk.file")]
    assert [(e.actor, e.action, e.resource) for e in filed] == [
        ("public:anonymous", "collect", "ReportDesk/reports"),
        ("clerk", "collect", "ReportDesk/reports"),
        ("op", "collect", "ReportDesk/reports"),
    ]


def test_a_named_report_is_sealed_at_rest(desk: Desk) -> None:
    out = desk.filed(reporter=IDENTITY, contact_consent=True)
    row = raw_case(desk, out["id"])
    sealed = str(row["reporter_identity"])
    dump = str(row)
    for value in IDENTITY.values():  # no plaintext anywhere in the row
        assert value not in dump, value
    assert sealed.startswith("v1.") and row["contact_consent"] in (True, 1)
    # the key is a 0600 file in the data directory, not in the database
    path = desk.runtime.settings.data_dir / sealing.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = sealing.decode_key(path.read_text(), "test")
    assert sealing.unseal(key, sealed, out["id"]) == IDENTITY
    with pytest.raises(ConfigError):  # bound to its case
        sealing.unseal(key, sealed, out["id"] + 1)
    with pytest.raises(ConfigError):  # another key does not open it
        sealing.unseal(sealing.IdentityKey.of(secrets.token_bytes(32)), sealed, out["id"])
    # the supervisor reads it back
    who = desk.client.get(f"/reports/{out['id']}/reporter", headers=desk.h("sup")).json()
    assert who == {"case": out["number"], "anonymous": False, "contact_consent": True} | IDENTITY
    # blank identity fields are an anonymous report
    blank = desk.filed(reporter={"name": " ", "phone": ""})
    assert raw_case(desk, blank["id"])["reporter_identity"] is None
    key_from_setting(desk)
    lost_key(desk, out["id"])


def key_from_setting(desk: Desk) -> None:
    """The same hub with the key in the setting: no file is read or made."""
    (desk.runtime.settings.data_dir / sealing.KEY_FILE).rename(
        desk.runtime.settings.data_dir / "moved"
    )
    raw = secrets.token_bytes(32)
    b64 = base64.b64encode(raw).decode()
    assert load_settings(environ={"CITYBRAIN_REPORT_IDENTITY_KEY": b64}).report_identity_key == b64
    settings = desk.runtime.settings.model_copy(update={"report_identity_key": b64})
    rt = dataclasses.replace(desk.runtime, settings=settings)
    with TestClient(create_app(rt)) as client:
        r = client.post(
            "/reports", json={"category": "other", "description": DESCRIPTION, "reporter": IDENTITY}
        )
        assert r.status_code == 201, r.text
        case = r.json()["id"]
        who = client.get(f"/reports/{case}/reporter", headers=desk.h("sup")).json()
        assert who["name"] == IDENTITY["name"]
    assert not (settings.data_dir / sealing.KEY_FILE).exists()  # no file made
    (settings.data_dir / "moved").rename(settings.data_dir / sealing.KEY_FILE)
    sealed = str(raw_case(desk, case)["reporter_identity"])
    assert sealing.unseal(sealing.IdentityKey.of(raw), sealed, case)["email"] == IDENTITY["email"]
    # a wrong key: one clear configuration error naming the setting
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ConfigError) as err:
            sealing.load_key(
                settings.model_copy(update={"report_identity_key": bad}), may_create=True
            )
        assert err.value.field == "report_identity_key"


def lost_key(desk: Desk, case: int) -> None:
    """The key file gone while identities are sealed: refused, never silently replaced."""
    path = desk.runtime.settings.data_dir / sealing.KEY_FILE
    path.unlink()
    with pytest.raises(ConfigError) as err:
        sealing.load_key(desk.runtime.settings, may_create=False)
    assert "missing" in err.value.detail and err.value.field == "report_identity_key"
    r = desk.file(reporter={"name": "赵六"})  # a new key would lock the old identity away
    assert r.status_code == 500 and r.json()["field"] == "report_identity_key"
    assert not path.exists()
    r = desk.client.get(f"/reports/{case}/reporter", headers=desk.h("sup"))
    assert r.status_code == 500 and "restore it" in r.json()["detail"]
    assert desk.file().status_code == 201  # anonymous reports need no key


def rate_limit(desk: Desk) -> None:
    """REPORTS_PER_WINDOW reports per address, then 429 with Retry-After."""
    for _ in range(REPORTS_PER_WINDOW - 1):  # one is filed already
        desk.filed()
    r = desk.file()
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "reports" in r.json()["detail"]
    # another address is not held up
    with TestClient(desk.client.app, client=("198.51.100.7", 4000)) as other:
        r = other.post("/reports", json={"category": "leak", "description": DESCRIPTION})
        assert r.status_code == 201, r.text


def test_bad_input_is_refused_naming_the_field_and_filings_are_rate_limited(desk: Desk) -> None:
    cases = [
        ({"description": "x" * 4001}, "description"),
        ({"description": "太短了"}, "description"),
        ({"description": " " * 12}, "description"),
        ({"category": "gossip"}, "category"),
        ({"organisation": "12345"}, "organisation"),
        ({"organisation": "91330100MA27XL0000"}, "organisation"),  # bad check digit
        ({"dataset": "Not A Slug"}, "dataset"),
        ({"occurred_on": "2999-01-01"}, "occurred_on"),
        ({"reporter": {"name": "名" * 101}}, "reporter.name"),
        ({"reporter": {"phone": "call me maybe"}}, "reporter.phone"),
        ({"reporter": {"email": "nobody"}}, "reporter.email"),
        ({"reporter": {"id_number": "110105194912310021"}}, "reporter.id_number"),
        ({"reporter": {"nickname": "x"}}, "reporter.nickname"),
        ({"contact_consent": True}, "contact_consent"),
        ({"contact_consent": True, "reporter": {"name": "张三"}}, "contact_consent"),
        ({"extra": 1}, "extra"),
    ]
    for over, field in cases:
        r = desk.file(**over)
        assert r.status_code == 422 and r.json()["field"] == field, (over, r.text)
    # an unregistered organisation with a valid credit code
    from tests.helpers import credit_code

    r = desk.file(organisation=credit_code(999))
    assert r.status_code == 422 and r.json()["field"] == "organisation"
    assert "registered" in r.json()["detail"]
    with desk.runtime.reader() as s:  # nothing half-written
        assert s.execute(text("SELECT count(*) FROM report_cases")).scalar() == 0
    assert desk.file(description="x" * 4000).status_code == 201  # the limit itself is fine
    rate_limit(desk)  # the refused ones did not count
