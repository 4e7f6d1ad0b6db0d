"""Every role × relation to the grant × sharing class × action × grant state × purpose, fields
and mode, asked of the real policy set through the gate: zero wrong allows (and no wrong
denials). The expected answer is written out here independently of the policies."""

from __future__ import annotations

import itertools
from datetime import timedelta

from citybrain.governance.sharing.api import register_gate_actions
from citybrain.governance.sharing.models import Grant
from citybrain.governance.sharing.service import use_context
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.runtime import Runtime
from tests.helpers import make_org

ROLES = ("admin", "operator", "auditor", "clerk", "service", "public")
RELATIONS = ("grantee", "provider", "bystander")
CLASSES = ("unconditional", "conditional", "none")
STATES = ("live", "expired", "revoked", "absent")
USES = ("data.read", "sandbox.query")
MANAGEMENT = ("share.request", "share.decide", "share.revoke", "share.list")


def expected_use(
    role: str, relation: str, state: str, purpose: bool, fields: bool, mode: bool
) -> bool:
    # An administrator is not stopped by role, only by the grant (admin-all permits the rest).
    return (
        role in ("clerk", "service", "admin")
        and relation == "grantee"
        and state == "live"
        and purpose
        and fields
        and mode
    )


def expected_management(role: str, relation: str, action: str) -> bool:
    if role == "admin":
        return True
    if action == "share.request":
        return role in ("clerk", "service")
    if action == "share.decide":
        return role == "clerk" and relation == "provider"
    if action == "share.revoke":
        return (role == "clerk" and relation == "provider") or role == "operator"
    return role != "public"  # share.list: rows are then limited to one's organisation


def test_no_wrong_allow(runtime: Runtime) -> None:
    register_gate_actions()
    provider, grantee, bystander = (make_org(runtime, n) for n in (501, 502, 503))
    orgs = {"provider": provider, "grantee": grantee, "bystander": bystander}
    now = runtime.clock()
    wrong: list[tuple[object, ...]] = []
    checked = 0
    with runtime.reader() as session:
        for role, relation, sharing_class in itertools.product(ROLES, RELATIONS, CLASSES):
            org = "" if role == "public" else orgs[relation]
            caller = Caller(1, f"{role}-{relation}", org, (role,), ())
            res = Resource("Dataset", f"data-{sharing_class}", provider)
            for action in MANAGEMENT:
                got = runtime.gate.decide(session, caller, action, res).allowed
                checked += 1
                if got != expected_management(role, relation, action):
                    wrong.append((role, relation, sharing_class, action, got))
            for action, state, purpose_ok, fields_ok, mode_ok in itertools.product(
                USES, STATES, (True, False), (True, False), (True, False)
            ):
                grant = Grant(
                    grantee=grantee,
                    purpose="statistics",
                    fields=["a", "b"],
                    mode="records" if action == "data.read" else "sandbox",
                    status="revoked" if state == "revoked" else "active",
                    expires_at=now + timedelta(days=-1 if state == "expired" else 1),
                )
                mode = (
                    grant.mode if mode_ok else ("sandbox" if action == "data.read" else "records")
                )
                ctx = (
                    None
                    if state == "absent"
                    else use_context(
                        grant,
                        organisation=org,
                        purpose="statistics" if purpose_ok else "research",
                        fields=["a"] if fields_ok else ["a", "c"],
                        mode=mode,
                        now=now,
                    )
                )
                got = runtime.gate.decide(session, caller, action, res, ctx).allowed
                checked += 1
                want = expected_use(role, relation, state, purpose_ok, fields_ok, mode_ok)
                if got != want:
                    wrong.append(
                        (
                            role,
                            relation,
                            sharing_class,
                            action,
                            state,
                            purpose_ok,
                            fields_ok,
                            mode_ok,
                            got,
                        )
                    )
    assert checked == len(ROLES) * len(RELATIONS) * len(CLASSES) * (4 + 2 * 4 * 8)
    assert wrong == []
