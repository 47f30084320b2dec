"""The referrer dashboard over HTTP: the link, what a referrer sees (their own figures, as the API reports
them) and what they never see (another referrer's data, customers, the console)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.pages.sessions import ADMIN, SessionSigner, session_key
from payments.referrals.access import issue_referrer_token
from tests.support.pages_seed import month_starts, plant_commissions, plant_many
from tests.support.service import Service, running_service

JWT_SECRET = "jwt-test-secret-long-enough-for-hs256"
NO_AUTH = {"Authorization": ""}
_BAR = re.compile(
    r'data-month="(\d{4}-\d{2})" data-gross="(\d+)"\s+data-clawed-back="(\d+)" data-net="(\d+)"'
)


def _link(referrer_id: str, minutes: int = 15, now: datetime | None = None) -> str:
    token = issue_referrer_token(
        referrer_id, JWT_SECRET, lifetime=timedelta(minutes=minutes), now=now or datetime.now(UTC)
    )
    return f"/referrer/signin?token={token}"


async def _follow(svc: Service, referrer_id: str) -> None:
    response = await svc.http.get(_link(referrer_id), headers=NO_AUTH)
    assert response.status_code == 303 and response.headers["location"] == "/referrer"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/referrer" in cookie


def _api(referrer_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode({'sub': referrer_id, 'exp': 2**40}, JWT_SECRET, 'HS256')}"}


async def test_a_bad_or_expired_link_opens_nothing(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        for link in (
            "/referrer/signin?token=nonsense",
            "/referrer/signin",
            _link("ref_a", now=datetime.now(UTC) - timedelta(hours=1)),
            "/referrer/signin?token="
            + jwt.encode(
                {"sub": "ref_a", "exp": 2**40}, "another-secret-also-long-enough-for-hs256", "HS256"
            ),
        ):
            response = await svc.http.get(link, headers=NO_AUTH)
            assert response.status_code == 401 and "set-cookie" not in response.headers, link
        assert (await svc.http.get("/referrer", headers=NO_AUTH)).status_code == 401


async def test_the_dashboard_shows_the_api_report_by_month(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with running_service(engine) as svc:
        months = month_starts(now, 4)
        planted = await plant_commissions(svc.container, "ref_a", months, 15, now=now)
        await plant_commissions(svc.container, "ref_b", months[-1:], 3, now=now)
        await _follow(svc, "ref_a")
        page = await svc.http.get("/referrer", params={"from": f"{months[0]:%Y-%m}"}, headers=NO_AUTH)
        assert page.status_code == 200, page.text
        bars = {m: (int(g), int(c), int(n)) for m, g, c, n in _BAR.findall(page.text)}
        assert list(bars) == [f"{m:%Y-%m}" for m in months]
        for month, following in zip(months, [*months[1:], None], strict=True):
            params = {"from": month.isoformat()}
            if following is not None:
                params["to"] = following.isoformat()
            net = (await svc.http.get("/v1/referrers/ref_a/report", params=params)).json()["net"]
            expected = (net[0]["gross"], net[0]["clawed_back"], net[0]["net"]) if net else (0, 0, 0)
            assert bars[f"{month:%Y-%m}"] == expected, month
        report = (
            await svc.http.get("/v1/referrers/ref_a/report", params={"from": months[0].isoformat()})
        ).json()
        assert sum(t["count"] for t in report["totals"]) == planted
        for total in report["totals"]:
            assert (
                f'data-status="{total["status"]}" data-currency="{total["currency"]}" '
                f'data-count="{total["count"]}" data-amount="{total["amount"]}"' in page.text
            )
        net = report["net"][0]
        assert (
            f'data-gross="{net["gross"]}" data-clawed-back="{net["clawed_back"]}" data-net="{net["net"]}"'
            in page.text
        )
        # Only their own: no other referrer's orders, no customer ids, no guard reasons.
        assert "ord_ref_b" not in page.text and "cust_" not in page.text


async def test_pages_through_all_commissions_and_the_csv_has_the_same_rows(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with running_service(engine) as svc:
        months = month_starts(now, 2)
        await plant_commissions(svc.container, "ref_p", months, 60, now=now)
        await _follow(svc, "ref_p")
        seen: list[str] = []
        url: str | None = f"/referrer?from={months[0]:%Y-%m}"
        while url:
            page = await svc.http.get(url, headers=NO_AUTH)
            assert page.status_code == 200
            seen += re.findall(r'<tr data-id="(com_[0-9a-f]+)">', page.text)
            older = re.search(r'href="(/referrer\?[^"]+)" id="older"', page.text)
            url = older.group(1).replace("&amp;", "&") if older else None
        api = await svc.http.get(
            "/v1/referrers/ref_p/report", params={"from": months[0].isoformat(), "format": "csv"}
        )
        api_ids = [row["id"] for row in csv.DictReader(io.StringIO(api.text))]
        assert len(seen) == len(set(seen)) == len(api_ids) > 50
        assert seen == api_ids
        download = await svc.http.get(f"/referrer/commissions.csv?from={months[0]:%Y-%m}", headers=NO_AUTH)
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        assert [row["id"] for row in csv.DictReader(io.StringIO(download.text))] == api_ids


async def test_a_referrer_cannot_reach_another_referrer_or_the_console(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with running_service(engine) as svc:
        await plant_commissions(svc.container, "ref_other", month_starts(now, 1), 2, now=now)
        await _follow(svc, "ref_mine")
        page = await svc.http.get("/referrer", headers=NO_AUTH)
        assert "ref_other" not in page.text and "No commissions in this period yet" in page.text
        # No parameter names another referrer: the session is the only source of who is asking.
        tried = await svc.http.get("/referrer?referrer_id=ref_other", headers=NO_AUTH)
        assert "ref_other" not in tried.text
        # Their session, under the console's cookie name, is not a console session.
        referrer_cookie = next(c for c in svc.http.cookies.jar if c.name == "payments_referrer").value
        svc.http.cookies.set("payments_console", referrer_cookie or "", path="/console")
        console = await svc.http.get("/console", headers=NO_AUTH)
        assert console.status_code == 401 and 'action="/console/signin"' in console.text
        # And an admin session is not a referrer session.
        key = session_key(svc.container.settings)
        assert key is not None
        admin, _ = SessionSigner(key, svc.container.clock).issue(ADMIN, "ref_other", timedelta(hours=1))
        svc.http.cookies.clear()
        svc.http.cookies.set("payments_referrer", admin, path="/referrer")
        assert (await svc.http.get("/referrer", headers=NO_AUTH)).status_code == 401


async def test_a_bad_period_or_status_is_explained(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await _follow(svc, "ref_q")
        for params, message in (
            ({"from": "2026-13"}, "from: a month like 2026-03"),
            ({"from": "2020-01", "to": "2026-01"}, "at most 36 months"),
            ({"from": "2026-05", "to": "2026-01"}, "from: must not be after to"),
            ({"status": "bogus"}, "unknown status"),
        ):
            page = await svc.http.get("/referrer", params=params, headers=NO_AUTH)
            assert page.status_code == 422 and message in page.text, params


async def test_thousands_of_commissions_render_one_page_and_a_36_month_chart(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with running_service(engine) as svc:
        months = month_starts(now, 36)
        planted = await plant_many(svc.container, "ref_big", months, 30, now=now)
        assert planted > 1000
        await _follow(svc, "ref_big")
        page = await svc.http.get(
            "/referrer", params={"from": f"{months[0]:%Y-%m}", "to": f"{months[-1]:%Y-%m}"}, headers=NO_AUTH
        )
        assert page.status_code == 200
        assert len(_BAR.findall(page.text)) == 36
        assert len(re.findall(r'<tr data-id="com_', page.text)) == 50 and 'id="older"' in page.text
        counts = re.findall(r'data-status="[a-z]+" data-currency="eur" data-count="(\d+)"', page.text)
        assert sum(int(n) for n in counts) == planted
