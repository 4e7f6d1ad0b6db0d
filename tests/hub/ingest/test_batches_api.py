"""Batch collection through the API, on SQLite and PostgreSQL: formats, atomicity, quarantine,
idempotency, signatures, limits, and one ledger entry per batch through the gate."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from citybrain.hub.ingest.models import DatasetRecord, IngestBatch
from citybrain.ledger.signing import CheckpointSigner
from tests.helpers import bearer, make_org, make_user
from tests.hub.ingest.conftest import DATASET, Hub

CSV = (
    "station,name,ts,pm25,ok,location\n"
    'A01,西湖区监测站,2024-05-01T08:00:00+08:00,35.5,true,"120.15,30.28"\n'
    'A02,拱墅区监测站,2024-05-01T08:00:00+08:00,12,false,"120.14,30.32"\n'
)
BAD_CSV = CSV + 'A03,滨江区监测站,2024-05-01T08:00:00+08:00,-4,true,"120.2,30.2"\n'


def payloads(hub: Hub) -> dict[str, dict]:
    with hub.runtime.factory() as s:
        rows = s.scalars(select(DatasetRecord).where(DatasetRecord.dataset_id == DATASET)).all()
        return {r.record_key: r.payload for r in rows}


def test_csv_utf8_is_collected_with_provenance_and_one_ledger_entry(hub: Hub) -> None:
    r = hub.upload(CSV.encode(), source="stations.csv")
    assert r.status_code == 201, r.text
    body = r.json()
    digest = hashlib.sha256(CSV.encode()).hexdigest()
    assert body["content_sha256"] == digest and body["duplicate"] is False
    assert (body["rows_total"], body["rows_accepted"], body["rows_quarantined"]) == (2, 2, 0)
    assert body["encoding"] == "utf-8" and body["format"] == "csv"
    assert body["actor"] == "collector" and body["organisation"] == hub.dept
    assert body["source"] == "stations.csv" and body["authenticity"] == "unsigned"
    entries = hub.collect_entries()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.data.action == "collect" and f"sha256:{digest}" in entry.data.purpose
    assert entry.data.resource == f"Dataset/{DATASET}" and entry.seq == body["ledger_seq"]
    stored = payloads(hub)
    assert len(stored) == 2
    a01 = stored['["A01","2024-05-01T08:00:00+08:00"]']
    assert (
        a01["name"] == "西湖区监测站" and a01["pm25"] == 35.5 and a01["location"] == [120.15, 30.28]
    )


def test_gbk_csv_is_detected_and_stored_as_text(hub: Hub) -> None:
    r = hub.upload(CSV.encode("gbk"))
    assert r.status_code == 201, r.text
    assert r.json()["encoding"] == "gb18030"
    names = sorted(p["name"] for p in payloads(hub).values())
    assert names == ["拱墅区监测站", "西湖区监测站"]


def test_json_jsonl_parquet_and_multipart(hub: Hub) -> None:
    rows = [
        {"station": "J1", "name": "甲", "ts": "2024-05-02T00:00:00Z", "pm25": 1, "ok": True,
         "location": [120.0, 30.0]},
        {"station": "J2", "name": None, "ts": "2024-05-02T00:00:00Z", "pm25": 2.5, "ok": False,
         "location": "120.1,30.1"},
    ]  # fmt: skip
    r = hub.upload(json.dumps(rows).encode(), "application/json")
    assert r.status_code == 201 and r.json()["format"] == "json", r.text
    lines = "\n".join(json.dumps(dict(x, station=x["station"] + "L")) for x in rows)
    r = hub.upload(lines.encode(), "application/x-ndjson")
    assert r.status_code == 201 and r.json()["format"] == "jsonl", r.text
    table = pa.table(
        {
            "station": ["P1", "P2"],
            "name": ["乙", "丙"],
            "ts": [datetime(2024, 5, 3, tzinfo=UTC)] * 2,
            "pm25": [3.0, None],
            "ok": [True, None],
            "location": ["120,30", "121,31"],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = hub.upload(buf.getvalue(), "application/vnd.apache.parquet")
    assert r.status_code == 201 and r.json()["rows_accepted"] == 2, r.text
    csv2 = CSV.replace("A0", "M0").encode()
    r = hub.client.post(
        f"/hub/datasets/{DATASET}/batches",
        files={"file": ("多部分.csv", csv2, "text/csv")},
        headers=hub.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "多部分.csv"
    assert r.json()["content_sha256"] == hashlib.sha256(csv2).hexdigest()
    assert len(payloads(hub)) == 8 and len(hub.collect_entries()) == 4
    p1 = payloads(hub)['["P1","2024-05-03T00:00:00+00:00"]']
    assert p1["ok"] is True and p1["location"] == [120.0, 30.0]


def test_atomic_rejection_names_line_and_field_and_stores_nothing(hub: Hub) -> None:
    before, ledger_before = hub.counts(), hub.collect_entries()
    r = hub.upload(BAD_CSV.encode())
    assert r.status_code == 422
    problem = r.json()
    assert problem["field"] == "pm25" and problem["line"] == 4
    assert "line 4, field 'pm25'" in problem["detail"] and "below the minimum" in problem["detail"]
    assert problem["errors"] == [
        {"line": 4, "field": "pm25", "reason": problem["errors"][0]["reason"]}
    ]
    assert hub.counts() == before == (0, 0, 0)
    assert hub.collect_entries() == ledger_before == []


def test_malformed_upload_is_rejected_naming_the_line(hub: Hub) -> None:
    r = hub.upload(b'{"station": "x"}\n{"station": \n', "application/x-ndjson", mode="quarantine")
    assert r.status_code == 422 and r.json()["field"] == "row" and "line 2" in r.json()["detail"]
    r = hub.upload(b"station,colour\nA,red\n")
    assert r.status_code == 422 and r.json()["field"] == "colour"
    r = hub.upload(b"x", "text/plain")
    assert r.status_code == 422 and r.json()["field"] == "Content-Type"
    assert hub.counts() == (0, 0, 0) and hub.collect_entries() == []


def test_quarantine_mode_keeps_good_rows_and_explains_bad_ones(hub: Hub) -> None:
    data = BAD_CSV + ',无站点,2024-05-01T08:00:00+08:00,1,true,"120,30"\n'
    r = hub.upload(data.encode(), mode="quarantine")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["rows_total"], body["rows_accepted"], body["rows_quarantined"]) == (4, 2, 2)
    assert [(q["line"], q["field"]) for q in body["quarantine"]] == [(4, "pm25"), (5, "station")]
    assert body["quarantine"][0]["raw"]["pm25"] == "-4"
    assert "required" in body["quarantine"][1]["reason"]
    assert hub.counts() == (1, 2, 2) and len(hub.collect_entries()) == 1
    shown = hub.client.get(f"/hub/batches/{body['id']}", headers=hub.headers)
    assert shown.status_code == 200
    assert [q["line"] for q in shown.json()["quarantine"]] == [4, 5]
    listed = hub.client.get(f"/hub/datasets/{DATASET}/batches", headers=hub.headers)
    assert [b["id"] for b in listed.json()["items"]] == [body["id"]]


def test_the_same_batch_twice_is_stored_once(hub: Hub) -> None:
    first = hub.upload(CSV.encode())
    again = hub.upload(CSV.encode())
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert hub.counts() == (1, 2, 0)
    assert len(hub.collect_entries()) == 1


def test_a_later_batch_wins_for_the_same_key(hub: Hub) -> None:
    assert hub.upload(CSV.encode()).status_code == 201
    newer = CSV.replace("35.5", "99").encode()
    second = hub.upload(newer)
    assert second.status_code == 201
    stored = payloads(hub)
    assert len(stored) == 2
    assert stored['["A01","2024-05-01T08:00:00+08:00"]']["pm25"] == 99.0
    with hub.runtime.factory() as s:
        batch_ids = set(s.scalars(select(DatasetRecord.batch_id)))
    assert batch_ids == {second.json()["id"]}


def test_signatures_verified_invalid_and_unsigned(hub: Hub) -> None:
    signer = CheckpointSigner.generate()
    no_key = hub.upload(CSV.encode(), headers=hub.headers | {"X-Provider-Signature": "AAAA"})
    assert no_key.json()["signature_verified"] is None
    assert no_key.json()["authenticity"] == "no-registered-key"
    r = hub.client.post(
        "/hub/provider-keys",
        json={"organisation": hub.dept, "public_key": signer.public_key_b64},
        headers=hub.admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == signer.key_id
    dup = hub.client.post(
        "/hub/provider-keys",
        json={"organisation": hub.dept, "public_key": signer.public_key_b64},
        headers=hub.admin,
    )
    assert dup.status_code == 409
    good = CSV.replace("35.5", "36").encode()
    sig = base64.b64encode(signer.sign(good)).decode()
    r = hub.upload(good, headers=hub.headers | {"X-Provider-Signature": sig})
    assert r.json()["signature_verified"] is True and r.json()["authenticity"] == "verified"
    assert r.json()["signature_key_id"] == signer.key_id
    other = CSV.replace("35.5", "37").encode()
    r = hub.upload(other, headers=hub.headers | {"X-Provider-Signature": sig})
    assert r.json()["signature_verified"] is False
    assert r.json()["authenticity"] == "invalid-signature"
    r = hub.upload(CSV.replace("35.5", "38").encode())
    assert r.json()["signature_verified"] is False and r.json()["authenticity"] == "unsigned"
    r = hub.upload(
        CSV.replace("35.5", "39").encode(), headers=hub.headers | {"X-Provider-Signature": "!!"}
    )
    assert r.status_code == 422 and r.json()["field"] == "signature"


def test_a_clerk_may_not_register_provider_keys(hub: Hub) -> None:
    r = hub.client.post(
        "/hub/provider-keys",
        json={"organisation": hub.dept, "public_key": CheckpointSigner.generate().public_key_b64},
        headers=hub.headers,
    )
    assert r.status_code == 403


def test_oversized_upload_is_refused_naming_the_limit(hub: Hub) -> None:
    big = CSV.encode() + b'A09,x,2024-05-01T08:00:00Z,1,true,"1,1"\n' * 6000
    assert len(big) > 200_000
    r = hub.upload(big)
    assert r.status_code == 422
    assert r.json()["field"] == "body" and "200000 bytes" in r.json()["detail"]
    assert r.json()["limit"] == 200_000
    assert hub.counts() == (0, 0, 0) and hub.collect_entries() == []


def test_other_departments_cannot_collect_into_this_dataset(hub: Hub) -> None:
    other = make_org(hub.runtime, 301)
    token = make_user(hub.runtime, "stranger", other, "clerk")
    r = hub.upload(CSV.encode(), headers=bearer(token))
    assert r.status_code == 403
    assert hub.counts() == (0, 0, 0)
    r = hub.client.get(f"/hub/datasets/{DATASET}/batches", headers=bearer(token))
    assert r.status_code == 403


def test_service_accounts_collect_and_unknown_datasets_are_404(hub: Hub) -> None:
    key = make_user(hub.runtime, "sensor-gw", hub.dept, "service", service_account=True)
    r = hub.upload(CSV.encode(), headers=bearer(key))
    assert r.status_code == 201, r.text
    assert hub.upload(CSV.encode(), dataset="nope").status_code == 404
    assert hub.client.get("/hub/batches/999999", headers=hub.headers).status_code == 404
    with hub.runtime.factory() as s:
        batch = s.scalars(select(IngestBatch)).one()
    assert batch.actor == "sensor-gw" and batch.received_at.tzinfo is not None
