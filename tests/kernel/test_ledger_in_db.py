"""The ledger inside the kernel's database: append-only triggers, verify, tamper detection."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from citybrain.kernel.runtime import Runtime
from tests.helpers import drop_ledger_triggers


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 0",
        "DELETE FROM ledger_entries WHERE seq = 0",
        "UPDATE ledger_nodes SET hash = hash",
        "DELETE FROM ledger_checkpoints",
    ],
)
def test_database_refuses_rewrites(runtime: Runtime, statement: str) -> None:
    with pytest.raises((DBAPIError, IntegrityError)) as err, runtime.engine.begin() as conn:
        conn.execute(text(statement))
    assert "append-only" in str(err.value)


def test_bootstrap_ledger_verifies(runtime: Runtime) -> None:
    with runtime.factory() as s:
        report = runtime.ledger.verify(s)
        size = runtime.ledger.size(s)
    assert report.ok, report
    assert size >= 9  # policies, root organisation, admin


@pytest.mark.parametrize(
    "tamper,expected_seq",
    [
        ("UPDATE ledger_entries SET purpose = 'nothing to see' WHERE seq = 3", 3),
        ("DELETE FROM ledger_entries WHERE seq = 4", 4),
        ("UPDATE ledger_entries SET decision = 'deny' WHERE seq = 1", 1),
    ],
)
def test_tamper_after_dropping_triggers_is_detected(
    runtime: Runtime, tamper: str, expected_seq: int
) -> None:
    drop_ledger_triggers(runtime)
    with runtime.engine.begin() as conn:
        conn.execute(text(tamper))
    with runtime.factory() as s:
        report = runtime.ledger.verify(s)
    assert not report.ok
    assert report.first_bad_seq == expected_seq
