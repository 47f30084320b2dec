"""Clients of the Orders service; ``orders_client_from_url`` picks one from ``PAYMENTS_ORDERS_URL``."""

from __future__ import annotations

from urllib.parse import urlsplit

from payments.adapters.orders.grpc_client import GrpcOrdersClient
from payments.adapters.orders.http_client import HttpOrdersClient
from payments.adapters.orders.port import OrdersClient, OrdersError, OrdersRejected, OrdersUnavailable

__all__ = [
    "GrpcOrdersClient",
    "HttpOrdersClient",
    "OrdersClient",
    "OrdersError",
    "OrdersRejected",
    "OrdersUnavailable",
    "orders_client_from_url",
]


def orders_client_from_url(url: str | None) -> OrdersClient | None:
    """``grpc://host:port`` or ``http(s)://...``; None (or blank) means notifications wait in the outbox."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "grpc":
        if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
            raise ValueError("PAYMENTS_ORDERS_URL must look like grpc://host:port")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return GrpcOrdersClient(f"{host}:{parts.port}")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError("PAYMENTS_ORDERS_URL must look like http(s)://host[:port][/base]")
        return HttpOrdersClient(url)
    raise ValueError("PAYMENTS_ORDERS_URL must start with grpc://, http:// or https://")
