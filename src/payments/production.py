"""What ``PAYMENTS_ENV=prod`` refuses to start with: every refusal names the setting to fix.

Called by every entry point that can move money or write the books (``serve``, its workers, the relay, the
CLI commands behind a container), so no path runs production on a test key, the emulator, a guessable
secret, an unencrypted gRPC port or SQLite. docs/security.md says what each refusal defends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from payments.config import STRIPE_API_BASE, ConfigError, Settings

MIN_SECRET_BYTES = 32
# "a" * 32 is long enough and guessable: a secret also needs this many different characters (a random
# one of 32 characters has about 20; hex has 16).
MIN_DISTINCT_CHARS = 10
_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_", "pk_test_")
_LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
_MIN_KEY_BODY = 16  # Stripe's live keys carry about a hundred characters after the prefix


def production_problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every reason ``settings`` (and the process environment) cannot run production, each naming its
    variable."""
    problems: list[str] = []
    problems += _tracers(os.environ if environ is None else environ)
    problems += _stripe(settings)
    problems += _secrets(settings)
    problems += _grpc(settings)
    problems += _orders(settings)
    problems += _public(settings)
    if not settings.database_url.startswith(("postgresql+asyncpg://", "postgresql://")):
        problems.append("PAYMENTS_DATABASE_URL must be a PostgreSQL URL (postgresql+asyncpg://…) in prod")
    return problems


def check_production(settings: Settings) -> None:
    if not settings.is_prod:
        return
    problems = production_problems(settings)
    if problems:
        raise ConfigError("PAYMENTS_ENV=prod refuses to start: " + "; ".join(problems))


def _stripe(settings: Settings) -> list[str]:
    problems = []
    key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
    if not key:
        problems.append("PAYMENTS_STRIPE_API_KEY is required")
    elif key.startswith(_TEST_KEY_PREFIXES):
        problems.append("PAYMENTS_STRIPE_API_KEY is a test key; prod needs a live key (sk_live_/rk_live_)")
    elif not key.startswith(_LIVE_KEY_PREFIXES) or len(key.strip()) < len("sk_live_") + _MIN_KEY_BODY:
        problems.append("PAYMENTS_STRIPE_API_KEY is not a Stripe live key (sk_live_/rk_live_)")
    base = settings.stripe_api_base
    if base is not None and base.rstrip("/") != STRIPE_API_BASE:
        problems.append(f"PAYMENTS_STRIPE_API_BASE must be unset or {STRIPE_API_BASE} in prod")
    return problems


def _secrets(settings: Settings) -> list[str]:
    problems = []
    if settings.api_token is None:
        problems.append("PAYMENTS_API_TOKEN is required")
    elif _weak(settings.api_token.get_secret_value()):
        problems.append(f"PAYMENTS_API_TOKEN is weak: {_STRONG}")
    named: list[tuple[str, SecretStr | None]] = [("PAYMENTS_API_TOKEN", settings.api_token)]
    for name, optional in (
        ("PAYMENTS_JWT_SECRET", settings.jwt_secret),
        ("PAYMENTS_SESSION_SECRET", settings.session_secret),
    ):
        if optional is None:
            continue
        if _weak(optional.get_secret_value()):
            problems.append(f"{name} is weak: {_STRONG}")
        # One secret per role: the holder of one must not be able to sign as another.
        problems += [
            f"{name} must differ from {other}"
            for other, value in named
            if value is not None and value.get_secret_value() == optional.get_secret_value()
        ]
        named.append((name, optional))
    if not settings.stripe_webhook_secrets:
        problems.append("PAYMENTS_STRIPE_WEBHOOK_SECRETS is required")
    elif any(_weak(s.get_secret_value()) for s in settings.stripe_webhook_secrets):
        problems.append(f"PAYMENTS_STRIPE_WEBHOOK_SECRETS: every secret must be strong: {_STRONG}")
    if not settings.audit_keys:
        problems.append("PAYMENTS_AUDIT_KEYS is required (id:secret, kept outside the database)")
    else:
        from payments.domain.audit_chain import AuditKeyError, parse_audit_keys

        try:
            keys = parse_audit_keys([k.get_secret_value() for k in settings.audit_keys])
        except AuditKeyError as exc:
            problems.append(f"PAYMENTS_AUDIT_KEYS: {exc}")
        else:
            if any(_weak(k.secret.decode()) for k in keys):
                problems.append(f"PAYMENTS_AUDIT_KEYS: every key must be strong: {_STRONG}")
    return problems


def _grpc(settings: Settings) -> list[str]:
    problems = []
    for name, path in (
        ("PAYMENTS_GRPC_TLS_CERT_FILE", settings.grpc_tls_cert_file),
        ("PAYMENTS_GRPC_TLS_KEY_FILE", settings.grpc_tls_key_file),
    ):
        if path is None:
            problems.append(f"{name} is required: gRPC carries the API token and must use TLS in prod")
        elif not _readable(path):
            problems.append(f"{name}: cannot read {path}")
    ca = settings.grpc_tls_client_ca_file
    if ca is not None and not _readable(ca):
        problems.append(f"PAYMENTS_GRPC_TLS_CLIENT_CA_FILE: cannot read {ca}")
    return problems


def _tracers(environ: Mapping[str, str]) -> list[str]:
    # gRPC's C core writes its traces to stderr, past our log redaction, and some of them print call
    # metadata whole: the bearer token Orders sends us, and ours to Orders (seen with GRPC_TRACE=all).
    if environ.get("GRPC_TRACE", "").strip():
        return ["GRPC_TRACE must be unset in prod: gRPC's traces print call metadata, API tokens included"]
    return []


def _orders(settings: Settings) -> list[str]:
    if not settings.orders_url:
        return []
    scheme = urlsplit(settings.orders_url.strip()).scheme.lower()
    if scheme not in ("grpcs", "https"):
        return ["PAYMENTS_ORDERS_URL must use TLS (grpcs:// or https://) in prod"]
    return []


def _public(settings: Settings) -> list[str]:
    # Customers land on it after paying and Stripe posts webhooks to it: never guessed from the port.
    if not settings.public_url:
        return ["PAYMENTS_PUBLIC_URL is required (https://…, where customers and Stripe reach us)"]
    if urlsplit(settings.public_url.strip()).scheme.lower() != "https":
        return ["PAYMENTS_PUBLIC_URL must be an https:// URL in prod"]
    return []


_STRONG = f"at least {MIN_SECRET_BYTES} bytes, of at least {MIN_DISTINCT_CHARS} different characters"


def _weak(secret: str) -> bool:
    value = secret.strip()  # the bearer parser strips: 32 spaces would be a token nobody can send
    return len(value.encode()) < MIN_SECRET_BYTES or len(set(value)) < MIN_DISTINCT_CHARS


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


__all__ = ["MIN_SECRET_BYTES", "check_production", "production_problems"]
