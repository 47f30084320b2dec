"""Fault drills' infrastructure: service replicas that can be killed -9 and restarted on their ports, a
private redis-server, and the shared PostgreSQL cluster's stop/start."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.drill_stream import ResendingSender
from tests.support.processes import Proc, free_port, start_service, wait_until

REPO = Path(__file__).resolve().parents[2]


class Replica:
    """One ``payments serve`` process on fixed ports, so a restart answers where the last one did."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.http_port = free_port()
        self.env = {**env, "PAYMENTS_HTTP_PORT": str(self.http_port), "PAYMENTS_GRPC_PORT": str(free_port())}
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.proc: Proc | None = None
        self.up = False
        self.starts = 0

    def start(self) -> None:
        self.proc, url = start_service(self.env, self.workdir, self.log_path)
        assert url == self.url
        self.starts += 1
        self.up = True

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, requests in flight cut."""
        self.up = False
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        self.up = False
        if self.proc is not None:
            self.proc.stop()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Kill:
    replica: str
    dispatched: int
    in_flight: int
    at: float


@dataclass
class Killer:
    """Kills -9 a live replica when the stream reaches each threshold, and restarts it in the background.

    The stream is held at ``threshold + slack`` until that kill happened, so every kill lands mid-stream
    whatever the relative speed of the machine. ``gate`` is the sender's gate.
    """

    replicas: Sequence[Replica]
    thresholds: list[int]
    rng: random.Random
    sender: ResendingSender
    slack: int = 40
    kills: list[Kill] = field(default_factory=list)
    restarts: list[asyncio.Task[None]] = field(default_factory=list)
    timeout: float = 60.0

    def __post_init__(self) -> None:
        self._held = _HeldFor(self.timeout)

    def gate(self, dispatched: int) -> bool:
        due = (
            len(self.kills) < len(self.thresholds)
            and dispatched >= self.thresholds[len(self.kills)] + self.slack
        )
        return not due or self._held.check(f"kill {len(self.kills) + 1}")

    async def run(self) -> None:
        sender = self.sender
        for threshold in self.thresholds:
            deadline = time.monotonic() + self.timeout
            while sender.dispatched < threshold:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the stream never reached delivery {threshold}")
                await asyncio.sleep(0.01)
            victim = await self._live_victim(deadline)
            await asyncio.sleep(self.rng.uniform(0.0, 0.05))  # a random moment, not the threshold itself
            in_flight = sender.in_flight[victim.url]
            victim.kill()
            self.kills.append(Kill(victim.name, sender.dispatched, in_flight, time.monotonic()))
            self.restarts.append(asyncio.create_task(asyncio.to_thread(victim.start)))
            self._held.reset()
        await self.wait_restarts()

    async def _live_victim(self, deadline: float) -> Replica:
        while True:
            live = [r for r in self.replicas if r.up]
            if live:
                return self.rng.choice(live)
            if time.monotonic() > deadline:
                raise AssertionError("no replica came back up to be killed")
            await asyncio.sleep(0.02)

    async def wait_restarts(self) -> None:
        for task in self.restarts:
            await task


def kill_thresholds(
    rng: random.Random, total: int, kills: int, *, low: float = 0.03, high: float = 0.9
) -> list[int]:
    """``kills`` distinct delivery counts spread over [low, high] of the stream, each kill in its own
    slice so they do not bunch up."""
    span = (high - low) * total / kills
    return [int(low * total + span * k + rng.uniform(0, span * 0.8)) for k in range(kills)]


# -- Redis ---------------------------------------------------------------------------------------------
class PrivateRedis:
    """A redis-server of the drill's own on a free port: stopped and started again at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []  # every one started, so none outlives the drill

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        return (
            subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode == 0
        )

    def start(self) -> None:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        wait_until(self._ping, timeout=10, what=f"redis-server on {self.port} to answer")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        wait_until(lambda: not self._ping(), timeout=10, what=f"redis-server on {self.port} to be gone")

    def keys(self, pattern: str) -> int:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return len(out.split())


# -- PostgreSQL ----------------------------------------------------------------------------------------
def pg_version() -> str:
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    assert versions, "no PostgreSQL cluster under /etc/postgresql"
    return versions[-1]


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def pg_start_and_wait(timeout: float = 60.0) -> None:
    if not pg_ready():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"],
            capture_output=True,
            timeout=60,
        )
    wait_until(pg_ready, timeout=timeout, interval=0.1, what="pg_isready after starting PostgreSQL")


def payments_cli(
    args: list[str], env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m payments.cli ...`` with the drill's PAYMENTS_* environment."""
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- holding the stream while a fault is on ------------------------------------------------------------
class _HeldFor:
    """How long a gate has been closed; fails loudly past ``timeout``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._since: float | None = None

    def check(self, what: str) -> bool:
        """Called while closed: False, or AssertionError once closed for too long."""
        now = time.monotonic()
        self._since = self._since or now
        if now - self._since > self.timeout:
            raise AssertionError(f"the stream was held {self.timeout}s waiting for {what}")
        return False

    def reset(self) -> None:
        self._since = None


class Hold:
    """A sender gate: fresh deliveries stop at ``at`` until ``release()``; bounded, fails loudly."""

    def __init__(self, at: int, timeout: float = 60.0, what: str = "the fault") -> None:
        self.at = at
        self.what = what
        self.released = False
        self._held = _HeldFor(timeout)

    def release(self) -> None:
        self.released = True

    def gate(self, dispatched: int) -> bool:
        return self.released or dispatched < self.at or self._held.check(self.what)


async def together(*coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run side by side; when one fails the others are cancelled (their finally blocks run) before the
    first failure is raised, so no fault task outlives its drill."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def reach(sender: ResendingSender, n: int, timeout: float = 60.0) -> None:
    """Wait (bounded) until the stream has sent its n-th fresh delivery."""
    deadline = time.monotonic() + timeout
    while sender.dispatched < n:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the stream did not reach delivery {n} in {timeout}s ({sender.stats.summary()})"
            )
        await asyncio.sleep(0.01)


def log_summary(log_path: Path) -> str:
    """Counts of the service's error and warning events and the last exception's final line: what a
    failing drill's report needs from a log that may be megabytes long."""
    counts: Counter[str] = Counter()
    last_exception = ""
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("level") not in ("error", "warning", "critical"):
            continue
        counts[f"{entry.get('level')}:{entry.get('event')}"] += 1
        if entry.get("exception"):
            last_exception = str(entry["exception"]).strip().splitlines()[-1]
        elif entry.get("error"):
            last_exception = f"{entry.get('event')}: {entry.get('error')}"
    return f"{log_path.name}: {dict(counts.most_common(8))} last: {last_exception[:500]}"
