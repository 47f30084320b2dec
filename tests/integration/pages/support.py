"""Helpers for the pages' HTTP tests: a signed-in client, the CSRF token of a page, planted work."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from payments.adapters.db.events_repo import record_failure
from payments.adapters.db.tables import operator_actions
from payments.records import IncomingEvent
from tests.support import stripe_events as se
from tests.support.service import TOKEN, Service

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


async def sign_in(svc: Service) -> httpx.Response:
    """Signs the service's client in to the console (its cookie jar keeps the session)."""
    response = await svc.http.post(
        "/console/signin", data={"token": TOKEN}, headers={"Authorization": ""}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response


async def console_csrf(svc: Service) -> str:
    page = await svc.http.get("/console", headers={"Authorization": ""})
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def plant_failed_event(svc: Service, order_id: str, amount: int = 10_000) -> tuple[str, str]:
    """An open payment and a checkout.session.completed for it that is stored failed, as after a DB blip."""
    pid = await svc.add_payment(order_id, amount=amount, session_id=f"cs_{order_id}")
    evt = se.event(
        "checkout.session.completed", se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}")
    )
    body, _ = se.signed(evt, "unused")
    async with svc.engine.begin() as conn:
        await record_failure(
            conn, IncomingEvent.of(evt, body.decode()), svc.container.clock(), "OperationalError"
        )
    return pid, str(evt["id"])


async def operator_entries(svc: Service) -> list[tuple[str, str, str, bool]]:
    async with svc.engine.connect() as conn:
        rows = await conn.execute(
            select(
                operator_actions.c.actor,
                operator_actions.c.action,
                operator_actions.c.subject,
                operator_actions.c.ok,
            ).order_by(operator_actions.c.at)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
