"""`citybrain disputes ...`: list cases, show one, write its evidence bundle. Thin over the
dispute service; each command leaves its ledger entry through the gate's system path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from citybrain.governance.disputes import evidence, service
from citybrain.governance.disputes.api import register_gate_actions
from citybrain.governance.disputes.models import DisputeCase
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
from citybrain.kernel.runtime import Runtime

app = typer.Typer(help=both("disputes.cli"), no_args_is_help=True)

CaseArg = Annotated[int, typer.Argument(min=1, help="case id · 案件编号")]
StatusOpt = Annotated[str | None, typer.Option("--status", help=both("disputes.cli.opt.status"))]
OrgOpt = Annotated[str | None, typer.Option("--org", help=both("disputes.cli.opt.org"))]
OverdueOpt = Annotated[bool, typer.Option("--overdue", help=both("disputes.cli.opt.overdue"))]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _system(rt: Runtime, action: str, res: Resource, purpose: str) -> Any:
    """The local operator's ledgered session for ``action``."""
    register_gate_actions()
    return operator_session(rt, action, res, purpose)


@app.command("list", help=both("disputes.cli.list"))
def list_cases(
    status: StatusOpt = None,
    org: OrgOpt = None,
    overdue: OverdueOpt = False,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print the cases (all of them: the local operator oversees), oldest first."""
    rt = open_runtime(data_dir, db, config)
    try:
        now = rt.clock()
        stmt = service.list_statement(now, status=status, org=org, overdue=overdue or None)
        res = Resource("Disputes", "cases", rt.settings.city_code)
        with _system(rt, "disputes.list", res, "list cases") as session:
            rows = session.scalars(stmt.order_by(DisputeCase.id)).all()
            docs = [evidence.case_document(session, c, now) for c in rows]
        locale = locale_of(rt, lang)
    finally:
        rt.close()
    if as_json:
        summary = ("id", "claimant", "respondent", "subject_type", "status", "overdue")
        print(json.dumps([{k: d[k] for k in summary} for d in docs], ensure_ascii=False))
        return
    console = Console()
    if not docs:
        console.print(t("disputes.cli.none", locale))
        return
    table = Table(*(t(f"disputes.col.{c}", locale) for c in _COLUMNS))
    for d in docs:
        due = d["next_deadline"]
        when = d["deadlines"][due].isoformat(timespec="minutes") if due else "—"
        table.add_row(
            str(d["id"]),
            t(f"disputes.status.{d['status']}", locale),
            d["claimant"],
            d["respondent"],
            t(f"disputes.subject.{d['subject_type']}", locale),
            f"{t(f'disputes.deadline.{due}', locale)} {when}" if due else when,
            t("disputes.overdue", locale) if d["overdue"] else "",
        )
    console.print(table)


_COLUMNS = ("id", "status", "claimant", "respondent", "subject", "next_deadline", "overdue")


@app.command("show", help=both("disputes.cli.show"))
def show(
    case_id: CaseArg,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print the case file as JSON: deadlines, decisions, claims, evidence and timeline."""
    rt = open_runtime(data_dir, db, config)
    try:
        res = Resource("DisputeCase", str(case_id), rt.settings.city_code)
        with _system(rt, "disputes.read", res, "show case") as session:
            doc = evidence.case_document(session, service.get_case(session, case_id), rt.clock())
    finally:
        rt.close()
    print(json.dumps(evidence.jsonable(doc), ensure_ascii=False, indent=2))


@app.command("bundle", help=both("disputes.cli.bundle"))
def bundle(
    case_id: CaseArg,
    out: Annotated[Path, typer.Option("--out", help=both("disputes.cli.opt.out"))],
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the case's evidence bundle; check it with `citybrain ledger verify-bundle`."""
    rt = open_runtime(data_dir, db, config)
    try:
        res = Resource("DisputeCase", str(case_id), rt.settings.city_code)
        with _system(rt, "disputes.bundle", res, "evidence bundle") as session:
            case = service.get_case(session, case_id)
            material = evidence.bundle_material(session, case, rt.clock())
        doc = evidence.make_bundle(rt, *material)  # after the download's entry is committed
        locale = locale_of(rt, lang)
    finally:
        rt.close()
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    Console().print(
        t(
            "disputes.cli.bundle_written",
            locale,
            id=case_id,
            entries=len(doc["entries"]),
            attachments=len(doc["attachments"]),
            out=str(out),
        )
    )
