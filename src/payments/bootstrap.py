"""The one place that decides which adapter serves which port (cosmicpython's bootstrap)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.engine import create_engine, create_export_engine
from payments.adapters.db.probe import DatabaseProbe, probe_engine
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.adapters.orders import OrdersSettingsError, orders_client_from_url
from payments.adapters.redis_marks import RedisSeenMarks
from payments.adapters.stripe_gateway.client import StripeGateway
from payments.checkout.history import OrderHistory
from payments.checkout.service import PaymentService
from payments.config import EMULATOR_API_KEY, ConfigError, Settings
from payments.observability.readiness import Check, Readiness
from payments.operations.actions import OperatorActions
from payments.operations.attention import AttentionQueues
from payments.operations.lookup import PaymentLookup
from payments.orders_port import OrdersClient
from payments.outbox.backlog import OutboxBacklog
from payments.outbox.relay import OutboxRelay
from payments.referrals.models import ExportsBusy
from payments.referrals.service import CommissionService
from payments.refunds.service import RefundService
from payments.review.service import ReviewService
from payments.unit_of_work import UnitOfWork
from payments.webhooks.deferred_sweep import DeferredSweep
from payments.webhooks.idempotency import WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.processor import WebhookConfig, WebhookProcessor
from payments.webhooks.stored_events import StoredEvents
from payments.webhooks.sweep import EventSweep, SweepConfig


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    gateway: StripeGateway
    redis: RedisSeenMarks | None
    payments: PaymentService
    history: OrderHistory
    refunds: RefundService
    review: ReviewService
    commissions: CommissionService
    orchestrator: PaymentOrchestrator
    idempotency: WebhookIdempotencyService
    webhooks: WebhookProcessor
    events: StoredEvents
    sweep: EventSweep
    deferred: DeferredSweep
    orders: OrdersClient | None
    outbox: OutboxBacklog
    relay: OutboxRelay | None  # None without PAYMENTS_ORDERS_URL: nothing to deliver to
    attention: AttentionQueues
    lookup: PaymentLookup
    operator: OperatorActions
    readiness: Readiness
    clock: Callable[[], datetime]
    # Mutable so the dev runner can add the secret the emulator hands out at start-up.
    webhook_secrets: list[str] = field(default_factory=list)
    store: SqlPaymentStore | None = None

    _export_engine: AsyncEngine | None = None
    probe_engine: AsyncEngine | None = None  # readiness's own connection

    def export_engine(self) -> AsyncEngine:
        """The CSV exports' own small pool, opened on first use."""
        if self._export_engine is None:
            self._export_engine = create_export_engine(self.engine, self.settings.export_pool_size)
        return self._export_engine

    async def close(self) -> None:
        if self._export_engine is not None:
            await self._export_engine.dispose()
        if self.probe_engine is not None:
            await self.probe_engine.dispose()
        if self.redis is not None:
            await self.redis.close()
        if self.orders is not None:
            await self.orders.close()
        await self.gateway.close()
        if self.store is not None:
            await self.store.close()
        await self.engine.dispose()


class ExportStore:
    """The CSV exports' units of work, over the container's export pool (opened on first use). A pool with
    no connection free within its timeout is ExportsBusy, which the download routes answer 503."""

    def __init__(self) -> None:
        self.engine: Callable[[], AsyncEngine] | None = None

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._transaction()

    def autocommit(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork]:
        if self.engine is None:
            raise RuntimeError("the export store is used before its container is built")
        try:
            async with SqlPaymentStore(self.engine())() as uow:
                yield uow
        except sqlalchemy.exc.TimeoutError:
            # Only waiting for a pooled connection raises it.
            raise ExportsBusy("every export connection is busy") from None


def check_settings(settings: Settings) -> None:
    """What ``build`` would refuse, checked before a process starts anything (the development emulator,
    the workers), so a bad setting stops it with its one line and nothing to clean up. (The gRPC server's
    TLS files are the entry point's to check: ``api/grpc/tls.py``.)"""
    settings.require_production_secrets()
    settings.audit_keyring()
    settings.livemode()
    orders = _orders_client(settings)
    if orders is not None:
        asyncio.run(orders.close())


def _orders_client(settings: Settings) -> OrdersClient | None:
    try:
        return orders_client_from_url(
            settings.orders_url,
            ca_file=settings.orders_tls_ca_file,
            cert_file=settings.orders_tls_cert_file,
            key_file=settings.orders_tls_key_file,
        )
    except OrdersSettingsError as exc:
        raise ConfigError(str(exc)) from None


def build(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    engine: AsyncEngine | None = None,
    gateway: StripeGateway | None = None,
) -> Container:
    # Every entry point builds its container here, so none can skip production's refusals.
    settings.require_production_secrets()
    engine = engine or create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    api_key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else EMULATOR_API_KEY
    gateway = gateway or StripeGateway(api_key, settings.effective_api_base())
    redis = RedisSeenMarks(settings.redis_url) if settings.redis_url else None
    store = SqlPaymentStore(engine, keep_connections=True)  # closed by Container.close()
    exports = ExportStore()
    commissions = CommissionService(settings, store, exports)
    orchestrator = PaymentOrchestrator(commissions)
    idempotency = WebhookIdempotencyService(store, redis, clock)
    secrets = settings.webhook_secret_values()
    probed = probe_engine(engine)
    checks: dict[str, Check] = {"database": DatabaseProbe(probed).answers}
    if redis is not None:
        checks["redis"] = redis.ping
    orders = _orders_client(settings)
    refunds = RefundService(store, gateway, orchestrator, clock)
    review = ReviewService(store, refunds, orchestrator, clock)
    outbox = OutboxBacklog(store, clock)
    webhooks = WebhookProcessor(
        store,
        idempotency,
        orchestrator,
        WebhookConfig(
            secrets=lambda: secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
            livemode=settings.livemode(),
        ),
        clock,
        refunds=gateway,
    )
    container = Container(
        probe_engine=probed,
        store=store,
        settings=settings,
        engine=engine,
        gateway=gateway,
        redis=redis,
        payments=PaymentService(store, gateway, settings, clock, orchestrator),
        history=OrderHistory(store),
        refunds=refunds,
        review=review,
        commissions=commissions,
        orchestrator=orchestrator,
        idempotency=idempotency,
        webhooks=webhooks,
        events=StoredEvents(store),
        sweep=EventSweep(
            store,
            gateway,
            webhooks,
            clock,
            SweepConfig(lag=timedelta(seconds=settings.event_sweep_seconds)),
        ),
        deferred=DeferredSweep(store, webhooks, clock),
        orders=orders,
        outbox=outbox,
        relay=OutboxRelay(store, orders) if orders is not None else None,
        attention=AttentionQueues(store),
        lookup=PaymentLookup(store),
        operator=OperatorActions(
            store, webhooks=webhooks, outbox=outbox, commissions=commissions, review=review, clock=clock
        ),
        readiness=Readiness(checks),
        clock=clock,
        webhook_secrets=secrets,
    )
    exports.engine = container.export_engine
    return container
