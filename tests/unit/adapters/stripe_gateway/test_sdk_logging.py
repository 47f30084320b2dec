"""The Stripe SDK's log lines: formatted only for a logger that emits them, never printed past our
handlers."""

from __future__ import annotations

import logging
import sys

import pytest
import stripe
import stripe._api_requestor as api_requestor
import stripe._util as sdk_util

from payments.adapters.stripe_gateway.client import StripeGateway

FORM = "customer_email=ada%40example.com&amount=2500"


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> None:
    for module, name in ((sdk_util, "log_info"), (sdk_util, "log_debug")):
        monkeypatch.setattr(module, name, getattr(module, name))  # undone after the test
    for name in ("log_info", "log_debug"):
        monkeypatch.setattr(api_requestor, name, getattr(api_requestor, name))
    StripeGateway("sk_test_x", "http://127.0.0.1:9")


def test_a_line_no_logger_emits_is_never_formatted(
    gated: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    formatted: list[object] = []
    monkeypatch.setattr(sdk_util, "logfmt", lambda props: formatted.append(props) or "")
    caplog.set_level(logging.WARNING, logger="stripe")
    api_requestor.log_info("Request to Stripe api", method="post", url="/v1/checkout/sessions")
    api_requestor.log_debug("Post details", post_data=FORM)
    sdk_util.log_info("Request failed", error="x")
    assert formatted == []


def test_stripe_log_set_prints_nothing_past_our_handlers(
    gated: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(stripe, "log", "debug")
    caplog.set_level(logging.WARNING, logger="stripe")
    api_requestor.log_debug("Post details", post_data=FORM)
    assert "ada" not in capsys.readouterr().err


def test_a_logger_that_emits_still_gets_the_line(
    gated: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stripe")
    api_requestor.log_info("Stripe API response", path="/v1/refunds", response_code=200)
    assert any("Stripe API response" in r.getMessage() for r in caplog.records)


def test_every_sdk_module_calls_the_gated_functions(gated: None) -> None:
    """A later SDK that imports the log functions into another module fails here, not silently."""
    found = {
        f"{name}.{attr}": getattr(getattr(module, attr), "gated", False)
        for name, module in list(sys.modules.items())
        if name == "stripe" or name.startswith("stripe.")
        for attr in ("log_info", "log_debug")
        if callable(getattr(module, attr, None))
    }
    assert found and all(found.values()), found
