"""`citybrain quality ...`: report the latest quality scores, run a round now. Thin over the
quality service; every command leaves its ledger entry through the gate's system path."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from citybrain.hub.quality import service
from citybrain.hub.quality.models import DIMENSIONS, QualityScore
from citybrain.hub.quality.monitor import QualityMonitor, register_gate_actions
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

app = typer.Typer(help=both("cli.quality"), no_args_is_help=True)

OrgOpt = Annotated[str | None, typer.Option("--org", help="provider credit code")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="dataset id (slug)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


EVIDENCE_LINES = 3


def _style(score: int) -> str:
    return "green" if score >= 80 else ("yellow" if score >= service.DEFAULT_THRESHOLD else "red")


def _grouped(rows: list[QualityScore]) -> dict[str, dict[str, QualityScore]]:
    out: dict[str, dict[str, QualityScore]] = {}
    for r in rows:
        out.setdefault(r.dataset, {})[r.dimension] = r
    return out


def _main_evidence(by_dim: dict[str, QualityScore], locale: str) -> list[str]:
    """The costliest reasons across the dimensions, in ``locale``."""
    items = [e for r in by_dim.values() for e in r.evidence if e.get("points")]
    items.sort(key=lambda e: -int(e["points"]))
    key = "detail_zh" if locale == "zh-CN" else "detail_en"
    return [f"−{e['points']} {e[key]}" for e in items[:EVIDENCE_LINES]]


def _as_json(groups: dict[str, dict[str, QualityScore]]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": slug,
            "provider": next(iter(by_dim.values())).provider,
            "round_id": next(iter(by_dim.values())).round_id,
            "computed_at": next(iter(by_dim.values())).computed_at.isoformat(),
            "scores": {d: by_dim[d].score for d in DIMENSIONS if d in by_dim},
            "evidence": {d: by_dim[d].evidence for d in DIMENSIONS if d in by_dim},
        }
        for slug, by_dim in groups.items()
    ]


@app.command(help=both("cli.quality.report"))
def report(
    org: OrgOpt = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print the latest score per dataset and dimension with the main reasons."""
    rt = open_runtime(data_dir, db, config)
    try:
        register_gate_actions()
        locale = locale_of(rt, lang)
        res = Resource("QualityScores", org or "all", org)
        with operator_session(rt, "quality.read", res, "cli quality report") as session:
            groups = _grouped(service.latest_scores(session, org=org, dataset=dataset))
        if as_json:
            typer.echo(json.dumps(_as_json(groups), ensure_ascii=False, indent=2))
            return
        console = Console()  # sized to the terminal at the time of the command
        if not groups:
            console.print(t("cli.quality.none", locale))
            return
        table = Table(
            t("cli.quality.col.dataset", locale),
            t("cli.quality.col.provider", locale),
            *(service.dimension_label(d, locale) for d in DIMENSIONS),
            t("cli.quality.col.evidence", locale),
        )
        for slug, by_dim in groups.items():
            scores = [
                Text(str(by_dim[d].score), style=_style(by_dim[d].score)) if d in by_dim else ""
                for d in DIMENSIONS
            ]
            provider = next(iter(by_dim.values())).provider
            lines = "\n".join(_main_evidence(by_dim, locale))
            table.add_row(slug, provider, *scores, lines)
        console.print(table)
    finally:
        rt.close()


@app.command(help=both("cli.quality.run"))
def run(
    threshold: Annotated[
        int, typer.Option("--threshold", min=0, max=100, help="alert below this score")
    ] = service.DEFAULT_THRESHOLD,
    window_hours: Annotated[
        int, typer.Option("--window-hours", min=1, max=24 * 366, help="look-back window")
    ] = 24,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Score every dataset now (one ledger entry), and print a summary."""
    rt = open_runtime(data_dir, db, config)
    try:
        monitor = QualityMonitor(rt, window=timedelta(hours=window_hours), threshold=threshold)
        result = monitor.run_once()
        Console().print(
            t(
                "cli.quality.ran",
                rt.settings.default_locale,
                round=result.round_id[:12],
                datasets=len({c.dataset for c in result.cards}),
                raised=len(result.raised),
                resolved=len(result.resolved),
            )
        )
    finally:
        rt.close()
