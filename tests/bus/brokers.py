"""Real brokers for tests: reachability (skip, or fail when CI=true) and private instances.

Tests that stop a broker never touch the shared servers on 1883/4222 (other suites use them at
the same time): they start their own ``mosquitto`` / ``nats-server`` on a free port with their
own persistence directory, and always stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
NATS_URL = os.environ.get("CITYBRAIN_TEST_NATS", "nats://127.0.0.1:4222")
MQTT_HOST, MQTT_PORT = "127.0.0.1", int(os.environ.get("CITYBRAIN_TEST_MQTT_PORT", "1883"))


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(host: str, port: int, what: str) -> None:
    """Skip the test when the broker does not answer; fail instead when CI=true."""
    if answers(host, port):
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but does not answer at {host}:{port}")
    pytest.skip(f"{what} not reachable at {host}:{port}")


def require_nats() -> None:
    """The shared NATS JetStream server."""
    host, _, port = NATS_URL.removeprefix("nats://").partition(":")
    require(host, int(port or 4222), "NATS")


def require_mqtt() -> None:
    """The shared Mosquitto broker."""
    require(MQTT_HOST, MQTT_PORT, "Mosquitto")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, up: bool, timeout: float = 10.0) -> None:
    """Wait until 127.0.0.1:port answers (``up``) or stops answering."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers("127.0.0.1", port, 0.2) == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} still {'down' if up else 'up'} after {timeout}s")


class PrivateBroker:
    """A broker process owned by the test: ``start``, ``stop`` (SIGTERM), ``pause``/``resume``."""

    binary = ""

    def __init__(self, workdir: Path) -> None:
        if shutil.which(self.binary) is None:
            if IN_CI:
                pytest.fail(f"{self.binary} is required in CI")
            pytest.skip(f"{self.binary} not installed")
        self.workdir, self.port = workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = (self.workdir / f"{self.binary}.log").open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log)
        wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP the broker and wait until the kernel reports it stopped (state ``T``):
        ``kill`` returns before the target has stopped, and a loaded machine can let one more
        request through in between."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self.proc.pid}/stat")
        deadline = time.monotonic() + 5
        while stat.exists() and time.monotonic() < deadline:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                break
            time.sleep(0.01)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class PrivateMosquitto(PrivateBroker):
    """Mosquitto with persistence in the test's directory (saved on SIGTERM)."""

    binary = "mosquitto"

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n"
            f"persistence true\npersistence_location {self.workdir}/\n"
            "max_queued_messages 100000\n",
            encoding="utf-8",
        )
        return [self.binary, "-c", str(conf)]


class PrivateNats(PrivateBroker):
    """nats-server with JetStream storing in the test's directory."""

    binary = "nats-server"

    def command(self) -> list[str]:
        store = self.workdir / "js"
        return [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def delete_streams(url: str, *names: str) -> None:
    """Delete JetStream streams (ignoring missing ones)."""
    import nats
    import nats.js.errors

    async def run() -> None:
        nc = await nats.connect(url, connect_timeout=3)
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)
        await nc.close()

    asyncio.run(run())


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> bool:
    """Poll ``predicate()`` until true or timeout; returns its last truth value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
