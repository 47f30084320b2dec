"""What a person gets for an address under the pages that no route answers (or whose parts are not valid):
a page, not the API's JSON.

The API's error handler asks ``page_error`` first; ``None`` means the path is not the pages' and the
JSON error model answers as for any ``/v1`` call.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from payments.pages.rendering import page

# Each area of the pages, by the prefix of its addresses: the name people know it by, and its home.
_AREAS = {"/console": "console", "/referrer": "dashboard"}
_ANSWERS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page cannot be opened that way."),
    422: ("Not a valid address", "Part of this address is not valid."),
}


def page_error(path: str, status: int, detail: str | None = None) -> HTMLResponse | None:
    """The pages' HTML answer for a routing or validation error (404, 405, 422) under their prefixes,
    ``detail`` (the field and what is wrong with it) in place of the generic message; else None."""
    answer = _ANSWERS.get(status)
    if answer is None:
        return None
    for prefix, area in _AREAS.items():
        if path == prefix or path.startswith(prefix + "/"):
            title, message = answer[0], detail or answer[1]
            context = {"title": title, "message": message, "area": area, "home": prefix}
            return page("address_error.html", context, status)
    return None
