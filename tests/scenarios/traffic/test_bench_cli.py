"""`citybrain traffic bench` end to end on the small grid: two seeds, parallel workers, JSON
shaped as documented, and exit code 2 with one line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

CLI = [sys.executable, "-m", "citybrain.cli", "traffic", "bench"]


def test_bench_runs_controllers_and_seeds_and_writes_json(small_map, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            *CLI,
            "--net",
            str(small_map.net),
            "--routes",
            ",".join(str(r) for r in small_map.routes),
            "--controllers",
            "fixed,max-pressure,citybrain",
            "--seeds",
            "2",
            "--end",
            "300",
            "--workers",
            "2",
            "--json",
            str(out),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text("utf-8"))
    assert result["map"] == "small"
    assert result["sumo_version"].startswith("1.28")
    assert result["episode"] == {"begin": 0.0, "end": 300.0}
    assert list(result["controllers"]) == ["fixed", "max-pressure", "citybrain"]
    for row in result["controllers"].values():
        delay = row["mean_delay"]
        assert len(delay["per_seed"]) == 2
        assert delay["q1"] <= delay["median"] <= delay["q3"]
        assert min(delay["per_seed"]) <= delay["median"] <= max(delay["per_seed"])
        assert row["throughput"] > 0 and row["never_departed"] >= 0 and row["wall_s"] > 0
    assert "max-pressure" in done.stdout and "Mean delay" in done.stdout
    assert "[6/6]" in done.stderr  # progress counts every episode of the run


def _fails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_bad_input_exits_2_with_one_line(small_net, tmp_path):
    broken = tmp_path / "bad.rou.xml"
    broken.write_text("<routes><trip id='x'", "utf-8")
    cases = [
        (["--net", str(tmp_path / "none.net.xml"), "--routes", str(broken)], "no such file"),
        (["--net", str(small_net), "--routes", str(broken)], "not well-formed"),
        (["--map", "atlantis"], "unknown RESCO map"),
        (["--map", "grid4x4", "--controllers", "magic"], "unknown controller"),
        (["--map", "grid4x4", "--controllers", "max-pressure@5/0.5"], "least is 1 s"),
        (["--map", "grid4x4", "--seeds", "many"], "seeds"),
        ([], "either --map"),
    ]
    for args, message in cases:
        done = _fails(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, done.stderr)
