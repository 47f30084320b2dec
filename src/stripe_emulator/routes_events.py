"""`/v1/events` (retrieve, list with filters) and `/v1/webhook_endpoints` (the secret only on create)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.routing import Route

from . import objects
from .api import ApiCall, endpoint
from .engine import Emulator
from .errors import invalid_request
from .forms import get_bool, get_list, get_metadata, get_str
from .ids import random_token
from .store import matches_created, paginate

JSON = dict[str, Any]


def _type_matches(event_type: str, wanted: list[str]) -> bool:
    # Stripe accepts `charge.*`-style wildcards in `type`.
    return any(
        event_type == pattern or (pattern.endswith("*") and event_type.startswith(pattern[:-1]))
        for pattern in wanted
    )


def _list_events(call: ApiCall) -> JSON:
    wanted = [str(t) for t in get_list(call.params, "types")]
    single = get_str(call.params, "type")
    if single:
        wanted.append(single)
    events = [
        event
        for event in call.emu.store.newest_first("events")
        if (not wanted or _type_matches(event["type"], wanted)) and matches_created(event, call.params)
    ]
    return paginate(events, call.params, "/v1/events")


def new_secret() -> str:
    return f"whsec_{random_token(32)}"


def register_endpoint(
    emu: Emulator,
    url: str,
    enabled_events: list[str],
    *,
    secret: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    api_version: str | None = None,
) -> JSON:
    endpoint_obj = objects.webhook_endpoint(
        url=url,
        enabled_events=enabled_events,
        description=description,
        metadata=metadata or {},
        api_version=api_version,
    )
    emu.store.add("webhook_endpoints", endpoint_obj)
    emu.store.endpoint_secrets[endpoint_obj["id"]] = secret or new_secret()
    return endpoint_obj


def _create_endpoint(call: ApiCall) -> JSON:
    url = get_str(call.params, "url", required=True)
    assert url is not None
    if not url.startswith(("http://", "https://")):
        raise invalid_request(
            "Invalid URL: URL must be an http or https URL.", param="url", code="url_invalid"
        )
    enabled = [str(e) for e in get_list(call.params, "enabled_events")]
    if not enabled:
        raise invalid_request(
            "Missing required param: enabled_events.", param="enabled_events", code="parameter_missing"
        )
    created = register_endpoint(
        call.emu,
        url,
        enabled,
        description=get_str(call.params, "description"),
        metadata=get_metadata(call.params),
        api_version=get_str(call.params, "api_version"),
    )
    answer = copy.deepcopy(created)
    answer["secret"] = call.emu.store.endpoint_secrets[created["id"]]
    return answer


def _endpoint(call: ApiCall) -> JSON:
    return call.emu.store.get("webhook_endpoints", call.path["id"])


def _update_endpoint(call: ApiCall) -> JSON:
    found = _endpoint(call)
    url = get_str(call.params, "url")
    if url:
        found["url"] = url
    enabled = [str(e) for e in get_list(call.params, "enabled_events")]
    if enabled:
        found["enabled_events"] = enabled
    disabled = get_bool(call.params, "disabled")
    if disabled is not None:
        found["status"] = "disabled" if disabled else "enabled"
    metadata = get_metadata(call.params)
    if metadata is not None:
        found["metadata"] = {**found["metadata"], **metadata}
    if "description" in call.params:
        found["description"] = get_str(call.params, "description")
    return found


def _delete_endpoint(call: ApiCall) -> JSON:
    found = _endpoint(call)
    del call.emu.store.table("webhook_endpoints")[found["id"]]
    call.emu.store.endpoint_secrets.pop(found["id"], None)
    return {"id": found["id"], "object": "webhook_endpoint", "deleted": True}


def routes(emu: Emulator) -> list[Route]:
    base = "/v1/webhook_endpoints"
    return [
        Route("/v1/events", endpoint(emu, _list_events, mutating=False), methods=["GET"]),
        Route(
            "/v1/events/{id}",
            endpoint(emu, lambda call: call.emu.store.get("events", call.path["id"]), mutating=False),
            methods=["GET"],
        ),
        Route(base, endpoint(emu, _create_endpoint, mutating=True), methods=["POST"]),
        Route(
            base,
            endpoint(
                emu,
                lambda call: paginate(call.emu.store.newest_first("webhook_endpoints"), call.params, base),
                mutating=False,
            ),
            methods=["GET"],
        ),
        Route(base + "/{id}", endpoint(emu, _endpoint, mutating=False), methods=["GET"]),
        Route(base + "/{id}", endpoint(emu, _update_endpoint, mutating=True), methods=["POST"]),
        Route(base + "/{id}", endpoint(emu, _delete_endpoint, mutating=True), methods=["DELETE"]),
    ]
