"""Clients of the Orders service; ``orders_client_from_url`` picks one from ``PAYMENTS_ORDERS_URL``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from payments.adapters.orders.grpc_client import GrpcOrdersClient, OrdersTls
from payments.adapters.orders.http_client import HttpOrdersClient
from payments.adapters.orders.tls_files import read_tls_files
from payments.orders_port import (
    OrdersClient,
    OrdersError,
    OrdersRejected,
    OrdersSettingsError,
    OrdersUnavailable,
)

__all__ = [
    "GrpcOrdersClient",
    "HttpOrdersClient",
    "OrdersClient",
    "OrdersError",
    "OrdersRejected",
    "OrdersSettingsError",
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
    client certificate and key for mutual TLS) apply to ``grpcs://`` and ``https://``. A setting that cannot
    work is an ``OrdersSettingsError`` naming it (``payments`` prints it as one line and exits 2)."""
    tls_files = ca_file is not None or cert_file is not None or key_file is not None
    if url is None or not url.strip():
        if tls_files:  # someone meant TLS towards an Orders they forgot to name: say so, do not ignore it
            raise OrdersSettingsError("PAYMENTS_ORDERS_TLS_* settings are set but PAYMENTS_ORDERS_URL is not")
        return None
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if tls_files and scheme not in ("grpcs", "https"):
        raise OrdersSettingsError(
            "PAYMENTS_ORDERS_TLS_* settings need a grpcs:// or https:// PAYMENTS_ORDERS_URL"
        )
    files = read_tls_files(ca_file, cert_file, key_file) if tls_files else None
    if scheme in ("grpc", "grpcs"):
        try:
            port = parts.port
        except ValueError:  # a port that is not a number, or out of range
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise OrdersSettingsError(
                "PAYMENTS_ORDERS_URL must look like grpc://host:port or grpcs://host:port"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        tls = None
        if scheme == "grpcs":
            tls = (
                OrdersTls(root_certificates=files.ca, private_key=files.key, certificate_chain=files.cert)
                if files is not None
                else OrdersTls()
            )
        return GrpcOrdersClient(f"{host}:{port}", tls=tls)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise OrdersSettingsError("PAYMENTS_ORDERS_URL must look like http(s)://host[:port][/base]")
        if files is None:
            return HttpOrdersClient(url)
        return HttpOrdersClient(url, verify=files.context)
    raise OrdersSettingsError("PAYMENTS_ORDERS_URL must start with grpc://, grpcs://, http:// or https://")
