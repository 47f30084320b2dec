"""Reading a page's form: URL-encoded, bounded before it is parsed, text only."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

MAX_FORM_BYTES = 4096  # our largest form is a ban reason (500 characters) and a CSRF token
MAX_FIELDS = 8
MAX_FIELD_CHARS = 500


class FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError(415, "forms are sent as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise FormError(413, f"a form is at most {MAX_FORM_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, f"a form is at most {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError(400, "the form could not be read") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if len(value) > MAX_FIELD_CHARS or any(ord(ch) < 32 and ch not in "\t\r\n" for ch in value):
            raise FormError(400, f"{name}: at most {MAX_FIELD_CHARS} characters of text")
        form.setdefault(name, value)
    return form
