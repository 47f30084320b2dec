"""Download headers built from data we do not control (a referrer id is any text another service sent)."""

from __future__ import annotations

import re
from urllib.parse import quote

_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._-]")


def attachment(filename: str) -> str:
    """``Content-Disposition`` per RFC 6266: an ASCII ``filename`` for old clients and the exact name as
    ``filename*`` (RFC 8187). Quotes, semicolons, CR LF and NUL cannot end the value or start another
    parameter or header: the first form replaces them, the second percent-encodes them."""
    fallback = _NOT_PLAIN.sub("_", filename)[:150] or "download"
    exact = quote(filename.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
