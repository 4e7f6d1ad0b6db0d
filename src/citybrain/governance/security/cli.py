"""`citybrain security ...`: list security officers (and who is missing one), incidents and
risk bulletins. Thin over the services; each command is ledgered through the gate's system
path as the local operator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from citybrain.governance.security import bulletins, incidents, service
from citybrain.governance.security.api import register_gate_actions
from citybrain.governance.security.models import RiskBulletin, SecurityIncident
from citybrain.kernel.cli_common import (
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    LangOpt,
    locale_of,
    open_runtime,
    operator_session,
)
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both, t
from citybrain.kernel.runtime import Runtime

app = typer.Typer(help=both("security.cli"), no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help=both("security.cli.opt.json"))]
OrgOpt = Annotated[str | None, typer.Option("--org", help=both("security.cli.opt.org"))]
MAX_ROWS = 10_000


@contextmanager
def _reading(rt: Runtime, action: str, kind: str, purpose: str) -> Iterator[Session]:
    register_gate_actions()
    with operator_session(rt, action, Resource(kind, "all"), purpose) as session:
        yield session


def _print(rows: list[dict[str, Any]], columns: list[str], locale: str, empty: str) -> None:
    console = Console()
    if not rows:
        console.print(t(empty, locale))
        return
    table = Table(*(t(f"security.cli.col.{c}", locale) for c in columns))
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)


@app.command("officers", help=both("security.cli.officers"))
def officers(
    missing: Annotated[
        bool, typer.Option("--missing", help=both("security.cli.opt.missing"))
    ] = False,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every organisation's security officer; --missing lists those without one."""
    rt = open_runtime(data_dir, db, config)
    try:
        locale = locale_of(rt, lang)
        with _reading(rt, "security.officer.read", "SecurityOfficers", "cli officers") as s:
            found = service.directory(s)
            named = [
                {
                    "organisation": row.organisation,
                    "name": org.name,
                    "officer": row.officer,
                    "deputy": row.deputy,
                    "contact": row.contact,
                    "acting": service.officer_of(s, row.organisation),
                }
                for row, org in found.officers
            ]
            absent = [{"organisation": o.code, "name": o.name} for o in found.missing]
    finally:
        rt.close()
    if as_json:
        doc = absent if missing else {"officers": named, "missing": absent}
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    elif missing:
        _print(absent, ["organisation", "name"], locale, "security.cli.none_missing")
    else:
        columns = ["organisation", "name", "officer", "deputy", "contact", "acting"]
        _print(named, columns, locale, "security.cli.no_officers")
        if absent:
            Console().print(t("security.cli.missing_count", locale, count=len(absent)))


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=option)
    return value


@app.command("incidents", help=both("security.cli.incidents"))
def incidents_cmd(
    status: Annotated[str | None, typer.Option("--status", help="open, contained, closed")] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="low, medium, high, critical")
    ] = None,
    org: OrgOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Security incidents, oldest first, filtered by status, severity, organisation."""
    _choice(status, incidents.STATUSES, "--status")
    _choice(severity, service.SEVERITIES, "--severity")
    rt = open_runtime(data_dir, db, config)
    try:
        locale = locale_of(rt, lang)
        stmt = incidents.incidents_stmt(org, status, severity)
        stmt = stmt.order_by(SecurityIncident.id).limit(MAX_ROWS)
        with _reading(rt, "security.incident.read", "SecurityIncidents", "cli incidents") as s:
            rows = [
                {
                    "id": i.id,
                    "organisation": i.organisation,
                    "severity": i.severity,
                    "status": i.status,
                    "title": i.title,
                    "occurred_at": i.occurred_at.isoformat(),
                    "datasets": ", ".join(i.datasets),
                }
                for i in s.scalars(stmt)
            ]
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    columns = ["id", "organisation", "severity", "status", "title", "occurred_at", "datasets"]
    _print(rows, columns, locale, "security.cli.no_incidents")


@app.command("bulletins", help=both("security.cli.bulletins"))
def bulletins_cmd(
    overdue: Annotated[
        bool, typer.Option("--overdue", help=both("security.cli.opt.overdue"))
    ] = False,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Risk bulletins with their acknowledgement counts; --overdue lists late organisations."""
    rt = open_runtime(data_dir, db, config)
    try:
        locale = locale_of(rt, lang)
        now = rt.clock()
        with _reading(rt, "security.bulletin.read", "RiskBulletins", "cli bulletins") as s:
            if overdue:
                rows = [
                    {
                        "bulletin": o.bulletin_id,
                        "organisation": o.organisation,
                        "deadline": o.deadline.isoformat(),
                    }
                    for o in service.overdue_acknowledgements(s, now)
                ]
            else:
                stmt = bulletins.bulletins_stmt().order_by(RiskBulletin.id).limit(MAX_ROWS)
                found = list(s.scalars(stmt))
                counts = bulletins.ack_counts(s, found, now)
                rows = [
                    {
                        "id": b.id,
                        "severity": b.severity,
                        "title": b.title_zh if locale == "zh-CN" else (b.title_en or b.title_zh),
                        "deadline": b.ack_deadline.isoformat(),
                        **vars(counts[b.id]),
                    }
                    for b in found
                ]
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif overdue:
        _print(rows, ["bulletin", "organisation", "deadline"], locale, "security.cli.none_overdue")
    else:
        columns = ["id", "severity", "title", "deadline", "addressed", "acknowledged", "overdue"]
        _print(rows, columns, locale, "security.cli.no_bulletins")
