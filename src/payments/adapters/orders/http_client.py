"""Orders over HTTP: ``POST {base}/v1/payment-updates`` with the diff as JSON."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from payments.adapters.orders.wire import diff_json
from payments.domain.state_diff import OrderUpdate
from payments.orders_port import OrdersRejected, OrdersUnavailable

# 4xx that mean "not now" rather than "not this".
_RETRYABLE_4XX = frozenset({408, 425, 429})


class HttpOrdersClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/payment-updates"
        self._deadline = 3 * timeout_seconds  # connect, send, answer: each may take the per-step timeout
        self._client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport, verify=verify)

    async def apply(self, update: OrderUpdate) -> None:
        key = update.idempotency_key
        body = {"idempotency_key": key, "diff": diff_json(update)}
        try:
            # httpx's timeout bounds each read, not the answer: a body trickling in a byte at a time
            # would hold the relay for ever. The whole exchange gets the deadline too.
            async with asyncio.timeout(self._deadline):
                response = await self._client.post(self._url, json=body, headers={"Idempotency-Key": key})
        except TimeoutError as exc:
            raise OrdersUnavailable("http timeout: the whole answer took too long") from exc
        except httpx.TimeoutException as exc:
            raise OrdersUnavailable(f"http timeout: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            # The exception text can name the URL, which may carry credentials; the class is enough.
            raise OrdersUnavailable(f"http transport error: {type(exc).__name__}") from exc
        status = response.status_code
        if status < 300:
            return
        message = f"http {status}"
        if status >= 500 or status in _RETRYABLE_4XX:
            raise OrdersUnavailable(message)
        raise OrdersRejected(message)

    async def close(self) -> None:
        await self._client.aclose()
