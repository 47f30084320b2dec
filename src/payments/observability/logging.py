"""Structured JSON logs that cannot leak secrets, signatures, emails or card numbers.

Redaction happens twice, on different shapes of the same data:

- a structlog processor at the end of the chain masks by key name (anything that looks like a secret,
  header or email field) and by value pattern, tracebacks included (they are formatted to a string first);
- a formatter on every stdlib handler masks the final line of every record, so what stdlib loggers write
  (uvicorn, asyncio's "Task exception was never retrieved", grpc, SQLAlchemy, the stripe SDK) and the
  tracebacks they attach go through the same patterns.

Every string is clipped before the patterns run, and every pattern is linear in its input: a match can
start only where the previous character could not have continued it (the lookbehinds), so a long run of
letters is scanned once, not once per position. A 200 KB path costs microseconds, not seconds.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
MAX_VALUE_CHARS = 2048  # any one logged string; a traceback gets more
MAX_TRACEBACK_CHARS = 16384
MAX_LINE_CHARS = 65536  # a whole stdlib record, message and traceback

_SENSITIVE_KEYS = re.compile(
    r"(secret|password|passwd|token|authorization|signature|api_key|apikey|email|card|cvc|pan|cookie)", re.I
)
_NOT_SENSITIVE = frozenset({"card_fingerprint_known"})

# One alternation, one pass over each value (logging runs on every webhook). \w is Unicode: an address
# like jürgen@exämple.de is an email too.
_SECRETS = re.compile(
    "|".join(
        (
            r"(?P<url>(?<=://)[^/\s:@]*:[^/\s@]*@)",  # user:password@ in any URL
            # email: a local part of any of RFC 5322's characters, a dotted domain or an address literal
            r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+(?:\.[\w-]+)+|\[[^\]\s]+\])",
            r"\b(?:sk|rk)_\w{6,}",  # Stripe secret and restricted keys, any mode
            r"\bpk_(?:test|live)_\w+",  # publishable keys: not secret, but say which account
            r"\bwhsec_\w+",  # webhook signing secrets
            r"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*_secret_[A-Za-z0-9]+",  # pi_…_secret_…, seti_…, cs_…
            r"\bt=\d+,v\d=[0-9a-f]+(?:,v\d=[0-9a-f]+)*",  # a Stripe-Signature header
            r"\bv1=[0-9a-f]{16,}",  # a signature alone
            r"\beyJ[\w-]+\.[\w-]+\.[\w-]*",  # a JWT
            r"(?i:\bbearer\s+)[^\s\"',;]+",  # an Authorization header's credential
            r"(?<=\)=\()[^)\n]*",  # PostgreSQL's DETAIL: Key (user_id)=(value) already exists
            r"(?<=Failing row contains \()[^\n]*",  # ...and every column of a row it refused
        )
    )
)

# Card numbers: 13 to 19 digits, maybe spaced or dashed, glued to anything but another digit (a traceback
# quotes "'4242424242424242EUR'"); only runs that pass the Luhn check, so ids and timestamps survive.
_CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_TOKEN_CHARS = re.compile(r"[\w.@+%/=:-]")

# Exact values of this process's own secrets (API token, JWT secret, database password...), which no
# pattern can recognise: set by configure_logging from the settings.
_known_secrets: re.Pattern[str] | None = None


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


def _mask_secret(match: re.Match[str]) -> str:
    return f"{REDACTED}@" if match.group("url") else REDACTED


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """At most about ``limit`` characters: the head and the tail (where a traceback's message is).

    The cut drops the partial word on each side of it, so the half of a secret or card number that a
    cut leaves behind is not short enough to slip past the patterns and still be logged.
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    head, tail = text[:half], text[-half:]
    head = head[: len(head) - _partial(reversed(head))]
    tail = tail[_partial(iter(tail)) :]
    return f"{head}…[{len(text) - len(head) - len(tail)} chars]…{tail}"


def _partial(chars: Iterable[str], at_most: int = 128) -> int:
    n = 0
    for ch in chars:
        if n >= at_most or not _TOKEN_CHARS.match(ch):
            break
        n += 1
    return n


def redact_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    text = clip(text, limit)
    if _known_secrets is not None:
        text = _known_secrets.sub(REDACTED, text)
    return _SECRETS.sub(_mask_secret, _CARD_LIKE.sub(_mask_card, text))


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEYS.search(key) and key not in _NOT_SENSITIVE:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, MAX_TRACEBACK_CHARS if key in ("exception", "stack") else MAX_VALUE_CHARS)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))  # an object's repr can quote anything


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = (
            _redact_value(key, event_dict[key]) if key != "event" else redact_text(str(event_dict[key]))
        )
    return event_dict


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` (message, traceback, stack), then clips and redacts the whole text."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(self.inner.format(record), MAX_LINE_CHARS)


# Libraries that log through the stdlib; each must reach our handler (and only it) through the root.
THIRD_PARTY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "asyncio",
    "grpc",
    "grpc._server",
    "grpc.aio",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "stripe",
    "httpx",
    "httpcore",
    "alembic",
    "aiosqlite",
    "asyncpg",
)


def configure_logging(level: str = "info", stream: Any = None, secrets: Iterable[str | None] = ()) -> None:
    """``secrets``: this process's own secret values, masked wherever they appear verbatim."""
    global _known_secrets
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    values = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
    _known_secrets = re.compile("|".join(re.escape(s) for s in values)) if values else None

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in THIRD_PARTY_LOGGERS:
        third = logging.getLogger(name)
        third.handlers[:] = []
        third.propagate = True
    # Any other library that brought its own handler keeps it, behind the same redaction.
    for other in list(logging.Logger.manager.loggerDict.values()):
        for own in getattr(other, "handlers", ()):
            if not isinstance(own.formatter, RedactingFormatter):
                own.setFormatter(RedactingFormatter(own.formatter))
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
    # aiosqlite logs every statement's parameters at debug: never below warning, whatever the level.
    for noisy in ("stripe", "httpx", "httpcore", "alembic", "aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
