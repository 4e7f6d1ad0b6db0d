"""`citybrain reportdesk ...`: list and show reported cases as the local operator (ledgered).

Never the reporter's identity: that is read by a supervisor through the API, each time
ledgered under its own action.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.reportdesk import service
from citybrain.governance.reportdesk.api import register_gate_actions
from citybrain.governance.reportdesk.models import CATEGORIES, STATUSES, ReportCase
from citybrain.kernel.cli_common import (
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    LangOpt,
    locale_of,
    open_runtime,
    operator_session,
)
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both, t
from citybrain.kernel.runtime import Runtime

app = typer.Typer(help=both("reportdesk.cli"), no_args_is_help=True)


def _system_read(rt: Runtime, resource: Resource, purpose: str) -> AbstractContextManager[Session]:
    register_gate_actions()
    return operator_session(rt, "reportdesk.read", resource, purpose)


@app.command("list", help=both("reportdesk.cli.list"))
def list_cases(
    status: Annotated[str | None, typer.Option("--status", help=", ".join(STATUSES))] = None,
    category: Annotated[str | None, typer.Option("--category", help=", ".join(CATEGORIES))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The newest cases, one line each."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(STATUSES)}", field="--status")
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(f"category is one of {', '.join(CATEGORIES)}", field="--category")
    rt = open_runtime(data_dir, db, config)
    try:
        locale = locale_of(rt, lang)
        stmt = select(ReportCase).order_by(ReportCase.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(ReportCase.status == status)
        if category:
            stmt = stmt.where(ReportCase.category == category)
        with _system_read(rt, Resource("ReportDesk", "cases"), "list reports") as session:
            cases = list(session.scalars(stmt))
        console = Console()
        if not cases:
            console.print(t("reportdesk.cli.none", locale))
            return
        table = Table("#", "number", "status", "category", "organisation", "reporter", "created")
        for c in cases:
            who = "anonymous" if c.reporter_identity is None else "named"
            table.add_row(
                str(c.id),
                c.number,
                t(f"reportdesk.status.{c.status}", locale),
                t(f"reportdesk.category.{c.category}", locale),
                Text(c.organisation or "—"),
                t(f"reportdesk.cli.{who}", locale),
                c.created_at.isoformat(timespec="seconds"),
            )
        console.print(table)
    finally:
        rt.close()


def _find(rt: Runtime, case: str) -> int:
    """The id of a case given by id or number."""
    if case.isdigit():
        return int(case)
    with rt.reader() as session:
        found = session.scalar(select(ReportCase.id).where(ReportCase.number == case.upper()))
    if found is None:
        raise NotFound(f"no report case {case!r}", field="CASE")
    return found


@app.command("show", help=both("reportdesk.cli.show"))
def show_case(
    case: Annotated[str, typer.Argument(help="case id or number (JB2026-000001)")],
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The report, its status and its whole timeline (staff names included)."""
    rt = open_runtime(data_dir, db, config)
    try:
        locale = locale_of(rt, lang)
        case_id = _find(rt, case)
        res = Resource("ReportCase", str(case_id))
        with _system_read(rt, res, f"report case {case}") as session:
            found = service.get_case(session, case_id)
            steps = service.timeline(session, case_id)
            console = Console()
            who = "anonymous" if found.reporter_identity is None else "named"
            status = t(f"reportdesk.status.{found.status}", locale)
            console.print(f"[bold]{found.number}[/bold]  {status}")
            for label, value in (
                ("category", t(f"reportdesk.category.{found.category}", locale)),
                ("organisation", found.organisation or "—"),
                ("dataset", found.dataset or "—"),
                ("occurred_on", found.occurred_on.isoformat() if found.occurred_on else "—"),
                ("severity", found.severity or "—"),
                ("assignee", found.assignee or "—"),
                ("reporter", t(f"reportdesk.cli.{who}", locale)),
                ("contact_consent", "yes" if found.contact_consent else "no"),
                ("outcome", found.outcome or "—"),
            ):
                console.print(f"{label}: {value}", markup=False)
            console.print(found.description, markup=False)
            table = Table("at", "actor", "kind", "status", "text", "note")
            for s in steps:
                table.add_row(
                    s.at.isoformat(timespec="seconds"),
                    Text(s.actor),
                    s.kind,
                    t(f"reportdesk.status.{s.status}", locale),
                    Text(s.public_text),
                    Text(s.note),
                )
            console.print(table)
    finally:
        rt.close()
