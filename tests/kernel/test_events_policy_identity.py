"""Events, the policy engine and identity rules, without HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.events import Event, GovernedActionRecorded, InProcessBus, OrganisationCreated
from citybrain.kernel.identity.service import (
    check_password,
    hash_password,
    validate_credit_code,
)
from citybrain.kernel.policy.engine import (
    PolicyEngine,
    Principal,
    ResourceRef,
    build_entities,
    split_policies,
    validate_policy_text,
)
from citybrain.kernel.policy.service import default_policies
from citybrain.kernel.runtime import Runtime

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@given(
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.text(alphabet=ALPHABET, min_size=9, max_size=9),
)
@settings(max_examples=200, deadline=None)
def test_credit_code_check_digit(head: str, tail: str) -> None:
    body = head + tail
    good = body + uscc.calc_check_digit(body)
    assert validate_credit_code(good) == good
    wrong = next(c for c in ALPHABET if c != good[-1])
    with pytest.raises(InvalidInput) as err:
        validate_credit_code(body + wrong)
    assert err.value.field == "code"


@given(st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_never_crashes_validation(text: str) -> None:
    try:
        validate_credit_code(text)
    except InvalidInput as exc:
        assert exc.field == "code"


def test_password_hash_round_trip() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert check_password(h, "correct horse battery")
    assert not check_password(h, "wrong")
    assert not check_password(None, "x")
    assert not check_password("not-a-hash", "x")


def test_bus_topics_prefixes_and_failing_handlers() -> None:
    bus = InProcessBus()
    got: dict[str, list[Event]] = {"exact": [], "prefix": [], "all": []}
    bus.subscribe("kernel.identity.organisation_created", got["exact"].append)
    sub = bus.subscribe("kernel", got["prefix"].append)
    bus.subscribe("*", got["all"].append)
    bus.subscribe("kernel", lambda e: 1 / 0)  # a broken handler must not stop the others
    org = OrganisationCreated(code="x", name="甲", kind="department")
    rec = GovernedActionRecorded(
        actor="a",
        organisation="o",
        action="access",
        resource="r",
        decision="allow",
        policy_ids=["p"],
        request_id="q",
    )
    bus.publish(org)
    bus.publish(rec)
    assert got["exact"] == [org]
    assert got["prefix"] == [org, rec]
    assert got["all"] == [org, rec]
    sub.close()
    bus.publish(org)
    assert len(got["prefix"]) == 2
    assert OrganisationCreated.model_validate_json(org.model_dump_json()) == org


def test_gate_publishes_after_commit(runtime: Runtime) -> None:
    from citybrain.kernel.gate import Resource
    from citybrain.kernel.identity.service import Caller

    seen: list[Event] = []
    runtime.bus.subscribe("kernel.ledger", seen.append)
    admin = Caller(1, "admin", runtime.settings.city_code, ("admin",), ())
    with runtime.gate.act(
        admin, "org.read", Resource("Organisation", runtime.settings.city_code), request_id="ev-1"
    ):
        assert seen == []  # nothing announced before the commit
    assert [e.request_id for e in seen] == ["ev-1"]  # type: ignore[attr-defined]
    res = Resource("Organisation", "x")
    with pytest.raises(RuntimeError), runtime.gate.act(admin, "org.read", res, request_id="ev-2"):
        raise RuntimeError("the action failed")
    assert [e.request_id for e in seen] == ["ev-1"]  # type: ignore[attr-defined]


def test_default_policies_parse_and_have_ids() -> None:
    policies = default_policies()
    names = [n for n, _, _ in policies]
    assert "admin-all" in names and "forbid-disabled" in names
    for _, description, text in policies:
        validate_policy_text(text)
        assert " / " in description  # bilingual


def test_policy_text_validation() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_policy_text("permit(principal, action")
    assert err.value.field == "text"
    with pytest.raises(InvalidInput):
        validate_policy_text(
            "permit(principal, action, resource); forbid(principal, action, resource);"
        )
    assert len(split_policies('@id("a")\npermit(principal, action, resource);\n')) == 1


def test_entities_never_cycle() -> None:
    p = Principal("u", "o1", ("clerk",))
    for chain in [("o1", "o1", "o2"), ("r", "o1"), ("o2", "o1", "o2")]:
        ents = build_entities(p, ResourceRef("Organisation", "r", chain))
        parents = {
            e["uid"]["id"]: [x["id"] for x in e["parents"]]
            for e in ents
            if e["uid"]["type"].endswith("Organisation")
        }
        assert all(k not in v for k, v in parents.items())


def test_decisions_name_their_policies(runtime: Runtime) -> None:
    engine = PolicyEngine()
    with runtime.factory() as s:
        allow = engine.decide(
            s,
            Principal("a", "o", ("admin",)),
            "org.create",
            ResourceRef("Organisation", "x", ("o",)),
        )
        deny = engine.decide(
            s,
            Principal("c", "o", ("clerk",)),
            "org.create",
            ResourceRef("Organisation", "x", ("o",)),
        )
        frozen = engine.decide(
            s,
            Principal("a", "o", ("admin",), disabled=True),
            "org.read",
            ResourceRef("Organisation", "x", ("o",)),
        )
    assert allow.allowed and allow.policy_ids == ("admin-all@v1",)
    assert not deny.allowed and deny.policy_ids == ("default-deny",)
    assert not frozen.allowed and frozen.policy_ids == ("forbid-disabled@v1",)


def test_upgrade_adds_new_default_policies_only(runtime: Runtime) -> None:
    from sqlalchemy import delete, select

    from citybrain.kernel.policy.models import Policy

    with runtime.factory.begin() as s:
        s.execute(delete(Policy).where(Policy.name == "only-admins-grant-admin"))
        admin_all = s.scalar(select(Policy).where(Policy.name == "admin-all"))
        admin_all.active = False  # the city switched this one off on purpose
    assert runtime.bootstrap() is None
    with runtime.reader() as s:
        names = {p.name: p.active for p in s.scalars(select(Policy))}
    assert names["only-admins-grant-admin"] is True
    assert names["admin-all"] is False
