"""`citybrain privacy kanon ...`: k-anonymise (and l-diversify) a CSV for open-data publication.

Reads a CSV with a header, generalises the quasi-identifiers by the loss-optimal global recoding
(ARX hierarchies from ``--hierarchies`` where given, generated ones otherwise), leaves out the
suppressed rows, writes the rest with the same header, and prints a short summary.
``--suppression-weight W`` makes a suppressed row cost W fully generalised rows in the objective
(default 1; larger keeps more rows at the price of more generalisation).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from citybrain.governance.privacy.hierarchy import hierarchies_for
from citybrain.governance.privacy.kanon import KAnonReport, anonymise
from citybrain.kernel.cli_common import LangOpt
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import DEFAULT_LOCALE, both, t

app = typer.Typer(help=both("cli.privacy"), no_args_is_help=True)


@app.callback()
def _privacy() -> None:
    """Privacy tools (a group, even with one command)."""


def read_csv(path: Path) -> dict[str, list[str]]:
    """A CSV with a header as ``{column: values}``; InvalidInput (field ``input``) if unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", field="input") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})", field="input") from None
    reader = csv.reader(text.splitlines())
    header = next((row for row in reader if row), None)
    if header is None:
        raise InvalidInput(f"{path}: empty file, a header row is required", field="input")
    header = [h.strip() for h in header]
    if any(not h for h in header) or len(set(header)) != len(header):
        raise InvalidInput(
            f"{path}: the first line must be a header of distinct, non-empty column names",
            field="input",
        )
    columns: dict[str, list[str]] = {h: [] for h in header}
    lists = list(columns.values())
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidInput(
                f"{path} line {reader.line_num}: {len(row)} fields, the header has {len(header)}",
                field="input",
            )
        for values, cell in zip(lists, row, strict=True):
            values.append(cell)
    return columns


def write_csv(path: Path, columns: dict[str, list[str]]) -> None:
    """Write ``columns`` as a CSV with a header."""
    try:
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(zip(*columns.values(), strict=True))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc})", field="out") from None


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]


def _print_summary(report: KAnonReport, locale: str) -> None:
    console = Console()
    table = Table(
        t("privacy.kanon.col.qi", locale),
        t("privacy.kanon.col.level", locale),
        title=t("privacy.kanon.title", locale, k=report.k),
    )
    for name in report.qi:
        table.add_row(name, f"{report.levels[name]}/{report.heights[name]}")
    console.print(table)
    share = report.suppressed / report.rows_in
    console.print(
        t(
            "privacy.kanon.summary",
            locale,
            rows_out=report.rows_out,
            rows_in=report.rows_in,
            suppressed=report.suppressed,
            share=share,
            classes=report.classes,
            smallest=report.min_class_size,
        )
    )
    if report.l_diversity:
        console.print(
            t("privacy.kanon.diverse", locale, l=report.l_diversity, column=report.sensitive)
        )
    console.print(
        t(
            "privacy.kanon.loss",
            locale,
            loss=report.loss,
            prec=report.prec,
            entropy=report.non_uniform_entropy,
            dm=report.discernibility,
        )
    )
    if report.suppression_weight != 1:
        console.print(
            t(
                "privacy.kanon.objective",
                locale,
                weight=report.suppression_weight,
                objective=report.objective,
            )
        )
    console.print(
        t(
            "privacy.kanon.time",
            locale,
            checked=report.nodes_checked,
            lattice=report.lattice_size,
            seconds=report.seconds,
        )
    )


@app.command("kanon", help=both("cli.privacy.kanon"))
def kanon(
    input_csv: Annotated[
        Path, typer.Argument(metavar="INPUT.csv", help=both("cli.privacy.opt.input"))
    ],
    k: Annotated[int, typer.Option("--k", help=both("cli.privacy.opt.k"))],
    qi: Annotated[str, typer.Option("--qi", help=both("cli.privacy.opt.qi"))],
    out: Annotated[Path, typer.Option("--out", help=both("cli.privacy.opt.out"))],
    sensitive: Annotated[
        str | None,
        typer.Option("--sensitive", help=both("cli.privacy.opt.sensitive"), show_default=False),
    ] = None,
    l_diversity: Annotated[
        int | None, typer.Option("--l", help=both("cli.privacy.opt.l"), show_default=False)
    ] = None,
    hierarchies: Annotated[
        Path | None,
        typer.Option("--hierarchies", help=both("cli.privacy.opt.hierarchies"), show_default=False),
    ] = None,
    max_suppression: Annotated[
        float, typer.Option("--max-suppression", help=both("cli.privacy.opt.max_suppression"))
    ] = 0.05,
    suppression_weight: Annotated[
        str,
        typer.Option(
            "--suppression-weight", metavar="W", help=both("cli.privacy.opt.suppression_weight")
        ),
    ] = "1",
    report_path: Annotated[
        Path | None,
        typer.Option("--report", help=both("cli.privacy.opt.report"), show_default=False),
    ] = None,
    lang: LangOpt = None,
) -> None:
    """Anonymise INPUT.csv into OUT.csv; print the chosen levels, suppression and loss."""
    locale = lang.value if lang else DEFAULT_LOCALE
    columns = read_csv(input_csv)
    names = _split(qi)
    for name in names:
        if name not in columns:
            raise InvalidInput(
                f"unknown quasi-identifier column {name!r}; the header has: {', '.join(columns)}",
                field="qi",
            )
    if sensitive is not None and sensitive not in columns:
        raise InvalidInput(f"unknown sensitive column {sensitive!r}", field="sensitive")
    result = anonymise(
        columns,
        names,
        hierarchies_for(columns, names, hierarchies),
        k,
        sensitive=sensitive,
        l_diversity=l_diversity,
        max_suppression=max_suppression,
        suppression_weight=suppression_weight,  # parsed (and refused) by anonymise, one line
    )
    write_csv(out, result.columns)
    if report_path is not None:
        doc = {"input": str(input_csv), "output": str(out), **result.report.to_dict()}
        try:
            report_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), "utf-8")
        except OSError as exc:
            raise InvalidInput(f"{report_path}: cannot write ({exc})", field="report") from None
    _print_summary(result.report, locale)
