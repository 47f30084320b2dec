"""Signed cookie sessions: only what we issued, for the role asked, before it expires; CSRF bound to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from payments.config import Settings
from payments.pages.sessions import ADMIN, REFERRER, SessionSigner, session_key

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


def _signer(at: datetime = NOW) -> SessionSigner:
    return SessionSigner(KEY, lambda: at)


def test_a_session_reads_back_for_its_role_until_it_expires() -> None:
    cookie, session = _signer().issue(ADMIN, "admin", timedelta(hours=1))
    assert _signer().read(cookie, ADMIN) == session
    assert _signer(NOW + timedelta(minutes=59)).read(cookie, ADMIN) == session
    assert _signer(NOW + timedelta(hours=1)).read(cookie, ADMIN) is None
    assert _signer().read(cookie, REFERRER) is None


def test_anything_altered_or_foreign_is_refused() -> None:
    cookie, _ = _signer().issue(REFERRER, "ref_a", timedelta(hours=1))
    body, signature = cookie.split(".")
    # Another last character, whatever it was (always "A" failed one run in 64, when it already was).
    other_last = "B" if signature[-1] == "A" else "A"
    for forged in (
        f"{body}x.{signature}",
        f"{body}.{signature[:-1]}{other_last}",
        body,
        "",
        None,
        "a.b.c",
        SessionSigner(b"other" * 8, lambda: NOW).issue(REFERRER, "ref_a", timedelta(hours=1))[0],
        cookie + "x" * 2000,
    ):
        assert _signer().read(forged, REFERRER) is None, forged


def test_csrf_tokens_belong_to_one_session() -> None:
    _, one = _signer().issue(ADMIN, "admin", timedelta(hours=1))
    _, two = _signer().issue(ADMIN, "admin", timedelta(hours=1))
    token = _signer().csrf_token(one)
    assert _signer().csrf_ok(one, token)
    assert not _signer().csrf_ok(two, token)
    assert not _signer().csrf_ok(one, None) and not _signer().csrf_ok(one, "")


def test_the_key_comes_from_the_session_secret_else_the_admin_credential_else_none() -> None:
    assert session_key(Settings(api_token=None, jwt_secret=None, session_secret=None)) is None
    by_token = session_key(Settings(api_token=SecretStr("t" * 32)))
    by_secret = session_key(Settings(api_token=SecretStr("t" * 32), session_secret=SecretStr("s" * 32)))
    assert by_token and by_secret and by_token != by_secret
    assert by_token != b"t" * 32  # derived, never the credential itself
