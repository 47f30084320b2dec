"""Configuration from the environment (prefix ``PAYMENTS_``), as the contract lists it.

Security settings (TLS, audit keys, JWT claims, docs/metrics exposure) and what ``PAYMENTS_ENV=prod``
refuses are described in docs/security.md; the refusals themselves live in ``production``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from payments.domain.audit_chain import AuditKey, AuditKeyError, AuditKeyring, parse_audit_keys

if TYPE_CHECKING:
    from payments.referrals.access import TokenPolicy

EMULATOR_API_KEY = "sk_test_emulator"
# Dev only, and public on purpose: production refuses to start without PAYMENTS_AUDIT_KEYS.
DEV_AUDIT_KEY = AuditKey("dev", b"dev-only audit key, public, never used in prod")
STRIPE_API_BASE = "https://api.stripe.com"


class Env(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ConfigError(RuntimeError):
    """The configuration cannot run; the message is one line for the operator."""


_LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    env: Env = Env.DEV
    database_url: str = "sqlite+aiosqlite:///./payments.db"
    redis_url: str | None = None
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None
    # None: live when the key is a live one (sk_live_/rk_live_). Set it when the key says nothing.
    stripe_livemode: bool | None = None
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    api_token: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    # Signs the pages' cookie sessions; unset, a key is derived from PAYMENTS_API_TOKEN (or the JWT secret).
    session_secret: SecretStr | None = None
    orders_url: str | None = None
    # Loopback unless told otherwise: a container or host that should listen on every interface says so.
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 50051
    # Connections per process. A request that waits for one costs more CPU in SQLAlchemy's pool than a
    # connection costs PostgreSQL, so the pool covers the webhook concurrency Stripe brings (tens); a
    # smaller one also opens and closes its overflow connections under load.
    database_pool_size: int = Field(default=32, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    export_pool_size: int = Field(default=2, ge=1, le=20)  # connections for CSV downloads, apart
    http_limit_concurrency: int = Field(default=1024, ge=16)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=120)
    # Where Stripe and customers reach us (webhook, landing pages); dev default http://HOST:HTTP_PORT.
    public_url: str | None = None
    commission_rate_bps: int = Field(default=1000, ge=0, le=10_000)
    commission_min_amount: int = Field(default=100, ge=0)
    commission_hold_days: int = Field(default=30, ge=0)
    referral_velocity_per_hour: int = Field(default=20, ge=1)
    # Stripe takes at most eight digits of minor units; more would be a 422 from Stripe, not from us.
    max_payment_amount: int = Field(default=99_999_999, ge=1, le=99_999_999)
    # Stripe accepts 30 min to 24 h; 2 minutes either side are kept for latency and clock skew.
    # The floor leaves a fresh window 3 minutes of retries before Stripe would refuse it (MIN_LIFETIME).
    checkout_expires_minutes: int = Field(default=60, ge=35, le=24 * 60 - 2)
    # Where the hosted page sends the customer; unset: our own /checkout/success and /checkout/cancel.
    success_url: str | None = None
    cancel_url: str | None = None
    event_retention_days: int = Field(default=90, ge=30)
    # Housekeeping sweeps Stripe's Events API up to this far behind now (webhooks usually arrive first).
    event_sweep_seconds: int = Field(default=300, ge=1, le=86_400)
    emulator_port: int = 12111
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    log_level: str = "info"
    # gRPC server TLS; a client CA also requires clients to present a certificate it signed (mTLS).
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None
    grpc_tls_client_ca_file: Path | None = None
    # Orders client over grpcs:// (TLS): a private CA instead of the system roots, and a client certificate.
    orders_tls_ca_file: Path | None = None
    orders_tls_cert_file: Path | None = None
    orders_tls_key_file: Path | None = None
    # ``id:secret,id:secret``: the first signs new audit entries, every one verifies (key rotation).
    audit_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Entries up to this seq were written before the chain was keyed (plain SHA-256); see docs/security.md.
    audit_legacy_until_seq: int = Field(default=0, ge=0)
    # Referrer JWTs must carry this audience and issuer, and live at most this long.
    jwt_audience: str = "payments:referrer"
    jwt_issuer: str = "payments"
    jwt_max_lifetime_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    # /docs and /openapi.json: None means on in dev, off in prod. /metrics: None means open in dev and
    # behind the API token in prod; true opens it (a scraper on a private network), false requires the token.
    expose_docs: bool | None = None
    metrics_public: bool | None = None

    @field_validator("stripe_webhook_secrets", "audit_keys", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def is_prod(self) -> bool:
        return self.env is Env.PROD

    @property
    def uses_emulator(self) -> bool:
        """Dev with no Stripe base configured: ``payments serve`` starts the emulator for us."""
        return not self.is_prod and self.stripe_api_base is None and self.stripe_api_key is None

    @property
    def public_base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::", "") else self.http_host  # noqa: S104
        return f"http://{host}:{self.http_port}"

    @property
    def default_success_url(self) -> str:
        return (
            self.success_url or f"{self.public_base_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        )

    @property
    def default_cancel_url(self) -> str:
        return self.cancel_url or f"{self.public_base_url}/checkout/cancel"

    def effective_api_base(self) -> str | None:
        """Where the SDK sends requests; None is Stripe's own. Only the emulator's key (or none) falls back
        to the local emulator: a real key with no base goes to Stripe over TLS, never to a loopback port."""
        if self.stripe_api_base is not None:
            return self.stripe_api_base
        key = self.stripe_api_key.get_secret_value() if self.stripe_api_key else EMULATOR_API_KEY
        if not self.is_prod and key == EMULATOR_API_KEY:
            return f"http://127.0.0.1:{self.emulator_port}"
        return None

    def token_policy(self) -> TokenPolicy:
        from payments.referrals.access import TokenPolicy

        return TokenPolicy(
            audience=self.jwt_audience,
            issuer=self.jwt_issuer,
            max_lifetime_seconds=self.jwt_max_lifetime_seconds,
        )

    @property
    def docs_exposed(self) -> bool:
        return self.expose_docs if self.expose_docs is not None else not self.is_prod

    @property
    def metrics_open(self) -> bool:
        return self.metrics_public if self.metrics_public is not None else not self.is_prod

    def audit_keyring(self) -> AuditKeyring:
        """The configured audit keys; in dev without any, a fixed well-known key (prod refuses that)."""
        if not self.audit_keys:
            if self.is_prod:
                raise ConfigError("PAYMENTS_AUDIT_KEYS is required in prod")
            return AuditKeyring((DEV_AUDIT_KEY,), self.audit_legacy_until_seq)
        try:
            keys = parse_audit_keys(k.get_secret_value() for k in self.audit_keys)
        except AuditKeyError as exc:
            raise ConfigError(f"PAYMENTS_AUDIT_KEYS: {exc}") from None
        return AuditKeyring(keys, self.audit_legacy_until_seq)

    def require_production_secrets(self) -> None:
        """Every entry point that can move money calls this first (see ``production``)."""
        from payments.production import check_production

        check_production(self)

    def livemode(self) -> bool:
        """Whether our Stripe account works in live mode: events of the other mode are not ours."""
        key = self.stripe_api_key.get_secret_value() if self.stripe_api_key else ""
        keyed: bool | None = None
        if key.startswith(_LIVE_KEY_PREFIXES):
            keyed = True
        elif key.startswith(_TEST_KEY_PREFIXES):
            keyed = False
        if self.stripe_livemode is not None and keyed is not None and keyed != self.stripe_livemode:
            raise ConfigError(
                f"PAYMENTS_STRIPE_LIVEMODE={str(self.stripe_livemode).lower()} contradicts "
                f"PAYMENTS_STRIPE_API_KEY, which is a {'live' if keyed else 'test'} key"
            )
        if self.stripe_livemode is not None:
            return self.stripe_livemode
        return bool(keyed)

    def webhook_secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in self.stripe_webhook_secrets]
