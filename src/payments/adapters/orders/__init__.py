"""Clients of the Orders service; ``orders_client_from_url`` picks one from ``PAYMENTS_ORDERS_URL``."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

from payments.adapters.orders.grpc_client import GrpcOrdersClient, OrdersTls
from payments.adapters.orders.http_client import HttpOrdersClient
from payments.adapters.orders.port import OrdersClient, OrdersError, OrdersRejected, OrdersUnavailable

__all__ = [
    "GrpcOrdersClient",
    "HttpOrdersClient",
    "OrdersClient",
    "OrdersError",
    "OrdersRejected",
    "OrdersTls",
    "OrdersUnavailable",
    "orders_client_from_url",
]


def orders_client_from_url(
    url: str | None,
    *,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> OrdersClient | None:
    """``grpc://host:port`` (plain text), ``grpcs://host:port`` (TLS) or ``http(s)://...``; None (or blank)
    means notifications wait in the outbox. The TLS files (a private CA instead of the system's roots, a
    client certificate and key for mutual TLS) apply to ``grpcs://`` and ``https://``."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if (cert_file is None) != (key_file is None):
        raise ValueError("PAYMENTS_ORDERS_TLS_CERT_FILE and PAYMENTS_ORDERS_TLS_KEY_FILE go together")
    tls_files = ca_file is not None or cert_file is not None
    if tls_files and scheme not in ("grpcs", "https"):
        raise ValueError("PAYMENTS_ORDERS_TLS_* settings need a grpcs:// or https:// PAYMENTS_ORDERS_URL")
    if scheme in ("grpc", "grpcs"):
        if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
            raise ValueError("PAYMENTS_ORDERS_URL must look like grpc://host:port or grpcs://host:port")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        tls = None
        if scheme == "grpcs":
            tls = OrdersTls(
                root_certificates=ca_file.read_bytes() if ca_file else None,
                private_key=key_file.read_bytes() if key_file else None,
                certificate_chain=cert_file.read_bytes() if cert_file else None,
            )
        return GrpcOrdersClient(f"{host}:{parts.port}", tls=tls)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError("PAYMENTS_ORDERS_URL must look like http(s)://host[:port][/base]")
        if not tls_files:
            return HttpOrdersClient(url)
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if cert_file is not None and key_file is not None:
            context.load_cert_chain(str(cert_file), str(key_file))
        return HttpOrdersClient(url, verify=context)
    raise ValueError("PAYMENTS_ORDERS_URL must start with grpc://, grpcs://, http:// or https://")
