"""The Stripe SDK's own log lines, formatted only when the ``stripe`` logger would emit them.

The SDK formats a logfmt line for every request and answer before asking whether anyone logs it: four
per call, the request form and the answer body among them (a customer's email, a client secret). That
was a twentieth of the CPU a payment cost, for lines our logging config drops (the ``stripe`` logger sits
at WARNING). With ``STRIPE_LOG`` or ``stripe.log`` set, the SDK also prints those lines straight to
stderr, past our redaction; here they go to the ``stripe`` logger only, and through its handlers.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe._api_requestor as _api_requestor
import stripe._util as _util

_LOGGER = logging.getLogger("stripe")


def _gated(level: int) -> Any:
    def log(message: str, **params: Any) -> None:
        if _LOGGER.isEnabledFor(level):
            _LOGGER.log(level, _util.logfmt(dict(message=message, **params)))  # type: ignore[no-untyped-call]

    log.gated = True  # type: ignore[attr-defined]
    return log


def gate_sdk_logging() -> None:
    """Idempotent. The SDK calls these by the names its modules imported, and through ``_util``."""
    if getattr(_util.log_info, "gated", False):
        return
    info, debug = _gated(logging.INFO), _gated(logging.DEBUG)
    _util.log_info = info
    _util.log_debug = debug
    _api_requestor.log_info = info  # type: ignore[attr-defined]
    _api_requestor.log_debug = debug  # type: ignore[attr-defined]
