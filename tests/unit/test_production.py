"""PAYMENTS_ENV=prod refuses every unsafe setting, and the message names the setting to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from payments.config import ConfigError, Settings
from payments.production import check_production

STRONG = "Zq81LmNop3NkX9fLk0aB2c4D6e8F1g3H"  # 32 bytes, varied, as a generated secret is


def strong(tag: str) -> str:
    """A strong secret of its own for each role (they must differ)."""
    return f"{tag}-{STRONG}"


def prod_settings(tmp_path: Path, **overrides: Any) -> Settings:
    cert, key = tmp_path / "grpc.crt", tmp_path / "grpc.key"
    cert.write_text("cert")
    key.write_text("key")
    values: dict[str, Any] = {
        "env": "prod",
        "database_url": "postgresql+asyncpg://payments@db/payments",
        "stripe_api_key": SecretStr("sk_live_" + "x" * 24),
        "stripe_webhook_secrets": [SecretStr("whsec_" + STRONG)],
        "api_token": SecretStr(strong("api")),
        "jwt_secret": SecretStr(strong("jwt")),
        "audit_keys": [SecretStr("k1:" + strong("audit"))],
        "grpc_tls_cert_file": cert,
        "grpc_tls_key_file": key,
        "public_url": "https://pay.example.com",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(autouse=True)
def _no_grpc_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRPC_TRACE", raising=False)


def test_a_complete_production_configuration_starts(tmp_path: Path) -> None:
    check_production(prod_settings(tmp_path))
    check_production(prod_settings(tmp_path, stripe_api_base="https://api.stripe.com/"))
    check_production(prod_settings(tmp_path, stripe_api_key=SecretStr("rk_live_" + "x" * 24)))
    check_production(prod_settings(tmp_path, orders_url="grpcs://orders.internal:443"))


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"stripe_api_key": None}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_api_key": SecretStr("sk_test_" + "x" * 24)}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_api_key": SecretStr("rk_test_" + "x" * 24)}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_api_key": SecretStr("sk_test_emulator")}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_api_key": SecretStr("not-a-stripe-key-at-all")}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_api_base": "http://127.0.0.1:12111"}, "PAYMENTS_STRIPE_API_BASE"),
        ({"stripe_api_base": "http://api.stripe.com"}, "PAYMENTS_STRIPE_API_BASE"),
        ({"stripe_api_base": "https://api.stripe.com.evil.example"}, "PAYMENTS_STRIPE_API_BASE"),
        ({"api_token": None}, "PAYMENTS_API_TOKEN"),
        ({"api_token": SecretStr("x")}, "PAYMENTS_API_TOKEN"),
        ({"api_token": SecretStr("x" * 31)}, "PAYMENTS_API_TOKEN"),
        ({"api_token": SecretStr("x" * 64)}, "PAYMENTS_API_TOKEN"),
        ({"api_token": SecretStr(" " * 40)}, "PAYMENTS_API_TOKEN"),
        ({"jwt_secret": SecretStr("j" * 32)}, "PAYMENTS_JWT_SECRET"),
        ({"jwt_secret": SecretStr(strong("api"))}, "PAYMENTS_JWT_SECRET must differ from PAYMENTS_API_TOKEN"),
        ({"session_secret": SecretStr(strong("jwt"))}, "PAYMENTS_SESSION_SECRET must differ"),
        ({"stripe_api_key": SecretStr("sk_live_")}, "PAYMENTS_STRIPE_API_KEY"),
        ({"stripe_webhook_secrets": [SecretStr("whsec_" + "w" * 32)]}, "PAYMENTS_STRIPE_WEBHOOK_SECRETS"),
        ({"audit_keys": [SecretStr("k1:" + "a" * 32)]}, "PAYMENTS_AUDIT_KEYS"),
        ({"jwt_secret": SecretStr("short")}, "PAYMENTS_JWT_SECRET"),
        ({"session_secret": SecretStr("short")}, "PAYMENTS_SESSION_SECRET"),
        ({"stripe_webhook_secrets": []}, "PAYMENTS_STRIPE_WEBHOOK_SECRETS"),
        ({"stripe_webhook_secrets": [SecretStr("whsec_1")]}, "PAYMENTS_STRIPE_WEBHOOK_SECRETS"),
        ({"audit_keys": []}, "PAYMENTS_AUDIT_KEYS"),
        ({"audit_keys": [SecretStr("k1:short")]}, "PAYMENTS_AUDIT_KEYS"),
        ({"audit_keys": [SecretStr("no-id-" + "a" * 32)]}, "PAYMENTS_AUDIT_KEYS"),
        ({"grpc_tls_cert_file": None}, "PAYMENTS_GRPC_TLS_CERT_FILE"),
        ({"grpc_tls_key_file": None}, "PAYMENTS_GRPC_TLS_KEY_FILE"),
        ({"grpc_tls_key_file": Path("/nonexistent/grpc.key")}, "PAYMENTS_GRPC_TLS_KEY_FILE"),
        ({"grpc_tls_client_ca_file": Path("/nonexistent/ca.pem")}, "PAYMENTS_GRPC_TLS_CLIENT_CA_FILE"),
        ({"orders_url": "grpc://orders.internal:50051"}, "PAYMENTS_ORDERS_URL"),
        ({"orders_url": "http://orders.internal"}, "PAYMENTS_ORDERS_URL"),
        ({"database_url": "sqlite+aiosqlite:///./payments.db"}, "PAYMENTS_DATABASE_URL"),
        ({"database_url": "mysql+aiomysql://db/payments"}, "PAYMENTS_DATABASE_URL"),
        ({"public_url": None}, "PAYMENTS_PUBLIC_URL"),
        ({"public_url": "http://pay.example.com"}, "PAYMENTS_PUBLIC_URL"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_production_refuses_and_names_the_setting(
    tmp_path: Path, override: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check_production(prod_settings(tmp_path, **override))
    assert setting in str(refused.value)


@pytest.mark.parametrize("tracers", ["all", "http,hpack_parser"])
def test_production_refuses_grpc_tracing_which_prints_call_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracers: str
) -> None:
    monkeypatch.setenv("GRPC_TRACE", tracers)
    with pytest.raises(ConfigError) as refused:
        check_production(prod_settings(tmp_path))
    assert "GRPC_TRACE" in str(refused.value)


def test_grpc_tracing_is_left_to_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_TRACE", "all")
    check_production(Settings())


def test_a_refusal_never_repeats_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        check_production(
            prod_settings(
                tmp_path, api_token=SecretStr("tiny-token"), stripe_api_key=SecretStr("sk_test_leak")
            )
        )
    assert "tiny-token" not in str(refused.value) and "sk_test_leak" not in str(refused.value)


def test_dev_is_not_held_to_production_rules() -> None:
    check_production(Settings(api_token=SecretStr("x"), stripe_api_key=SecretStr("sk_test_x")))


@pytest.mark.parametrize(
    ("key", "base", "expected"),
    [
        (None, None, "http://127.0.0.1:12111"),  # nothing configured: the embedded emulator
        ("sk_test_emulator", None, "http://127.0.0.1:12111"),
        ("sk_test_real", None, None),  # a real key goes to Stripe, never to a loopback port
        ("sk_live_real", None, None),
        ("sk_test_real", "http://127.0.0.1:9999", "http://127.0.0.1:9999"),  # explicit wins
    ],
)
def test_only_the_emulator_key_falls_back_to_the_emulator_address(
    key: str | None, base: str | None, expected: str | None
) -> None:
    settings = Settings(stripe_api_key=SecretStr(key) if key else None, stripe_api_base=base)
    assert settings.effective_api_base() == expected
