"""Deadlines, the overdue flag and the read-as-closed rule, for any filing time and any
moment after it (no database: the rules are pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from citybrain.governance.disputes import service
from citybrain.governance.disputes.models import DisputeCase
from citybrain.governance.disputes.schemas import EvidenceIn

FILED = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
LATER = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120))
DAY = timedelta(days=1)


def _case(filed: datetime, status: str = "filed") -> DisputeCase:
    return DisputeCase(
        id=1,
        claimant="a",
        respondent="b",
        status=status,
        filed_at=filed,
        response_due=filed + service.RESPONSE_DAYS * DAY,
        evidence_due=filed + service.EVIDENCE_DAYS * DAY,
        decision_due=filed + service.DECISION_DAYS * DAY,
    )


@given(filed=FILED, after=LATER)
def test_a_filed_case_is_overdue_exactly_after_its_response_deadline(
    filed: datetime, after: timedelta
) -> None:
    case = _case(filed)
    assert service.is_overdue(case, filed + after) == (after > service.RESPONSE_DAYS * DAY)
    under_review = _case(filed, "under_review")
    late = after > service.DECISION_DAYS * DAY
    assert service.is_overdue(under_review, filed + after) == late
    assert service.pending_deadline(under_review, filed + after) == (
        "decision_due",
        filed + service.DECISION_DAYS * DAY,
    )


@given(filed=FILED, decided_after=LATER, after=LATER)
def test_a_decided_case_reads_closed_once_its_appeal_window_passed(
    filed: datetime, decided_after: timedelta, after: timedelta
) -> None:
    case = _case(filed, "decided")
    case.decided_at = filed + decided_after
    case.appeal_due = case.decided_at + service.APPEAL_DAYS * DAY
    now = case.decided_at + after
    closed = after > service.APPEAL_DAYS * DAY
    assert service.effective_status(case, now) == ("closed" if closed else "decided")
    assert not service.is_overdue(case, now)  # waiting for a party is never the bureau's delay
    if closed:
        with pytest.raises(service.Conflict) as err:
            service.appeal(None, case, reason="x", actor=service.Actor("u", "a", "r"), now=now)  # type: ignore[arg-type]
        assert err.value.field == "appeal_due"


@given(
    seq=st.none() | st.integers(0, 10**6),
    score=st.none() | st.integers(1, 10**6),
    batch=st.none() | st.integers(1, 10**6),
)
def test_evidence_cites_exactly_one_record(
    seq: int | None, score: int | None, batch: int | None
) -> None:
    given_ = [v for v in (seq, score, batch) if v is not None]
    if len(given_) == 1:
        kind, ref = EvidenceIn(ledger_seq=seq, quality_score_id=score, batch_id=batch).cited()
        assert ref == given_[0]
        assert kind == (
            "ledger_entry" if seq is not None else "quality_score" if score else "batch"
        )
    else:
        with pytest.raises(ValidationError):
            EvidenceIn(ledger_seq=seq, quality_score_id=score, batch_id=batch)
