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
_PATTERNS = (
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9]+"),
    re.compile(r"\bt=\d+,v\d=[0-9a-f]+(?:,v\d=[0-9a-f]+)*"),
    re.compile(r"\bv1=[0-9a-f]{16,}"),
    re.compile(r"\bpi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


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
