"""In prod, /docs and /openapi.json are off and /metrics needs the API token, unless settings open them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.service import TOKEN, running_service
from tests.unit.test_production import prod_settings


def _prod(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    settings = prod_settings(tmp_path, api_token=TOKEN + "-" * (32 - len(TOKEN)), **overrides)
    return dict(settings)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_prod_serves_no_schema_unless_told_to(engine: AsyncEngine, tmp_path: Path, path: str) -> None:
    async with running_service(engine, **_prod(tmp_path)) as svc:
        assert (await svc.http.get(path)).status_code == 404
    async with running_service(engine, **_prod(tmp_path, expose_docs=True)) as svc:
        assert (await svc.http.get(path)).status_code == 200
    async with running_service(engine) as svc:  # dev
        assert (await svc.http.get(path)).status_code == 200


async def test_prod_metrics_need_the_token_unless_declared_public(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = _prod(tmp_path)
    token = settings["api_token"].get_secret_value()
    async with running_service(engine, **settings) as svc:
        assert (await svc.http.get("/metrics", headers={"Authorization": ""})).status_code == 401
        authorised = await svc.http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert authorised.status_code == 200 and "# HELP" in authorised.text
    async with running_service(engine, **_prod(tmp_path, metrics_public=True)) as svc:
        assert (await svc.http.get("/metrics", headers={"Authorization": ""})).status_code == 200
    async with running_service(engine) as svc:  # dev
        assert (await svc.http.get("/metrics", headers={"Authorization": ""})).status_code == 200
