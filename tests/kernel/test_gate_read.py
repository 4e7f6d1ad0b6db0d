"""Gate reads: the ledger entry's commit overlaps the read; decisions are remembered per
policy set and forgotten when the policies change."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from citybrain.kernel.errors import NotFound
from citybrain.kernel.events import Event
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.policy.engine import PolicyEngine, Principal, ResourceRef
from citybrain.kernel.policy.models import Policy
from citybrain.kernel.runtime import Runtime


def _admin(runtime: Runtime) -> Caller:
    return Caller(1, "admin", runtime.settings.city_code, ("admin",), ())


def test_read_entry_is_durable_before_the_block_returns(runtime: Runtime) -> None:
    seen: list[Event] = []
    runtime.bus.subscribe("kernel.ledger", seen.append)
    res = Resource("Organisation", runtime.settings.city_code)
    with runtime.reader() as s:
        before = runtime.ledger.size(s)
    with runtime.gate.read(_admin(runtime), "org.read", res, request_id="rd-1") as session:
        assert session is not None
        assert seen == []  # not announced while the read is still running
    with runtime.reader() as s:
        assert runtime.ledger.size(s) == before + 1
        assert runtime.ledger.entry(s, before).data.request_id == "rd-1"  # type: ignore[union-attr]
    assert [e.request_id for e in seen] == ["rd-1"]  # type: ignore[attr-defined]


def test_an_allowed_read_that_raises_is_still_recorded(runtime: Runtime) -> None:
    """The entry was queued when the decision allowed: the attempt stays on the record (and
    is announced) before the error leaves."""
    seen: list[Event] = []
    runtime.bus.subscribe("kernel.ledger", seen.append)
    res = Resource("Organisation", "nowhere")
    with runtime.reader() as s:
        before = runtime.ledger.size(s)
    with (
        pytest.raises(NotFound),
        runtime.gate.read(_admin(runtime), "org.read", res, request_id="rd-2"),
    ):
        raise NotFound("no such organisation", field="code")
    with runtime.reader() as s:
        assert runtime.ledger.size(s) == before + 1
        entry = runtime.ledger.entry(s, before)
    assert entry is not None and entry.data.decision == "allow"
    assert entry.data.request_id == "rd-2"
    assert [e.request_id for e in seen] == ["rd-2"]  # type: ignore[attr-defined]


def test_concurrent_reads_each_get_their_own_entry(runtime: Runtime) -> None:
    res = Resource("Organisation", runtime.settings.city_code)
    with runtime.reader() as s:
        before = runtime.ledger.size(s)
    errors: list[BaseException] = []

    def read(n: int) -> None:
        try:
            for i in range(5):
                with runtime.gate.read(_admin(runtime), "org.read", res, request_id=f"c{n}-{i}"):
                    pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with runtime.reader() as s:
        entries = runtime.ledger.entries(s, after_seq=before - 1, limit=100)
    assert sorted(e.data.request_id for e in entries) == sorted(
        f"c{n}-{i}" for n in range(4) for i in range(5)
    )


def test_decisions_are_remembered_until_the_policies_change(runtime: Runtime) -> None:
    engine = PolicyEngine(refresh_s=0)
    admin = Principal("a", "o", ("admin",))
    org = ResourceRef("Organisation", "x", ("o",))
    with runtime.factory() as s:
        first = engine.decide(s, admin, "org.create", org)
        assert engine.decide(s, admin, "org.create", org) is first  # remembered
        assert first.allowed
    with runtime.factory.begin() as s:
        s.execute(update(Policy).where(Policy.name == "admin-all").values(active=False))
    with runtime.factory() as s:
        after = engine.decide(s, admin, "org.create", org)
    assert not after.allowed and after.policy_ids == ("default-deny",)


def test_contexts_are_told_apart_by_value_and_type(runtime: Runtime) -> None:
    """A context is part of the key: True and 1 are different Cedar values; a context that
    holds a list is decided every time (not remembered) and still decided right."""
    engine = PolicyEngine()
    admin = Principal("a", "o", ("admin",))
    org = ResourceRef("Organisation", "x", ("o",))
    with runtime.factory() as s:
        a = engine.decide(s, admin, "org.read", org, {"flag": True})
        b = engine.decide(s, admin, "org.read", org, {"flag": 1})
        c = engine.decide(s, admin, "org.read", org, {"flags": ["x"]})
        d = engine.decide(s, admin, "org.read", org, {"flags": ["x"]})
    assert a is not b
    assert a.allowed and b.allowed and c.allowed and d.allowed
    assert c is not d  # not remembered
