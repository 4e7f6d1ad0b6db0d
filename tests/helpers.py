"""Small helpers shared by tests (valid credit codes, users with roles)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from stdnum.cn import uscc

from citybrain.kernel.gate import Resource
from citybrain.kernel.identity import service
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime


def credit_code(n: int, kind: str = "11") -> str:
    """A valid unified social credit code numbered ``n`` (GB 32100 check digit)."""
    body = f"{kind}330100{n:09d}"
    return body + uscc.calc_check_digit(body)


def make_org(rt: Runtime, n: int, parent: str | None = None, level: str = "department") -> str:
    """Create an organisation as the local operator; returns its code."""
    code = credit_code(n)
    parent_code = parent or rt.settings.city_code
    res = Resource("Organisation", code, parent_code)
    with rt.gate.system(
        SYSTEM_ACTOR, rt.settings.city_code, "org.create", res, request_id="test"
    ) as s:
        service.create_organisation(
            s, code=code, name=f"机构{n}", kind="department", level=level, parent_code=parent_code
        )
    return code


def make_user(rt: Runtime, name: str, org: str, role: str, service_account: bool = False) -> str:
    """Create a user holding a post with ``role``; returns a bearer token (or API key)."""
    with rt.gate.system(
        SYSTEM_ACTOR, org, "user.create", Resource("User", name, org), request_id="test"
    ) as s:
        try:
            service.get_post(s, org, f"{role}-post")
        except service.NotFound:
            service.create_post(s, organisation_code=org, name=f"{role}-post", role=role)
        user, _ = service.create_user(
            s,
            name=name,
            organisation_code=org,
            posts=[f"{role}-post"],
            password="correct-horse-battery",
            is_service=service_account,
        )
        if service_account:
            return service.create_api_key(s, user)
    token, _ = rt.issue_token_for(name)
    return token


def bearer(token: str) -> dict[str, str]:
    """Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def drop_ledger_triggers(rt: Runtime) -> None:
    """Remove the append-only triggers, as an insider with DDL rights would before tampering."""
    from sqlalchemy import text

    tables = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")
    with rt.engine.begin() as conn:
        for t in tables:
            if rt.engine.dialect.name == "sqlite":
                for ev in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_no_{ev}"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}"))


def applied_revisions(rt: Runtime) -> set[str]:
    """Every migration revision the database has been brought through (ancestors of its heads)."""
    from alembic.script import ScriptDirectory

    from citybrain.kernel.db import alembic_config, current_revision

    script = ScriptDirectory.from_config(alembic_config(str(rt.engine.url)))
    heads = (current_revision(rt.engine) or "").split(",")
    return {r.revision for head in heads if head for r in script.iterate_revisions(head, "base")}


def start_up(
    data: Path, timeout_s: float = 120, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str, str]:
    """Run ``citybrain up`` on a free port as a real process (no CITYBRAIN_* settings from the
    environment but those in ``env``); returns the process, its URL and everything it printed
    before serving."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "citybrain.cli", "up", "--data-dir", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
        | {"COLUMNS": "200"}
        | (env or {}),
    )
    lines: list[str] = []
    url = None
    deadline = time.time() + timeout_s
    while time.time() < deadline and url is None:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
        if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
            url = m.group(1)
    if url is None:
        proc.kill()
        proc.wait(30)
        raise AssertionError("citybrain up never served:\n" + "".join(lines))
    return proc, url, "".join(lines)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
