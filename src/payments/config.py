"""Configuration from the environment (prefix ``PAYMENTS_``), as the contract lists it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

EMULATOR_API_KEY = "sk_test_emulator"


class Env(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ConfigError(RuntimeError):
    """The configuration cannot run; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    env: Env = Env.DEV
    database_url: str = "sqlite+aiosqlite:///./payments.db"
    redis_url: str | None = None
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    api_token: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    orders_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 50051
    export_pool_size: int = Field(default=2, ge=1, le=20)  # connections for CSV downloads, apart
    http_limit_concurrency: int = Field(default=1024, ge=16)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=120)
    public_url: str | None = None  # how Stripe reaches our webhook; default http://HOST:HTTP_PORT
    commission_rate_bps: int = Field(default=1000, ge=0, le=10_000)
    commission_min_amount: int = Field(default=100, ge=0)
    commission_hold_days: int = Field(default=30, ge=0)
    referral_velocity_per_hour: int = Field(default=20, ge=1)
    max_payment_amount: int = Field(default=100_000_000, ge=1)
    checkout_expires_minutes: int = Field(default=60, ge=30, le=24 * 60)
    success_url: str = "http://127.0.0.1:8000/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    cancel_url: str = "http://127.0.0.1:8000/checkout/cancel"
    event_retention_days: int = Field(default=90, ge=30)
    emulator_port: int = 12111
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    log_level: str = "info"

    @field_validator("stripe_webhook_secrets", mode="before")
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

    def require_production_secrets(self) -> None:
        if not self.is_prod:
            return
        missing = [
            name
            for name, value in (
                ("PAYMENTS_STRIPE_API_KEY", self.stripe_api_key),
                ("PAYMENTS_STRIPE_WEBHOOK_SECRETS", self.stripe_webhook_secrets),
                ("PAYMENTS_API_TOKEN", self.api_token),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"PAYMENTS_ENV=prod refuses to start without {', '.join(missing)}")
        if self.database_url.startswith("sqlite"):
            raise ConfigError("PAYMENTS_ENV=prod needs PAYMENTS_DATABASE_URL=postgresql+asyncpg://...")

    def webhook_secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in self.stripe_webhook_secrets]
