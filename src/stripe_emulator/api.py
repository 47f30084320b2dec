"""The edge every `/v1` call passes: API key, form decoding, idempotency, `expand`, Stripe's errors."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .checkout_flow import expire_due_sessions
from .engine import Emulator
from .errors import StripeError, idempotency_error, invalid_request, unauthorized
from .events import caused_by
from .expand import charges_of, expand
from .forms import decode_form, get_list
from .ids import new_id
from .objects import API_VERSION
from .store import IdempotentAnswer
from .versions import OLDEST, InvalidVersion, answer_version, render_answer

JSON = dict[str, Any]


@dataclass
class ApiCall:
    emu: Emulator
    params: JSON
    path: dict[str, str]
    base_url: str
    request_id: str
    api_version: str = API_VERSION  # the answer's shape: the request's Stripe-Version, or the account's


Handler = Callable[[ApiCall], JSON]
Endpoint = Callable[[Request], Awaitable[Response]]


def render(
    status: int,
    body: JSON | str,
    request_id: str,
    *,
    replayed: bool = False,
    api_version: str = API_VERSION,
) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, indent=2)
    headers = {"Request-Id": request_id, "Stripe-Version": api_version}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _check_api_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    key = ""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials).decode().split(":", 1)[0]
        except ValueError:
            key = ""
    if not key:
        raise unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if not key.startswith("sk_test_"):
        raise unauthorized(f"Invalid API Key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}")
    return key


def _fingerprint(method: str, path: str, params: JSON) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cacheable(status: int) -> bool:
    # Stripe saves an idempotent answer once the endpoint has started executing; validation
    # failures before that are not saved. Card declines are.
    return status < 400 or status == 402


def endpoint(emu: Emulator, handler: Handler, *, mutating: bool) -> Endpoint:
    async def run(request: Request) -> Response:
        request_id = new_id("req", 14)
        try:
            api_key = _check_api_key(request)
            if request.method == "POST":
                params = decode_form((await request.body()).decode())
            else:
                params = decode_form(request.url.query)
        except StripeError as exc:
            return render(exc.status, exc.body(), request_id)
        # The clock may have expired sessions since the last look; that is no request's doing.
        if expire_due_sessions(emu):
            emu.store.save()
        given = request.headers.get("idempotency-key") if request.method == "POST" else None
        # Stripe scopes a key to the API key that used it: another key's request is another request. The
        # API key is kept as a digest: the store is saved to a file.
        key = f"{hashlib.sha256(api_key.encode()).hexdigest()[:16]}:{given}" if given else None
        try:
            version = answer_version(request.headers.get("stripe-version"))
        except InvalidVersion as exc:
            error = invalid_request(
                f"Invalid Stripe API version: {exc}. This emulator renders {OLDEST} to {API_VERSION[:10]}."
            )
            return render(error.status, error.body(), request_id)
        call = ApiCall(emu, params, dict(request.path_params), str(request.base_url), request_id, version)
        if not key:
            status, body = _execute(call, handler, None)
            if mutating:
                emu.store.save()
            return render(status, body, request_id, api_version=version)
        fingerprint = _fingerprint(request.method, request.url.path, params)
        # Two concurrent requests with one key must produce one object: the second waits, then replays.
        async with emu.store.lock_for(key):
            saved = emu.store.idempotency.get(key)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    error = idempotency_error(
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{given}' if you meant to execute a "
                        "different request."
                    )
                    return render(error.status, error.body(), request_id)
                return render(
                    saved.status, saved.body, saved.request_id, replayed=True, api_version=saved.api_version
                )
            status, body = _execute(call, handler, given)
            text = json.dumps(body, indent=2)
            if _cacheable(status):
                emu.store.idempotency[key] = IdempotentAnswer(fingerprint, status, text, request_id, version)
            emu.store.save()
            return render(status, text, request_id, api_version=version)

    return run


def _execute(call: ApiCall, handler: Handler, idempotency_key: str | None) -> tuple[int, JSON]:
    try:
        with caused_by(call.request_id, idempotency_key):
            result = render_answer(handler(call), call.api_version, charges_of(call.emu.store))
        paths = [str(p) for p in get_list(call.params, "expand")]
        return 200, expand(call.emu.store, result, paths, call.api_version) if paths else result
    except StripeError as exc:
        return exc.status, exc.body()
