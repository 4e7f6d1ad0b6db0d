"""`citybrain supervision ...`: scan the ledger now, list rules and findings, write a finding's
evidence bundle. Run by the local operator (database access), as the other local commands;
reading findings and their evidence is ledgered through the gate's system path."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from citybrain.governance.supervision import reports, service
from citybrain.governance.supervision import rules as rulebook
from citybrain.governance.supervision.api import register_gate_actions
from citybrain.governance.supervision.detector import detector_of
from citybrain.governance.supervision.integrity import check_findings
from citybrain.governance.supervision.models import Finding
from citybrain.governance.supervision.report_pdf import file_name, render_pdf
from citybrain.kernel.cli_common import (
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    LangOpt,
    locale_of,
    open_runtime,
    operator_session,
)
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both, t

app = typer.Typer(help=both("cli.supervision"), no_args_is_help=True)


@app.command("scan", help=both("cli.supervision.scan"))
def scan(
    lang: LangOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Read the ledger to its end and run the clock-driven rules; print what was found."""
    rt = open_runtime(data_dir, db, config)
    locale = locale_of(rt, lang)
    try:
        detector = detector_of(rt)
        stepped = detector.catch_up()
        opened = stepped.opened + detector.sweep().opened
    finally:
        rt.close()
    Console().print(t("supervision.scanned", locale, read=stepped.read, opened=len(opened)))


@app.command("rules", help=both("cli.supervision.rules"))
def list_rules(
    lang: LangOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """The rules in force and off, newest versions."""
    rt = open_runtime(data_dir, db, config)
    locale = locale_of(rt, lang)
    table = Table(
        *(
            t(f"supervision.col.{c}", locale)
            for c in ("code", "version", "article", "severity", "enabled", "title")
        )
    )
    try:
        with rt.factory.begin() as session:
            rulebook.ensure_default_rules(session, rt.clock())
            for r in rulebook.current_rules(session):
                title = r.title_zh if locale == "zh-CN" else r.title_en
                table.add_row(
                    r.code, str(r.version), r.article, r.severity, "✓" if r.enabled else "—", title
                )
    finally:
        rt.close()
    Console().print(table)


@app.command("findings", help=both("cli.supervision.findings"))
def list_findings(
    status: Annotated[
        str | None, typer.Option(help="open, acknowledged, resolved, dismissed")
    ] = None,
    article: Annotated[str | None, typer.Option(help='e.g. "23(4)" or "24"')] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Findings, oldest first."""
    rt = open_runtime(data_dir, db, config)
    locale = locale_of(rt, lang)
    try:
        register_gate_actions()
        res = Resource("Supervision", "findings")
        with operator_session(rt, "supervision.read", res, "cli findings") as session:
            stmt = service.findings_query(status=status, article=article)
            rows = list(session.scalars(stmt.order_by(Finding.id).limit(10_000)))
            docs = [
                service.summary(f) | {"status": f.status, "occurred_at": f.occurred_at.isoformat()}
                for f in rows
            ]
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(docs, ensure_ascii=False, indent=2))
        return
    cols = ("finding", "rule", "article", "severity", "status", "organisation", "actor")
    table = Table(*(t(f"supervision.col.{c}", locale) for c in cols))
    for d in docs:
        table.add_row(*(str(d[c]) for c in cols))
    Console().print(table)


@app.command("bundle", help=both("cli.supervision.bundle"))
def bundle(
    finding: Annotated[int, typer.Argument(help="finding id")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write a finding's evidence bundle (check it with `citybrain ledger verify-bundle`)."""
    rt = open_runtime(data_dir, db, config)
    try:
        register_gate_actions()
        res = Resource("Finding", str(finding))
        purpose = f"cli evidence of finding {finding}"
        with operator_session(rt, "supervision.evidence", res, purpose) as session:
            service.get_finding(session, finding)  # none: NotFound, and no entry is kept
        doc = service.evidence_bundle(rt, finding)  # after the download's entry is committed
    finally:
        rt.close()
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    Console().print(f"{len(doc['entries'])} entries → {out}")


def _json_time(value: object) -> str:
    """Times as the API writes them (ISO 8601, UTC as ``Z``); days as ISO dates."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint=field) from None


@app.command("report", help=both("cli.supervision.report"))
def org_report(
    org: Annotated[str, typer.Argument(help="organisation code")],
    since: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (UTC+08:00)")] = None,
    until: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (default today)")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="write the PDF here")] = None,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """An organisation's oversight report for a period: JSON on stdout, or a PDF file."""
    first, last = _day(since, "--since"), _day(until, "--until")
    rt = open_runtime(data_dir, db, config)
    locale = locale_of(rt, lang)
    try:
        register_gate_actions()
        now = rt.clock()
        period = reports.period_of(first, last, now)
        res = Resource("OversightReport", org, org)
        purpose = f"cli oversight report {org} {period.since}..{period.until}"
        with operator_session(rt, "supervision.report", res, purpose) as session:
            doc = reports.build_report(session, org, period, now)
    finally:
        rt.close()
    if pdf is None:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=_json_time))
        return
    pdf.write_bytes(render_pdf(doc, locale))
    Console().print(f"{file_name(doc)} → {pdf}")


@app.command("verify", help=both("cli.supervision.verify"))
def verify(
    lang: LangOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Check the findings table against the detector's ledger entries; exit 1 on a finding
    deleted from the table or one the detector never ledgered."""
    rt = open_runtime(data_dir, db, config)
    locale = locale_of(rt, lang)
    try:
        register_gate_actions()
        res = Resource("Supervision", "findings")
        with operator_session(rt, "supervision.read", res, "cli verify findings") as session:
            check = check_findings(session)
    finally:
        rt.close()
    console = Console()
    console.print(
        t(
            "supervision.verify.summary",
            locale,
            entries=check.entries,
            ledgered=check.ledgered,
            stored=check.stored,
        )
    )
    if check.missing_count:
        ids = ", ".join(map(str, check.missing))
        console.print(t("supervision.verify.missing", locale, n=check.missing_count, ids=ids))
    if check.unledgered_count:
        ids = ", ".join(map(str, check.unledgered))
        console.print(t("supervision.verify.unledgered", locale, n=check.unledgered_count, ids=ids))
    if not check.ok:
        raise typer.Exit(1)
    console.print(t("supervision.verify.ok", locale))
