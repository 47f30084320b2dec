"""What both pages share: the session cookie, CSRF checks, and where a person is sent back to."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from payments.bootstrap import Container
from payments.pages.sessions import Session, SessionSigner, session_key


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def signer(request: Request) -> SessionSigner | None:
    """None when no secret is configured: every page then answers "not available", never data."""
    state = request.app.state
    if not hasattr(state, "page_signer"):
        c = container(request)
        key = session_key(c.settings)
        state.page_signer = SessionSigner(key, c.clock) if key is not None else None
    return state.page_signer  # type: ignore[no-any-return]


def current_session(request: Request, cookie: str, role: str) -> Session | None:
    s = signer(request)
    return s.read(request.cookies.get(cookie), role) if s is not None else None


def is_https(request: Request) -> bool:
    public = container(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def set_session_cookie(
    request: Request, response: Response, name: str, value: str, path: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_session_cookie(request: Request, response: Response, name: str, path: str) -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="strict", secure=is_https(request))


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from; one from elsewhere is refused whatever it carries."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
