"""TLS for the gRPC server: the API token crosses the network on every call, so it must be encrypted.

A certificate and key turn TLS on; a client CA on top requires every client to present a certificate that
CA signed (mutual TLS), so a leaked token alone is not enough to call us. Production refuses to start
without the certificate and key (``payments.production``); dev without them listens in plain text.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from payments.config import ConfigError, Settings


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc.strerror})") from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """None: plain text (dev only, and only when no TLS setting is given at all)."""
    cert, key, client_ca = (
        settings.grpc_tls_cert_file,
        settings.grpc_tls_key_file,
        settings.grpc_tls_client_ca_file,
    )
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError(
                "PAYMENTS_GRPC_TLS_CLIENT_CA_FILE needs PAYMENTS_GRPC_TLS_CERT_FILE and _KEY_FILE"
            )
        return None
    if cert is None or key is None:
        missing = "PAYMENTS_GRPC_TLS_CERT_FILE" if cert is None else "PAYMENTS_GRPC_TLS_KEY_FILE"
        raise ConfigError(f"{missing} is required with the other gRPC TLS file")
    pair = (_read(key, "PAYMENTS_GRPC_TLS_KEY_FILE"), _read(cert, "PAYMENTS_GRPC_TLS_CERT_FILE"))
    roots = _read(client_ca, "PAYMENTS_GRPC_TLS_CLIENT_CA_FILE") if client_ca is not None else None
    return grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=roots is not None)


__all__ = ["server_credentials"]
