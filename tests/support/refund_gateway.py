"""A StripeGateway that answers refunds and refund listings from memory (integration tests, no emulator)."""

from __future__ import annotations

import itertools
from typing import Any

from payments.adapters.stripe_gateway.client import StripeGateway
from payments.stripe_port import GatewayError, GatewayErrorKind, Refund


class RefundGateway(StripeGateway):
    def __init__(self) -> None:
        super().__init__("sk_test_fake", "http://127.0.0.1:9", max_network_retries=0)
        self.charge_refunds: dict[str, list[dict[str, Any]]] = {}
        self.listings: list[str] = []
        self.listing_fails = False
        self.refunds_created: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Refund:
        for made in self.refunds_created:  # Stripe's idempotency: the same key answers the same refund
            if made["key"] == idempotency_key:
                return made["refund"]  # type: ignore[no-any-return]
        refund = Refund(
            id=f"re_fake_{next(self._ids)}",
            amount=amount,
            currency="eur",
            status="succeeded",
            payment_intent_id=payment_intent_id,
            charge_id=None,
            created=1_764_000_500,
        )
        self.refunds_created.append({"key": idempotency_key, "refund": refund, "metadata": metadata})
        return refund

    async def list_charge_refunds(self, charge_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        self.listings.append(charge_id)
        if self.listing_fails:
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "Stripe is unavailable")
        return list(self.charge_refunds.get(charge_id, []))
