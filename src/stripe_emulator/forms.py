"""Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) decoded into nested dicts and lists."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import invalid_request

_SEGMENT = re.compile(r"\[([^\]]*)\]")
# Free-form maps whose keys may look like list indexes; they must stay dicts.
_MAP_KEYS = frozenset({"metadata"})


def _split_key(key: str) -> list[str]:
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    return [head, *_SEGMENT.findall(key[len(head) :])]


def _to_lists(value: Any, parent: str | None = None) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _to_lists(v, k) for k, v in value.items()}
    if parent not in _MAP_KEYS and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def decode_form(body: str) -> dict[str, Any]:
    """Nested params as the SDK means them; every leaf stays a string, as Stripe receives it."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        segments = _split_key(key)
        node = root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if segment == "":
                # `expand[]` style appends: give it the next free index.
                segment = str(len(node))
            if last:
                node[segment] = value
                break
            child = node.get(segment)
            if not isinstance(child, dict):
                if child is not None:
                    raise invalid_request(f"Invalid array or hash: {key}", param=key)
                child = {}
                node[segment] = child
            node = child
    result = _to_lists(root)
    assert isinstance(result, dict)
    return result


def get_str(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {name}", param=name)
    return value


def get_int(
    params: dict[str, Any], name: str, *, required: bool = False, param: str | None = None
) -> int | None:
    text = get_str(params, name, required=required)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise invalid_request(
            f"Invalid integer: {text}", param=param or name, code="parameter_invalid_integer"
        ) from None


def get_bool(params: dict[str, Any], name: str) -> bool | None:
    text = get_str(params, name)
    if text is None:
        return None
    if text not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {text}", param=name)
    return text == "true"


def get_dict(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid hash: {name}", param=name)
    return value


def get_list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        raise invalid_request(f"Invalid array: {name}", param=name)
    return list(value)


# Stripe's limits on metadata: 50 keys, keys of at most 40 characters, values of at most 500.
METADATA_KEYS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 50, 40, 500


def get_metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, str] | None:
    value = get_dict(params, name)
    if value is None:
        return {} if params.get(name) == "" else None
    if len(value) > METADATA_KEYS:
        raise invalid_request(f"You can have at most {METADATA_KEYS} metadata keys.", param=name)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_request(f"Invalid metadata value for {key}", param=f"{name}[{key}]")
        if len(key) > METADATA_KEY_CHARS:
            raise invalid_request(
                f"Metadata keys can have up to {METADATA_KEY_CHARS} characters", param=f"{name}[{key}]"
            )
        if len(item) > METADATA_VALUE_CHARS:
            raise invalid_request(
                f"Metadata values can have up to {METADATA_VALUE_CHARS} characters", param=f"{name}[{key}]"
            )
    return dict(value)


def check_merged_metadata(metadata: dict[str, str], name: str = "metadata") -> dict[str, str]:
    """An update's metadata merged into the object's: the key limit holds for the whole."""
    if len(metadata) > METADATA_KEYS:
        raise invalid_request(f"You can have at most {METADATA_KEYS} metadata keys.", param=name)
    return metadata


def get_url(params: dict[str, Any], name: str) -> str | None:
    """An absolute http(s) URL with a host, as Stripe requires of success_url and cancel_url."""
    value = get_str(params, name)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # an unclosed IPv6 bracket, a bad port
        host = None
    if host is None or not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise invalid_request("Not a valid URL", param=name, code="url_invalid")
    return value


def get_email(params: dict[str, Any], name: str) -> str | None:
    value = get_str(params, name)
    if value is not None and not _EMAIL.match(value):
        raise invalid_request(f"Invalid email address: {value}", param=name, code="email_invalid")
    return value


def get_text(params: dict[str, Any], name: str, max_chars: int) -> str | None:
    value = get_str(params, name)
    if value is not None and len(value) > max_chars:
        raise invalid_request(f"{name} must be at most {max_chars} characters", param=name)
    return value


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
