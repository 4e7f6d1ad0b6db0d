"""The upload watch: an allowed batch upload is profiled in the background, debounced per
dataset, stored as a ledgered system action; failures are logged and the watch goes on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citybrain.governance.privacy.proposals import PrivacyProposal
from citybrain.governance.privacy.watch import PiiWatch, uploaded_dataset
from citybrain.kernel.events import GovernedActionRecorded
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from tests.governance.conftest import dataset_body, residents_csv
from tests.helpers import bearer, make_org, make_user

SLUG = "watched"


@pytest.fixture
def dept(runtime: Runtime, client: TestClient, admin_headers: dict[str, str]) -> str:
    """A department with one registered (not yet uploaded) dataset; its code."""
    code = make_org(runtime, 501)
    body = dataset_body(SLUG, code, "unconditional")
    r = client.post("/catalog/datasets", headers=admin_headers, json=body)
    assert r.status_code == 201, r.text
    return code


@pytest.fixture
def watch(runtime: Runtime) -> Iterator[PiiWatch]:
    """A watch with the default one-minute debounce, recording the threads it profiles in."""
    w = PiiWatch(runtime)
    w.threads: list[str] = []  # type: ignore[misc]
    profile = w.profile

    def recording(slug: str) -> int:
        w.threads.append(threading.current_thread().name)  # type: ignore[attr-defined]
        return profile(slug)

    w.profile = recording  # type: ignore[method-assign]
    yield w.start()
    w.stop()


def upload(client: TestClient, headers: dict[str, str], rows: int) -> int:
    """POST ``rows`` residents into the watched dataset; the status code."""
    r = client.post(
        f"/hub/datasets/{SLUG}/batches",
        headers=headers | {"Content-Type": "text/csv"},
        content=residents_csv(rows),
    )
    return r.status_code


def proposals(rt: Runtime) -> list[PrivacyProposal]:
    """Every stored proposal, oldest first."""
    with rt.factory() as s:
        return list(s.scalars(select(PrivacyProposal).order_by(PrivacyProposal.id)))


def test_an_upload_is_profiled_in_the_background_at_most_once_a_minute(
    runtime: Runtime,
    client: TestClient,
    admin_headers: dict[str, str],
    dept: str,
    watch: PiiWatch,
) -> None:
    stranger = bearer(make_user(runtime, "stranger", make_org(runtime, 502), "clerk"))
    assert upload(client, stranger, 5) == 403  # a denied upload is not profiled
    assert watch.wait_idle() and watch.pending() == {} and proposals(runtime) == []
    assert upload(client, admin_headers, 5) == 201
    assert watch.wait_idle()
    [proposal] = proposals(runtime)
    assert proposal.trigger == "upload" and proposal.dataset == SLUG
    assert {f["column"]: f["proposed_flag"] for f in proposal.findings if f["flagged"]} == {
        "id_number": "sensitive_pii",
        "phone": "pii",
    }
    assert proposal.proposed_grade == "important"
    assert watch.threads == ["privacy-pii-watch"]  # type: ignore[attr-defined]
    with runtime.factory() as s:
        entries = [e.data for e in runtime.ledger.entries(s, -1, 10_000)]
    [entry] = [e for e in entries if e.request_id.startswith("pii-watch-")]
    assert (entry.actor, entry.action, entry.resource) == (SYSTEM_ACTOR, "use", f"Dataset/{SLUG}")
    assert list(entry.policy_ids) == ["local-operator"]
    # a second upload inside the minute waits for the window to end
    assert upload(client, admin_headers, 6) == 201
    assert 50 < watch.pending()[SLUG] <= 60
    assert watch.wait_idle() and len(proposals(runtime)) == 1
    watch.stop()
    assert watch.pending() == {}
    assert upload(client, admin_headers, 7) == 201
    assert watch.pending() == {} and len(proposals(runtime)) == 1


def test_the_window_trails_and_failures_are_logged(
    runtime: Runtime,
    client: TestClient,
    admin_headers: dict[str, str],
    dept: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = PiiWatch(runtime, debounce_s=0.3).start()
    try:
        with caplog.at_level(logging.ERROR, logger="citybrain.governance.privacy.watch"):
            watch.notify("no-such-dataset")
            assert watch.wait_idle()
        assert watch.failures == 1 and "no-such-dataset" in caplog.text
        assert upload(client, admin_headers, 5) == 201
        assert upload(client, admin_headers, 6) == 201  # within the window: later, once
        deadline = time.monotonic() + 10
        while (watch.pending() or not watch.wait_idle()) and time.monotonic() < deadline:
            time.sleep(0.05)
        first, second = proposals(runtime)
        assert (second.created_at - first.created_at).total_seconds() >= 0.25
        assert watch.profiled == 2 and watch.failures == 1
    finally:
        watch.stop()


def event(**over: Any) -> GovernedActionRecorded:
    """A ledger event of an allowed upload, changed by ``over``."""
    values: dict[str, Any] = {
        "actor": "a",
        "organisation": "o",
        "action": "collect",
        "resource": f"Dataset/{SLUG}",
        "decision": "allow",
        "policy_ids": [],
        "request_id": "r",
    }
    return GovernedActionRecorded(**values | over)


def test_only_allowed_collects_on_datasets_count() -> None:
    assert uploaded_dataset(event()) == SLUG
    assert uploaded_dataset(event(decision="deny")) is None
    assert uploaded_dataset(event(action="use")) is None
    assert uploaded_dataset(event(resource="Grant/1")) is None
    assert uploaded_dataset(event(resource="Dataset/")) is None
