"""``payments serve``: HTTP, gRPC, the outbox relay and housekeeping in one process.

With no configuration it also starts the Stripe emulator as a child process and registers its own
webhook URL there. ``--workers N`` starts N such processes sharing the ports through SO_REUSEPORT;
the relay and housekeeping are safe to run in each (SKIP LOCKED, idempotent steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import structlog
import uvicorn
import uvloop
from pydantic import SecretStr

from payments import bootstrap
from payments.config import Settings

log = structlog.get_logger(__name__)

# How long a stopping process waits for housekeeping and the relay to finish their round.
SHUTDOWN_WAIT_SECONDS = 10
GRPC_HEALTH_SECONDS = 5  # how often gRPC's health is brought in line with /readyz


@dataclass
class EmulatorProcess:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_emulator(port: int, timeout: float = 15.0, env: dict[str, str] | None = None) -> EmulatorProcess:
    """The emulator as a child process; returns once it prints the address it listens on."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no outside input
        [sys.executable, "-m", "stripe_emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    assert process.stdout is not None
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(process.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        process.kill()
        raise RuntimeError("the Stripe emulator did not start in time")
    line = process.stdout.readline().strip()
    if not line.startswith("emulator listening on "):
        process.kill()
        raise RuntimeError(f"the Stripe emulator failed to start: {line!r}")
    return EmulatorProcess(process, line.removeprefix("emulator listening on "))


class _Server(uvicorn.Server):
    """Uvicorn re-raises SIGTERM after its graceful shutdown, which would kill us before our own cleanup
    (the relay, the gRPC server, the emulator child) runs; we take the signal and return instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        originals = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def serve_process(settings: Settings, *, announce: bool) -> None:
    from payments.api.grpc.server import new_health_servicer, start_grpc_server
    from payments.api.http.app import create_app
    from payments.api.http.limits import MAX_REQUEST_HEAD, BoundedHttpTools

    container = bootstrap.build(settings)
    if settings.database_url.startswith("sqlite"):
        # The embedded default must work with nothing to run first; PostgreSQL uses `payments db upgrade`.
        from payments.migrations_runner import upgrade_to_head

        await asyncio.to_thread(upgrade_to_head, settings.database_url)
    public = public_url(settings)
    if settings.api_token is None:
        log.warning(
            "auth.open", detail="PAYMENTS_API_TOKEN is unset: /v1 calls are not authenticated (dev only)"
        )
    app = create_app(container)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=BoundedHttpTools,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,  # the same bound if someone switches to h11
        # Past this many open connections + requests in flight uvicorn answers 503 instead of queueing
        # without end; idle keep-alive connections are closed after a few seconds.
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    sock = _reuse_port_socket(settings.http_host, settings.http_port)
    _settle_garbage_collector()
    health = new_health_servicer()
    grpc_server = await start_grpc_server(container, f"{settings.http_host}:{settings.grpc_port}", health)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_housekeeping(container, stop)),
        asyncio.create_task(_grpc_health(container, health, stop)),
    ]
    if container.relay is not None:
        tasks.append(asyncio.create_task(container.relay.run_forever(settings.outbox_poll_seconds, stop)))
    if announce:
        sys.stdout.write(
            f"payments serving\n  HTTP  {public}  (OpenAPI {public}/docs)\n"
            f"  gRPC  {settings.http_host}:{settings.grpc_port}\n"
            f"  Stripe {settings.stripe_api_base or 'https://api.stripe.com'}\n"
            f"  try:  curl -s -X POST {public}/v1/payments -H 'content-type: application/json' "
            f'-d \'{{"order_id":"ord_1","user_id":"u_1","amount":2500,"currency":"eur"}}\'\n'
        )
        sys.stdout.flush()
    try:
        await server.serve(sockets=[sock])
    finally:
        stop.set()
        await health.enter_graceful_shutdown()
        await grpc_server.stop(grace=2)
        # A round under way (a Stripe call that stalls, an Orders that trickles) is not waited for long:
        # what it leaves is retried (leases lapse, the sweep's watermark holds).
        _, unfinished = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_SECONDS)
        for task in unfinished:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        await container.close()


def public_url(settings: Settings) -> str:
    return settings.public_base_url


async def register_webhook(api_base: str, url: str) -> str:
    """Register ``url`` at the emulator for every event; the endpoint's signing secret."""
    from payments.adapters.stripe_gateway.client import StripeGateway
    from payments.config import EMULATOR_API_KEY

    gateway = StripeGateway(EMULATOR_API_KEY, api_base)
    try:
        endpoint = await gateway.register_webhook_endpoint(url)
    finally:
        await gateway.close()
    return endpoint.secret


def _run_on_uvloop(settings: Settings, *, announce: bool) -> None:
    # uvicorn only installs uvloop when it owns the loop; here we do, so we ask for it ourselves (it also
    # sets TCP_NODELAY on accepted sockets, which the default loop leaves to us).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_process(settings, announce=announce))


def serve_worker(settings: Settings) -> int:
    """A further worker of ``serve --workers N``: everything but the emulator, on the shared ports."""
    _run_on_uvloop(settings, announce=False)
    return 0


async def _grpc_health(container: bootstrap.Container, health: Any, stop: asyncio.Event) -> None:
    from payments.api.grpc.server import follow_readiness

    while not stop.is_set():
        with contextlib.suppress(Exception):  # a probe that fails says NOT_SERVING next time round
            await follow_readiness(container, health)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=GRPC_HEALTH_SECONDS)


async def _housekeeping(container: bootstrap.Container, stop: asyncio.Event) -> None:
    from payments.housekeeping import run_forever

    await run_forever(container, stop)


def serve(settings: Settings, workers: int = 1) -> int:
    from payments.api.grpc.tls import server_credentials

    # Before the emulator or a worker is started: a bad setting stops us with nothing to clean up.
    bootstrap.check_settings(settings)
    server_credentials(settings)
    emulator: EmulatorProcess | None = None
    children: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ)
    if settings.uses_emulator:
        emulator = start_emulator(settings.emulator_port)
        secret = asyncio.run(register_webhook(emulator.url, f"{public_url(settings)}/v1/webhooks/stripe"))
        settings = settings.model_copy(
            update={"stripe_api_base": emulator.url, "stripe_webhook_secrets": [SecretStr(secret)]}
        )
        env.update(PAYMENTS_STRIPE_API_BASE=emulator.url, PAYMENTS_STRIPE_WEBHOOK_SECRETS=secret)
    try:
        if workers > 1:
            if settings.database_url.startswith("sqlite"):
                from payments.migrations_runner import upgrade_to_head

                upgrade_to_head(settings.database_url)  # once, before the workers race to do it
            for _ in range(workers - 1):
                children.append(
                    subprocess.Popen([sys.executable, "-m", "payments.cli", "serve", "--worker"], env=env)
                )
        _run_on_uvloop(settings, announce=True)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if emulator is not None:
            emulator.stop()
    return 0


def _settle_garbage_collector() -> None:
    """Keep the collector's pauses out of the answers' tail.

    Everything built at start-up (modules, the app, SQLAlchemy's tables and caches) lives as long as the
    process, yet every full collection walked it again: tens of milliseconds, paid by whichever requests
    were in flight (the webhook benchmark's p99). Frozen, it is never walked; the young generation is
    collected less often, as the request path allocates many short-lived objects that die young anyway.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
