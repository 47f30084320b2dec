"""Property-based fuzzing of every documented route from the OpenAPI schema (Schemathesis), against a real
``payments serve`` on PostgreSQL with the service token: no 5xx, and every answer has a documented status,
content type and body shape. Examples per route are bounded so the whole run takes about a minute."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.modes import GenerationMode

from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support.processes import Proc, start_service

TOKEN = "fuzz-service-token-0123456789abcdef"
EXAMPLES_PER_ROUTE = 15


@pytest.fixture(scope="module")
def fuzzed_service(
    pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proc, str]]:
    loop = asyncio.new_event_loop()
    database = loop.run_until_complete(pg_databases.create("fuzz"))
    loop.close()
    upgrade_to_head(database)
    workdir = tmp_path_factory.mktemp("fuzz")
    env = {
        "PAYMENTS_DATABASE_URL": database,
        "PAYMENTS_STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing listens: creating a payment is a 502
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_fuzz",
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_JWT_SECRET": "fuzz-jwt-secret-0123456789abcdef0123",
    }
    proc, base = start_service(env, workdir, workdir / "service.log")
    yield proc, base
    proc.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: tuple[Proc, str]) -> schemathesis.BaseSchema:
    _, base = fuzzed_service
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    return schema.include(path_regex=r"^/(v1/|healthz$|readyz$)")  # the JSON API; pages are HTML


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS, timeout=30)

    run()


def test_every_route_answers_as_documented(api_schema: schemathesis.BaseSchema) -> None:
    """Valid and invalid inputs for each operation; every operation's failure is reported, not just the
    first one's. (Driven by hand: the Schemathesis pytest plugin does not run under this pytest.)"""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # no parameter to get wrong
            except (Exception, BaseExceptionGroup) as exc:  # Schemathesis raises a FailureGroup
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:1500]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
