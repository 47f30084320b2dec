"""gRPC over real TLS: our server (TLS, then mutual TLS) and our client of Orders (grpcs://), with
certificates made for this run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import bootstrap
from payments.adapters.orders import OrdersSettingsError, OrdersUnavailable, orders_client_from_url
from payments.api.grpc.server import start_grpc_server
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from tests.support.certs import Pki, make_pki
from tests.support.orders_server import GrpcOrdersServer
from tests.support.processes import free_port
from tests.support.service import TOKEN, service_settings
from tests.unit.adapters.orders.test_wire import UPDATE

AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Served:
    address: str


@pytest_asyncio.fixture
async def serve_grpc(engine: AsyncEngine) -> AsyncIterator[Any]:
    servers: list[grpc.aio.Server] = []

    async def start(**tls: Any) -> Served:
        container = bootstrap.build(service_settings(**tls), engine=engine)
        address = f"127.0.0.1:{free_port()}"
        servers.append(await start_grpc_server(container, address))
        return Served(address)

    yield start
    for server in servers:
        await server.stop(grace=None)


async def _get_payment(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    """The status of GetPayment for an id that does not exist: NOT_FOUND means the call got through."""
    channel = (
        grpc.aio.secure_channel(
            address, credentials, options=(("grpc.ssl_target_name_override", "localhost"),)
        )
        if credentials is not None
        else grpc.aio.insecure_channel(address)
    )
    async with channel:
        stub = pb_grpc.PaymentsStub(channel)
        try:
            await stub.GetPayment(pb.GetPaymentRequest(id="pay_missing"), metadata=AUTH, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _client(pki: Pki, *, cert: Path | None = None, key: Path | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )


async def test_the_grpc_server_speaks_tls_and_refuses_plain_text(serve_grpc: Any, pki: Pki) -> None:
    served = await serve_grpc(grpc_tls_cert_file=pki.server_cert, grpc_tls_key_file=pki.server_key)
    assert await _get_payment(served.address, _client(pki)) is grpc.StatusCode.NOT_FOUND
    assert await _get_payment(served.address, None) is grpc.StatusCode.UNAVAILABLE
    untrusting = grpc.ssl_channel_credentials(root_certificates=pki.rogue_cert.read_bytes())
    assert await _get_payment(served.address, untrusting) is grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_requires_a_client_certificate_from_the_configured_ca(
    serve_grpc: Any, pki: Pki
) -> None:
    served = await serve_grpc(
        grpc_tls_cert_file=pki.server_cert,
        grpc_tls_key_file=pki.server_key,
        grpc_tls_client_ca_file=pki.ca,
    )
    signed = _client(pki, cert=pki.client_cert, key=pki.client_key)
    assert await _get_payment(served.address, signed) is grpc.StatusCode.NOT_FOUND
    assert await _get_payment(served.address, _client(pki)) is grpc.StatusCode.UNAVAILABLE
    rogue = _client(pki, cert=pki.rogue_cert, key=pki.rogue_key)
    assert await _get_payment(served.address, rogue) is grpc.StatusCode.UNAVAILABLE


async def test_the_orders_client_reaches_orders_over_mutual_tls(pki: Pki) -> None:
    credentials = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes(),
        require_client_auth=True,
    )
    async with GrpcOrdersServer(credentials) as orders:
        url = f"grpcs://localhost:{orders.port}"
        client = orders_client_from_url(
            url, ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key
        )
        assert client is not None
        try:
            await client.apply(UPDATE)
        finally:
            await client.close()
        assert [call.key for call in orders.behaviour.applied] == [UPDATE.idempotency_key]

        without_cert = orders_client_from_url(url, ca_file=pki.ca)
        plain = orders_client_from_url(f"grpc://localhost:{orders.port}")
        for refused in (without_cert, plain):
            assert refused is not None
            try:
                with pytest.raises(OrdersUnavailable):
                    await refused.apply(UPDATE)
            finally:
                await refused.close()
        assert len(orders.behaviour.applied) == 1


def test_orders_tls_files_need_a_tls_url(pki: Pki) -> None:
    with pytest.raises(OrdersSettingsError, match="PAYMENTS_ORDERS_URL is not"):
        orders_client_from_url(None, ca_file=pki.ca)
    with pytest.raises(OrdersSettingsError, match="grpcs://"):
        orders_client_from_url("grpc://orders:50051", ca_file=pki.ca)
    with pytest.raises(OrdersSettingsError, match="PAYMENTS_ORDERS_TLS_CERT_FILE is set without"):
        orders_client_from_url("grpcs://orders:50051", cert_file=pki.client_cert)


def _serve(tmp_path: Path, **tls: Path) -> subprocess.CompletedProcess[str]:
    """``payments serve`` as an operator starts it, with only the given Orders TLS files set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update(
        PAYMENTS_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}",
        PAYMENTS_STRIPE_API_KEY="sk_test_unused",
        PAYMENTS_STRIPE_API_BASE="http://127.0.0.1:9",  # no emulator; nothing is sent before the refusal
        PAYMENTS_ORDERS_URL="grpcs://orders.internal:50051",
        **{f"PAYMENTS_ORDERS_TLS_{name.upper()}_FILE": str(path) for name, path in tls.items()},
    )
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_bad_orders_tls_combination_stops_serve_with_one_line_naming_it(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    cert, key = "PAYMENTS_ORDERS_TLS_CERT_FILE", "PAYMENTS_ORDERS_TLS_KEY_FILE"
    cases = [
        ({"cert": pki.client_cert}, f"{cert} is set without {key}"),
        ({"key": pki.client_key}, f"{key} is set without {cert}"),
        ({"ca": missing}, f"PAYMENTS_ORDERS_TLS_CA_FILE: cannot read {missing}"),
        # A key that is not the certificate's: refused at start, not at the first delivery's handshake.
        ({"cert": pki.client_cert, "key": pki.rogue_key}, f"{cert} and {key}"),
    ]
    for tls, named in cases:
        done = _serve(tmp_path, **tls)
        assert done.returncode == 2, (tls, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, tls
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("payments: "), (tls, done.stderr)
        assert named in lines[0], (tls, lines[0])


def test_good_orders_tls_files_give_a_client(pki: Pki) -> None:
    client = orders_client_from_url(
        "https://orders.internal", ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key
    )
    assert client is not None
    with pytest.raises(
        OrdersSettingsError, match=r"PAYMENTS_ORDERS_TLS_CA_FILE: .* holds no PEM certificate"
    ):
        orders_client_from_url("grpcs://orders:50051", ca_file=pki.client_key)
