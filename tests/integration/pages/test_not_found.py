"""An address no route answers (or with a part that is not valid): a page under the console and the
dashboard, the API's JSON elsewhere."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.service import running_service

NO_AUTH = {"Authorization": ""}


@pytest.mark.parametrize(
    ("path", "home"),
    [("/console/nope", "/console"), ("/console/payments/x/y/z", "/console"), ("/referrer/nope", "/referrer")],
)
async def test_an_unknown_page_address_is_the_pages_404(engine: AsyncEngine, path: str, home: str) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get(path, headers=NO_AUTH)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]  # a page's headers
    assert "Page not found" in answer.text and f'href="{home}"' in answer.text


async def test_a_page_opened_the_wrong_way_is_a_page_too(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get("/console/signout", headers=NO_AUTH)  # a form's POST only
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html") and "Not allowed" in answer.text


async def test_an_invalid_part_of_a_page_address_is_a_page_naming_it(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get("/console/payments", params={"q": "x" * 600}, headers=NO_AUTH)
        api = await svc.http.get("/v1/payments/" + "x" * 300)
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "Not a valid address" in answer.text and "q: String should have at most" in answer.text
    assert api.status_code == 422 and api.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("path", ["/v1/nope", "/consoles", "/referrers/x", "/nope"])
async def test_an_unknown_address_elsewhere_is_the_apis_json_404(engine: AsyncEngine, path: str) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "Not Found"}}
