"""OpenAPI documents every answer: the success model and each error with the one error body."""

from __future__ import annotations

from typing import Any, cast

import pytest

from payments import bootstrap
from payments.api.http.app import create_app
from payments.config import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # A dev container (the app reads its settings, e.g. whether to serve the schema); nothing connects.
    container = bootstrap.build(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    return create_app(container).openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _schema_ref(response: dict[str, Any]) -> str | None:
    content = response.get("content", {}).get("application/json", {})
    return cast(str | None, content.get("schema", {}).get("$ref"))


def test_every_error_answer_is_documented_with_the_error_body(spec: dict[str, Any]) -> None:
    errors = [
        (path, method, status, _schema_ref(response))
        for path, method, op in _operations(spec)
        for status, response in op["responses"].items()
        if status[0] in "45"
    ]
    assert errors, "no error answers documented at all"
    # /readyz answers 503 with its report, not an error: what is down is the answer.
    wrong = [
        e for e in errors if e[3] != "#/components/schemas/ErrorOut" and e[:3] != ("/readyz", "get", "503")
    ]
    assert wrong == []
    assert spec["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReadyOut"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_authenticated_route_documents_401_and_422(spec: dict[str, Any]) -> None:
    for path, method, op in _operations(spec):
        if path.startswith("/v1/") and path != "/v1/webhooks/stripe":
            assert {"401", "422"} <= set(op["responses"]), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/v1/payments", {"200", "201", "400", "401", "409", "413", "422", "502"}),
        (
            "post",
            "/v1/payments/{payment_id}/refunds",
            {"200", "201", "400", "401", "404", "409", "413", "422", "502"},
        ),
        ("get", "/v1/commissions/{commission_id}", {"200", "401", "403", "404", "422"}),
        ("post", "/v1/webhooks/stripe", {"200", "400", "409", "413", "500", "502"}),
        ("post", "/v1/referrers/{referrer_id}/payouts", {"201", "401", "409", "422"}),
    ],
)
def test_routes_document_what_they_can_answer(
    spec: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    assert set(spec["paths"][path][method]["responses"]) == statuses


def test_success_answers_are_typed(spec: dict[str, Any]) -> None:
    untyped = [
        (method, path)
        for path, method, op in _operations(spec)
        if path.startswith("/v1/")
        and path not in {"/v1/webhooks/stripe", "/v1/referrers/{referrer_id}/report"}
        for status, response in op["responses"].items()
        if status[0] == "2" and not response.get("content", {}).get("application/json", {}).get("schema")
    ]
    assert untyped == []
