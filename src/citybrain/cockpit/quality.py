"""The quality board (数据质量看板) at ``/quality``: every dataset with its provider, its four
scores (colour and text), the main reasons for lost points, open alerts and a server-drawn SVG
sparkline of each score's recent history. Aggregates only, read in a read-only session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from citybrain.cockpit.web import render_page
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.quality import service
from citybrain.hub.quality.models import DIMENSIONS
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import Runtime

SPARK_W, SPARK_H, SPARK_PAD = 96, 24, 2
HISTORY_ROUNDS = 30
EVIDENCE_LINES = 3
GOOD = 80


@dataclass
class Cell:
    """One dimension's score on the board."""

    score: int
    level: str  # good / fair / poor
    spark: str  # SVG polyline points ("" with fewer than two rounds)
    rounds: int


@dataclass
class Line:
    """A reason for lost points."""

    points: int
    detail: str


@dataclass
class BoardRow:
    """One dataset on the board."""

    slug: str
    title: str
    provider: str
    cells: dict[str, Cell | None]
    evidence: list[Line] = field(default_factory=list)


@dataclass
class AlertLine:
    """An open alert."""

    id: int
    dataset: str
    dimension: str
    score: int
    message: str
    created_at: datetime


@dataclass
class Board:
    """Everything the page shows."""

    computed_at: datetime | None
    rows: list[BoardRow]
    alerts: list[AlertLine]
    hidden: int = 0  # scored datasets that are not open data (shown through the API only)


def level(score: int, threshold: int = service.DEFAULT_THRESHOLD) -> str:
    """``good`` (≥ 80), ``fair`` (≥ the alert threshold) or ``poor``."""
    return "good" if score >= GOOD else ("fair" if score >= threshold else "poor")


def sparkline(scores: list[int]) -> str:
    """SVG polyline points of ``scores`` (0–100) in a SPARK_W × SPARK_H box."""
    if len(scores) < 2:
        return ""
    step = (SPARK_W - 2 * SPARK_PAD) / (len(scores) - 1)
    height = SPARK_H - 2 * SPARK_PAD
    return " ".join(
        f"{SPARK_PAD + i * step:.1f},{SPARK_PAD + height * (1 - max(0, min(100, s)) / 100):.1f}"
        for i, s in enumerate(scores)
    )


def read_board(runtime: Runtime, locale: str) -> Board:
    """The board's content from ``quality_scores``/``quality_alerts`` and catalogue names."""
    zh = locale == "zh-CN"
    with runtime.reader() as session:
        latest = service.latest_scores(session)
        trend = service.recent_history(session, HISTORY_ROUNDS)
        alerts = service.list_alerts(session, open_only=True, limit=100)
        stmt = select(Dataset.slug, Dataset.title_zh, Dataset.title_en, Organisation.name)
        stmt = stmt.add_columns(Organisation.name_en).join(
            Organisation, Organisation.id == Dataset.provider_id
        )
        # The page is public: only open data is named on it (the API shows the rest to the
        # provider, operators and auditors).
        names = {
            slug: (t_zh if zh or not t_en else t_en, o_zh if zh or not o_en else o_en)
            for slug, t_zh, t_en, o_zh, o_en in session.execute(
                stmt.where(Dataset.open_data.is_(True))
            )
        }
    hidden = len({r.dataset for r in latest if r.dataset not in names})
    latest = [r for r in latest if r.dataset in names]
    alerts = [a for a in alerts if a.dataset in names]
    detail = "detail_zh" if zh else "detail_en"
    rows: dict[str, BoardRow] = {}
    for r in latest:
        title, provider = names[r.dataset]
        row = rows.setdefault(r.dataset, BoardRow(r.dataset, title, provider, {}))
        history = trend.get((r.dataset, r.dimension), [r.score])
        row.cells[r.dimension] = Cell(r.score, level(r.score), sparkline(history), len(history))
        row.evidence += [Line(int(e["points"]), e[detail]) for e in r.evidence if e.get("points")]
    for row in rows.values():
        row.evidence = sorted(row.evidence, key=lambda e: -e.points)[:EVIDENCE_LINES]
        row.cells = {d: row.cells.get(d) for d in DIMENSIONS}
    return Board(
        computed_at=latest[0].computed_at if latest else None,
        rows=list(rows.values()),
        alerts=[
            AlertLine(a.id, a.dataset, a.dimension, a.score, message, a.created_at)
            for a in alerts
            for message in [a.message_zh if zh else a.message_en]
        ],
        hidden=hidden,
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def render_quality(request: Request) -> HTMLResponse:
    """The quality board in the request's locale."""
    runtime: Runtime = request.app.state.runtime

    def build(locale: str) -> dict[str, object]:
        return {
            "board": read_board(runtime, locale),
            "dimensions": DIMENSIONS,
            "dimension_label": lambda d: service.dimension_label(d, locale),
            "spark_w": SPARK_W,
            "spark_h": SPARK_H,
            "show_time": lambda v: _utc(v).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "iso": lambda v: _utc(v).isoformat(),
        }

    return render_page(request, "quality.html", "/quality", build)


def install_quality(app: FastAPI) -> None:
    """Add the quality board at ``/quality`` (the cockpit's static files serve its CSS)."""

    @app.api_route("/quality", methods=["GET", "HEAD"], include_in_schema=False)
    def quality_board(request: Request) -> HTMLResponse:
        """The data-quality board."""
        return render_quality(request)
