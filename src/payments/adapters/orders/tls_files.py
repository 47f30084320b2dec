"""The ``PAYMENTS_ORDERS_TLS_*`` files, checked at start: a wrong combination or an unreadable file is a
one-line ``OrdersSettingsError`` (``bootstrap`` makes it a ``ConfigError``) naming the setting, never a
traceback, and never a first failure at the first delivery (gRPC takes the bytes as they are and would
only fail at the handshake)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from payments.orders_port import OrdersSettingsError

CA = "PAYMENTS_ORDERS_TLS_CA_FILE"
CERT = "PAYMENTS_ORDERS_TLS_CERT_FILE"
KEY = "PAYMENTS_ORDERS_TLS_KEY_FILE"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: bytes | None
    cert: bytes | None
    key: bytes | None
    context: ssl.SSLContext  # the same files for an https:// Orders


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OrdersSettingsError(
            f"{setting}: cannot read {path} ({exc.strerror or type(exc).__name__})"
        ) from None


def _no_passphrase() -> bytes:
    # Without this, OpenSSL asks on the terminal for an encrypted key's passphrase; gRPC cannot use one.
    return b""


def read_tls_files(ca: Path | None, cert: Path | None, key: Path | None) -> TlsFiles:
    if cert is not None and key is None:
        raise OrdersSettingsError(f"{CERT} is set without {KEY}: a client certificate needs its private key")
    if key is not None and cert is None:
        raise OrdersSettingsError(f"{KEY} is set without {CERT}: a private key needs its client certificate")
    ca_bytes = _read(ca, CA) if ca is not None else None
    cert_bytes = _read(cert, CERT) if cert is not None else None
    key_bytes = _read(key, KEY) if key is not None else None
    try:
        # A private CA replaces the system's roots, as gRPC's root_certificates does.
        context = ssl.create_default_context(cadata=ca_bytes.decode("ascii") if ca_bytes else None)
    except (ssl.SSLError, UnicodeDecodeError):
        raise OrdersSettingsError(f"{CA}: {ca} holds no PEM certificate") from None
    if cert is not None and key is not None:
        try:
            context.load_cert_chain(str(cert), str(key), password=_no_passphrase)
        except (ssl.SSLError, OSError):
            raise OrdersSettingsError(
                f"{CERT} and {KEY}: {cert} and {key} are not a PEM certificate and its private key "
                "(unencrypted)"
            ) from None
    return TlsFiles(ca_bytes, cert_bytes, key_bytes, context)
