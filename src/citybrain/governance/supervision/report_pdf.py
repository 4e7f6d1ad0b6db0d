"""The oversight report as a PDF, in zh-CN or English.

Text is set in STSong-Light, one of the standard Adobe-GB1 CJK fonts every PDF reader with
Chinese support carries (PDF 1.4, not embedded): the package ships no font file and the PDF
stays a few kilobytes, while its text stays searchable and extractable. The output is byte-for-
byte reproducible for the same report (no creation time or random ids inside).
"""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.doctemplate import BaseDocTemplate

from citybrain.governance.supervision.reports import FINDING_STATUSES
from citybrain.kernel.i18n import catalogue, t

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=14)
NOTE = ParagraphStyle("note", parent=BODY, fontSize=8.5, textColor=colors.HexColor("#555555"))
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=24, spaceAfter=4)
HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=18, spaceBefore=10)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=11)
GRID = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
    ]
)


def _label(prefix: str, value: str, locale: str) -> str:
    """The catalogue's word for ``value`` under ``prefix``, else the value itself."""
    key = f"{prefix}.{value}"
    return t(key, locale) if key in catalogue(locale) else value


def _when(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC") if isinstance(ts, datetime) else str(ts)


def _table(header: list[str], rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    cells = [[Paragraph(str(c), CELL) if isinstance(c, str) else c for c in row] for row in rows]
    table = Table([header, *cells], colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(GRID)
    return table


def _section(story: list[Flowable], title: str, body: list[Flowable], locale: str) -> None:
    story.append(Paragraph(t(title, locale), HEADING))
    story.extend(body or [Paragraph(t("orgreport.none", locale), NOTE)])


def _ledger_lines(report: dict[str, Any], locale: str) -> list[Flowable]:
    led = report["ledger"]
    if led["entries"]:
        text = t(
            "orgreport.ledger",
            locale,
            entries=led["entries"],
            first=led["first_seq"],
            last=led["last_seq"],
        )
    else:
        text = t("orgreport.ledger_empty", locale)
    cp = led["checkpoint"]
    proof = (
        t("orgreport.checkpoint", locale, size=cp["size"], root=cp["root"])
        if cp
        else t("orgreport.no_checkpoint", locale)
    )
    return [
        Paragraph(text, BODY),
        Paragraph(proof, NOTE),
        Paragraph(t("orgreport.verify_hint", locale), NOTE),
    ]


def _body(report: dict[str, Any], locale: str) -> list[Flowable]:
    col = lambda name: t(f"orgreport.col.{name}", locale)  # noqa: E731
    org = report["organisation"]
    name = org["name_en"] or org["name"] if locale == "en" else org["name"]
    story: list[Flowable] = [
        Paragraph(t("orgreport.title", locale), TITLE),
        Paragraph(t("orgreport.subtitle", locale), NOTE),
        Spacer(1, 3 * mm),
        Paragraph(t("orgreport.organisation", locale, name=name, code=org["code"]), BODY),
        Paragraph(
            t(
                "orgreport.period",
                locale,
                since=report["since"],
                until=report["until"],
                tz=report["timezone"],
            ),
            BODY,
        ),
        Paragraph(t("orgreport.generated", locale, at=_when(report["generated_at"])), BODY),
        *_ledger_lines(report, locale),
    ]
    actions = [
        [_label("orgreport.category", a["category"], locale), a["allow"], a["deny"]]
        for a in report["actions"]
    ]
    _section(
        story,
        "orgreport.section.actions",
        [
            _table(
                [col("category"), col("allow"), col("deny")], actions, [60 * mm, 30 * mm, 30 * mm]
            )
        ],
        locale,
    )
    top = [[a["action"], a["allow"], a["deny"]] for a in report["top_actions"]]
    _section(
        story,
        "orgreport.section.top_actions",
        [_table([col("action"), col("allow"), col("deny")], top, [60 * mm, 30 * mm, 30 * mm])]
        if top
        else [],
        locale,
    )
    sides = [
        [
            _label("orgreport.side", side, locale),
            *(c[k] for k in ("approved", "live", "revoked", "expired")),
        ]
        for side, c in report["grants"].items()
    ]
    _section(
        story,
        "orgreport.section.grants",
        [
            _table(
                [col("side"), col("approved"), col("live"), col("revoked"), col("expired")], sides
            )
        ],
        locale,
    )
    findings = report["findings"]
    by_article = [
        [
            _label("orgreport.article", a["article"], locale),
            a["total"],
            *(a[s] for s in FINDING_STATUSES),
        ]
        for a in findings["by_article"]
    ]
    _section(
        story,
        "orgreport.section.findings",
        [
            Paragraph(t("orgreport.findings_total", locale, total=findings["total"]), BODY),
            _table(
                [col("article"), col("total"), *(col(s) for s in FINDING_STATUSES)],
                by_article,
                [78 * mm, 16 * mm, 18 * mm, 20 * mm, 18 * mm, 18 * mm],
            ),
        ]
        if by_article
        else [],
        locale,
    )
    incidents = [
        [
            i["id"],
            i["title"],
            _label("orgreport.severity", i["severity"], locale),
            _label("orgreport.incident", i["status"], locale),
            _when(i["occurred_at"]),
        ]
        for i in report["incidents"]["items"]
    ]
    _section(
        story,
        "orgreport.section.incidents",
        [
            _table(
                [col("id"), col("title"), col("severity"), col("status"), col("occurred")],
                incidents,
                [14 * mm, 76 * mm, 22 * mm, 22 * mm, 36 * mm],
            )
        ]
        if incidents
        else [],
        locale,
    )
    cases = [
        [
            t(f"orgreport.kind.{kind}", locale),
            report[kind]["total"],
            ", ".join(
                f"{_label(prefix, s, locale)} {n}" for s, n in report[kind]["by_status"].items()
            ),
        ]
        for kind, prefix in (("report_cases", "reportdesk.status"), ("disputes", "disputes.status"))
    ]
    _section(
        story,
        "orgreport.section.cases",
        [_table([col("kind"), col("count"), col("status")], cases, [40 * mm, 20 * mm, 100 * mm])],
        locale,
    )
    _section(
        story,
        "orgreport.section.bulletins",
        [Paragraph(t("orgreport.bulletins", locale, **report["bulletins"]), BODY)],
        locale,
    )
    quality = report["quality"]
    dims = ("timeliness", "completeness", "accuracy", "authenticity")
    rows = [
        [d["title"], d["score"], *(d["dimensions"].get(k, "—") for k in dims)]
        for d in quality["datasets"]
    ]
    _section(
        story,
        "orgreport.section.quality",
        [
            Paragraph(t("orgreport.quality_mean", locale, mean=quality["mean"]), BODY),
            _table(
                [
                    col("dataset"),
                    col("score"),
                    *(t(f"quality.dimension.{k}", locale) for k in dims),
                ],
                rows,
                [62 * mm, 20 * mm, 22 * mm, 22 * mm, 22 * mm, 22 * mm],
            ),
        ]
        if rows
        else [],
        locale,
    )
    return story


def render_pdf(report: dict[str, Any], locale: str) -> bytes:
    """The report (as built by ``reports.build_report``) as PDF bytes."""
    out = BytesIO()
    org = report["organisation"]
    title = f"{t('orgreport.title', locale)} · {org['code']} · {report['since']}–{report['until']}"

    def footer(canvas: Any, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(18 * mm, 10 * mm, f"{org['code']} · {report['since']}–{report['until']}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, t("orgreport.page", locale, page=doc.page))
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author="CityBrain",
        lang=locale,
        invariant=1,
    )
    doc.build(_body(report, locale), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def file_name(report: dict[str, Any]) -> str:
    """``oversight-<org>-<since>-<until>.pdf``."""
    return f"oversight-{report['organisation']['code']}-{report['since']}-{report['until']}.pdf"
