"""`citybrain traffic bench`: compare signal controllers on a SUMO network. Thin over bench.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from citybrain.kernel.cli_common import Lang
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import both, t
from citybrain.scenarios.traffic.bench import run_bench
from citybrain.scenarios.traffic.networks import custom_map, resco_map

app = typer.Typer(help=both("cli.traffic"), no_args_is_help=True)


def _seeds(value: str) -> list[int]:
    """``5`` means seeds 1..5; ``3,7,11`` means exactly those."""
    try:
        if "," in value:
            return [int(v) for v in value.split(",") if v.strip()]
        count = int(value)
    except ValueError:
        raise InvalidInput(f"seeds: {value!r} is not a number or a list", field="seeds") from None
    if count < 1:
        raise InvalidInput("seeds: give at least one seed", field="seeds")
    return list(range(1, count + 1))


@app.command("bench", help=both("cli.traffic.bench"))
def bench(
    map_name: Annotated[
        str | None, typer.Option("--map", help="RESCO map: grid4x4, arterial4x4, cologne8, ...")
    ] = None,
    net: Annotated[Path | None, typer.Option("--net", help="a SUMO .net.xml")] = None,
    routes: Annotated[
        str | None, typer.Option("--routes", help="route files, comma-separated")
    ] = None,
    controllers: Annotated[
        str,
        typer.Option(
            "--controllers",
            help="fixed, actuated, max-pressure, citybrain, max-pressure@MIN/EVERY",
        ),
    ] = "fixed,max-pressure,citybrain",
    seeds: Annotated[str, typer.Option("--seeds", help="N (seeds 1..N) or a list")] = "5",
    end: Annotated[
        float | None, typer.Option("--end", help="episode length in seconds", min=1)
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="parallel processes (0: one per CPU)", min=0)
    ] = 0,
    emergency: Annotated[
        bool, typer.Option("--emergency", help="also dispatch an ambulance, without/with priority")
    ] = False,
    ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON here")] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="zh-CN or en")] = Lang.zh,
) -> None:
    """Run every controller with every seed and print a table (and JSON)."""
    if (map_name is None) == (net is None):
        raise InvalidInput("map: give either --map NAME or --net FILE --routes FILES", field="map")
    if net is not None:
        route_files = [Path(r) for r in (routes or "").split(",") if r.strip()]
        traffic_map = custom_map(net, route_files, end=end)
    else:
        traffic_map = resco_map(str(map_name), end=end)
    names = [c.strip() for c in controllers.split(",") if c.strip()]
    console = Console(stderr=True)
    locale = lang.value
    done = 0

    def progress(result: dict[str, Any], total: int) -> None:
        nonlocal done
        done += 1
        line = t("cli.traffic.episode", locale, done=done, total=total, **result)
        ev = result["extra"].get("emergency")
        if ev:
            line += " " + t("cli.traffic.ambulance" + (".on" if ev["priority"] else ".off"), locale)
        console.print(f"{line} {result['mean_delay']:.2f} s")

    result = run_bench(
        traffic_map,
        names,
        _seeds(seeds),
        workers=workers or max(1, os.cpu_count() or 1),
        emergency=emergency,
        ray_address=ray,
        progress=progress,
    )
    _print_table(result, locale)
    if emergency:
        _print_emergency(result, locale)
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")


def _print_table(result: dict[str, Any], locale: str) -> None:
    table = Table(title=t("cli.traffic.title", locale, map=result["map"], **result["episode"]))
    for key in ("controller", "median", "iqr", "throughput", "never", "wall"):
        table.add_column(t(f"cli.traffic.col.{key}", locale), justify="right")
    for name, row in result["controllers"].items():
        delay = row["mean_delay"]
        table.add_row(
            name,
            f"{delay['median']:.2f}",
            f"{delay['q1']:.2f}–{delay['q3']:.2f}",
            f"{row['throughput']:g}",
            f"{row['never_departed']:g}",
            f"{row['wall_s']:.1f}",
        )
    Console().print(table)


def _print_emergency(result: dict[str, Any], locale: str) -> None:
    table = Table(title=t("cli.traffic.emergency.title", locale, map=result["map"]))
    for key in ("controller", "without", "with", "saved", "others"):
        table.add_column(t(f"cli.traffic.emergency.{key}", locale), justify="right")
    for name, row in result["controllers"].items():
        ev = row.get("emergency")
        if ev:
            table.add_row(
                name,
                f"{ev['travel_time_s']['without']:.0f}",
                f"{ev['travel_time_s']['with']:.0f}",
                f"{ev['time_saved_s']:.0f}",
                f"{ev['others_delay_change_pct']:+.1f} %",
            )
    Console().print(table)
