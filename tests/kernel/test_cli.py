"""The `citybrain` command, run as a real process: help, up, tokens, verify, errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime
from tests.helpers import start_up


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `citybrain ARGS` in a clean environment (no CITYBRAIN_* leaking in)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    base["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "citybrain.cli", *args],
        capture_output=True,
        text=True,
        env=base | (env or {}),
        timeout=timeout,
    )


def test_help_lists_every_command() -> None:
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("up", "serve", "db", "ledger", "token", "org", "user", "scenarios"):
        assert re.search(rf"\b{cmd}\b", r.stdout), cmd
    r = run("ledger", "--help")
    for cmd in ("verify", "proof", "checkpoint", "export", "verify-export", "status"):
        assert cmd in r.stdout
    assert "台账" in r.stdout  # bilingual help


def test_every_command_accepts_data_dir_and_db() -> None:
    commands = [
        ("up",),
        ("serve",),
        ("db", "upgrade"),
        ("db", "current"),
        ("token", "create"),
        ("ledger", "verify"),
        ("ledger", "proof"),
        ("ledger", "checkpoint"),
        ("ledger", "export"),
        ("ledger", "status"),
        ("org", "create"),
        ("org", "list"),
        ("user", "create"),
        ("user", "reset-password"),
        ("scenarios",),
    ]
    for cmd in commands:
        out = run(*cmd, "--help").stdout
        assert "--data-dir" in out and "--db" in out, cmd


def test_up_serves_home_page_and_prints_admin_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url, out = start_up(data, timeout_s=90)
    try:
        assert "admin" in out
        password = re.search(r"(?:password|密码)[^:：]*[:：]\s*(\S+)", out)
        assert password, out
        assert httpx.get(url + "health").json()["status"] == "ok"
        r = httpx.post(url + "auth/login", json={"name": "admin", "password": password.group(1)})
        assert r.status_code == 200
        home = httpx.get(url)
        assert home.status_code == 200
        assert "城市大脑" in home.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # second start: no new password, same admin
    again = run("db", "upgrade", "--data-dir", str(data))
    assert again.returncode == 0


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    data = tmp_path / "d"
    rt = Runtime.open(load_settings(environ={}, data_dir=data))
    rt.migrate()
    rt.bootstrap()
    rt.close()
    return data


def test_token_create_last_line_is_a_token(prepared: Path) -> None:
    r = run("token", "create", "--user", "admin", "--data-dir", str(prepared))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert token.count(".") == 2
    r = run("token", "create", "--user", "nobody", "--data-dir", str(prepared))
    assert r.returncode == 1
    assert "nobody" in r.stderr
    assert "Traceback" not in r.stderr


def test_ledger_verify_detects_tampering(prepared: Path) -> None:
    assert run("ledger", "checkpoint", "--data-dir", str(prepared)).returncode == 0
    ok = run("ledger", "verify", "--data-dir", str(prepared))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    db = prepared / "citybrain.db"
    eng = create_engine(f"sqlite:///{db}")
    with eng.begin() as conn:
        conn.execute(text("DROP TRIGGER ledger_entries_no_update"))  # an attacker with DDL rights
        conn.execute(text("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 2"))
    eng.dispose()
    bad = run("ledger", "verify", "--data-dir", str(prepared))
    assert bad.returncode == 1
    assert re.search(r"\b2\b", bad.stderr), bad.stderr
    assert "Traceback" not in bad.stderr


def test_ledger_proof_and_export_round_trip(prepared: Path, tmp_path: Path) -> None:
    r = run("ledger", "proof", "--seq", "1", "--data-dir", str(prepared))
    assert r.returncode == 0, r.stderr
    assert '"verified": true' in r.stdout
    assert run("ledger", "checkpoint", "--data-dir", str(prepared)).returncode == 0
    assert run("ledger", "checkpoint", "--data-dir", str(prepared)).returncode == 0
    out = tmp_path / "cp.json"
    assert run("ledger", "export", "--out", str(out), "--data-dir", str(prepared)).returncode == 0
    assert run("ledger", "verify-export", str(out)).returncode == 0
    doc = out.read_text(encoding="utf-8")
    forged = re.sub(
        r'"root_hash": "([0-9a-f])',
        lambda m: '"root_hash": "' + ("0" if m.group(1) != "0" else "1"),
        doc,
        count=1,
    )
    out.write_text(forged, encoding="utf-8")
    bad = run("ledger", "verify-export", str(out))
    assert bad.returncode == 1


def test_unreachable_database_one_line_exit_2(tmp_path: Path) -> None:
    r = run(
        "db",
        "upgrade",
        "--data-dir",
        str(tmp_path),
        "--db",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Database unavailable" in r.stderr


def test_unknown_config_key_is_a_startup_error(tmp_path: Path) -> None:
    r = run("db", "current", "--data-dir", str(tmp_path), env={"CITYBRAIN_PROT": "9"})
    assert r.returncode == 2
    assert "CITYBRAIN_PROT" in r.stderr
    assert "Traceback" not in r.stderr


def test_org_and_user_commands(prepared: Path) -> None:
    from tests.helpers import credit_code

    code = credit_code(777)
    r = run(
        "org",
        "create",
        "--code",
        code,
        "--name",
        "市交通运输局",
        "--kind",
        "department",
        "--level",
        "department",
        "--data-dir",
        str(prepared),
    )
    assert r.returncode == 0, r.stderr
    bad = run(
        "org",
        "create",
        "--code",
        "123",
        "--name",
        "x",
        "--kind",
        "department",
        "--level",
        "department",
        "--data-dir",
        str(prepared),
    )
    assert bad.returncode == 2 and "code" in bad.stderr
    r = run(
        "user",
        "create",
        "--name",
        "zhang",
        "--org",
        code,
        "--post",
        "clerk",
        "--role",
        "clerk",
        "--data-dir",
        str(prepared),
    )
    assert r.returncode == 0, r.stderr
    assert "zhang" in r.stdout
    assert code in run("org", "list", "--data-dir", str(prepared)).stdout


def test_cli_on_postgresql(pg_ready: None, tmp_path: Path) -> None:
    """`db upgrade`, `token create` and `ledger verify` against PostgreSQL with --db."""
    from tests.conftest import PgSchema

    schema = PgSchema()
    try:
        rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path, db=schema.url))
        rt.migrate()
        rt.bootstrap()
        rt.close()
        args = ("--data-dir", str(tmp_path), "--db", schema.url)
        from alembic.script import ScriptDirectory

        from citybrain.kernel.db import alembic_config

        heads = set(ScriptDirectory.from_config(alembic_config(schema.url)).get_heads())
        assert set(run("db", "current", *args).stdout.strip().split(",")) == heads
        assert run("token", "create", "--user", "admin", *args).returncode == 0
        ok = run("ledger", "verify", *args)
        assert ok.returncode == 0, ok.stderr
    finally:
        schema.drop()


def test_busy_port_is_one_line_exit_2(prepared: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        r = run("serve", "--data-dir", str(prepared), "--port", str(port))
    assert r.returncode == 2
    assert f"127.0.0.1:{port}" in r.stderr and "[port]" in r.stderr
    assert "Traceback" not in r.stderr


def test_sigterm_stops_cleanly_and_folds_the_wal(prepared: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citybrain.cli",
            "serve",
            "--data-dir",
            str(prepared),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")},
    )
    url = None
    deadline = time.time() + 60
    while time.time() < deadline and url is None:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        url = m.group(1) if m else None
    assert url
    assert httpx.get(url + "health").status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    wal = prepared / "citybrain.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
