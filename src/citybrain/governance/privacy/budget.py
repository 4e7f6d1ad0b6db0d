"""The privacy budget in the database (one epsilon total per dataset) and the sandbox query log
(what supervision looks at for many narrow queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citybrain.governance.privacy.sandbox import budget_exhausted
from citybrain.kernel.clock import Clock
from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
DEFAULT_TOTAL_EPSILON = 3.0  # per dataset, until its provider sets another
SLACK = 1e-9


class PrivacyBudgetRow(Base):
    """Epsilon granted and spent on one dataset's differentially private releases."""

    __tablename__ = "privacy_budgets"

    dataset: Mapped[str] = mapped_column(String(100), primary_key=True)
    total: Mapped[float] = mapped_column(Float)
    spent: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SandboxQueryLog(Base):
    """One sandbox query that ran: who, through which grant, what, what it cost."""

    __tablename__ = "sandbox_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(Integer, index=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    organisation: Mapped[str] = mapped_column(String(18))
    actor: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    query: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    epsilon: Mapped[float] = mapped_column(Float)
    rows_selected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    groups_released: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def budget_row(session: Session, dataset: str, clock: Clock) -> PrivacyBudgetRow:
    """The dataset's budget row, created with the default total when missing."""
    row = session.get(PrivacyBudgetRow, dataset)
    if row is None:
        row = PrivacyBudgetRow(
            dataset=dataset, total=DEFAULT_TOTAL_EPSILON, spent=0.0, updated_at=clock()
        )
        session.add(row)
        session.flush()
    return row


class DbBudget:
    """A PrivacyBudget over ``privacy_budgets`` in the caller's transaction: the charge is one
    conditional UPDATE, so two concurrent queries can never spend past the total."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session, self.clock = session, clock

    def remaining(self, dataset_id: str) -> float:
        """Epsilon left on the dataset."""
        row = budget_row(self.session, dataset_id, self.clock)
        return max(0.0, row.total - row.spent)

    def charge(self, dataset_id: str, epsilon: float, query_fingerprint: str) -> None:
        """Spend ``epsilon`` or raise budget_exhausted (spending nothing)."""
        budget_row(self.session, dataset_id, self.clock)
        t = PrivacyBudgetRow.__table__
        done = self.session.execute(
            update(t)
            .where(t.c.dataset == dataset_id, t.c.spent + epsilon <= t.c.total + SLACK)
            .values(spent=t.c.spent + epsilon, updated_at=self.clock())
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            row = self.session.get(PrivacyBudgetRow, dataset_id)
            self.session.refresh(row)
            left = max(0.0, row.total - row.spent) if row else 0.0
            raise budget_exhausted(dataset_id, left, epsilon)
        self.session.expire_all()
