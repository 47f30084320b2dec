"""Structured JSON logs that cannot leak secrets, signatures, emails or card numbers.

Redaction is a processor at the end of the chain, so a careless ``log.info(..., email=x)`` anywhere is
still masked: by key name (anything that looks like a secret, header or email field) and by value
pattern (emails, card-like digit runs, Stripe secrets and signatures).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SENSITIVE_KEYS = re.compile(
    r"(secret|password|token|authorization|signature|api_key|apikey|email|card|cvc|pan|cookie)", re.I
)
# One alternation, one pass over each value (logging runs on every webhook).
_SECRETS = re.compile(
    "|".join(
        (
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",  # email
            r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+",  # Stripe keys
            r"\bwhsec_[A-Za-z0-9]+",  # webhook secrets
            r"\bt=\d+,v\d=[0-9a-f]+(?:,v\d=[0-9a-f]+)*",  # a Stripe-Signature header
            r"\bv1=[0-9a-f]{16,}",  # a signature alone
            r"\bpi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+",  # a PaymentIntent client secret
            r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",  # a JWT
        )
    )
)
REDACTED = "[redacted]"


# Card numbers: 13 to 19 digits, maybe spaced or dashed, glued to anything but another digit (a traceback
# quotes "'4242424242424242EUR'"); only runs that pass the Luhn check, so ids and timestamps survive.
_CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return REDACTED if _luhn_ok(digits) else match.group(0)


def redact_text(text: str) -> str:
    return _SECRETS.sub(REDACTED, _CARD_LIKE.sub(_mask_card, text))


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEYS.search(key) and key not in {"card_fingerprint_known"}:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = (
            _redact_value(key, event_dict[key]) if key != "event" else redact_text(str(event_dict[key]))
        )
    return event_dict


def configure_logging(level: str = "info", stream: Any = None) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_StdlibRedactor())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Third-party loggers (uvicorn, grpc, stripe) go through the same redaction.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    for noisy in ("stripe", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _StdlibRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = redact_text(record.getMessage())
            record.args = None
        elif isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True
