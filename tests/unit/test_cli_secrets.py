"""Every secret of the process is masked wherever it appears verbatim in a log line."""

from __future__ import annotations

import io
import logging

from pydantic import SecretStr

from payments.cli import _secret_values
from payments.config import Settings
from payments.observability.logging import REDACTED, configure_logging

PLANTED = {
    "api_token": "plantedApiToken-7fQ2xL9mZ4kV1cR8",
    "jwt_secret": "plantedJwtSecret-3nB6wY0pT5hJ2sD",
    "session_secret": "plantedSessionSecret-8gK1vN4qW7eU",
    "audit secret": "plantedAuditSecret-5rM9cX2zA6yH0",
    "database password": "plantedDbPass-4tP7",
}


def test_each_of_the_process_secrets_is_masked_by_its_value() -> None:
    settings = Settings(
        api_token=SecretStr(PLANTED["api_token"]),
        jwt_secret=SecretStr(PLANTED["jwt_secret"]),
        session_secret=SecretStr(PLANTED["session_secret"]),
        audit_keys=[SecretStr("k1:" + PLANTED["audit secret"])],
        database_url=f"postgresql+asyncpg://payments:{PLANTED['database password']}@db/payments",
    )
    stream = io.StringIO()
    configure_logging("info", stream=stream, secrets=_secret_values(settings))
    try:
        for name, value in PLANTED.items():
            # Plain words around it: no pattern would know it for a secret, only its value does.
            logging.getLogger("payments.test").warning("the %s is %s here", name, value)
    finally:
        configure_logging("info", stream=io.StringIO())
    text = stream.getvalue()
    assert text.count(REDACTED) == len(PLANTED)
    for value in PLANTED.values():
        assert value not in text
