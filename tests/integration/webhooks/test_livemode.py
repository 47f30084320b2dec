"""Live mode from the key (sk_live_, rk_live_) or a setting; an event of the other mode is never acked."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import commands
from payments.adapters.db.tables import stripe_events
from payments.config import ConfigError
from payments.observability.metrics import WEBHOOK_LIVEMODE_MISMATCH
from tests.support import stripe_events as se
from tests.support.service import running_service, service_settings


@pytest.mark.parametrize(
    ("key", "setting", "live"),
    [
        ("sk_live_abc", None, True),
        ("rk_live_abc", None, True),
        ("sk_test_abc", None, False),
        ("rk_test_abc", None, False),
        ("key_from_a_vault", True, True),
        ("key_from_a_vault", None, False),
    ],
)
def test_livemode_comes_from_the_key_or_the_setting(key: str, setting: bool | None, live: bool) -> None:
    settings = service_settings(stripe_api_key=SecretStr(key), stripe_livemode=setting)
    assert settings.livemode() is live


def test_a_setting_that_contradicts_the_key_stops_the_start() -> None:
    settings = service_settings(stripe_api_key=SecretStr("rk_live_abc"), stripe_livemode=False)
    with pytest.raises(ConfigError, match="PAYMENTS_STRIPE_LIVEMODE"):
        settings.livemode()


async def test_a_restricted_live_key_applies_live_events(engine: AsyncEngine) -> None:
    async with running_service(engine, stripe_api_key=SecretStr("rk_live_restricted")) as svc:
        pid = await svc.add_payment("ord_live")
        completed = se.session("cs_live", pid, "ord_live", "pi_live")
        response = await svc.deliver(se.event("checkout.session.completed", completed, livemode=True))
        assert response.status_code == 200
        assert (await svc.payment(pid)).status == "succeeded"


async def test_an_event_of_the_other_mode_is_stored_failed_listed_and_never_acked(
    engine: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_service(engine, stripe_api_key=SecretStr("rk_live_restricted")) as svc:
        pid = await svc.add_payment("ord_mode")
        evt = se.event("checkout.session.completed", se.session("cs_mode", pid, "ord_mode", "pi_mode"))
        counted = WEBHOOK_LIVEMODE_MISMATCH._value.get()
        for attempt in (1, 2):
            response = await svc.deliver(evt)
            # Not 2xx: Stripe keeps retrying until the configuration is fixed, and the event is not settled.
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "livemode_mismatch"
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(
                            stripe_events.c.status, stripe_events.c.last_error, stripe_events.c.attempts
                        ).where(stripe_events.c.id == evt["id"])
                    )
                ).one()
            assert row.status == "failed"
            assert "test-mode event at a live-mode service" in row.last_error
            assert row.attempts == attempt
        assert WEBHOOK_LIVEMODE_MISMATCH._value.get() == counted + 2
        assert (await svc.payment(pid)).status == "open"
        assert await svc.history("ord_mode") == []

    settings = service_settings(database_url=database_url)
    capsys.readouterr()
    assert await commands.events_list(settings, None, 100) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith(evt["id"]))
    assert "checkout.session.completed  failed  attempts=2" in line
    assert "LivemodeMismatch" in line
    assert await commands.events_list(settings, "ignored", 100) == 0
    assert evt["id"] not in capsys.readouterr().out
