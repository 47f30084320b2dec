"""Stripe-Signature verification: reason codes, SDK wire compatibility, and fuzzed headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.webhooks.signature import SignatureError, sign_payload, verify_and_parse

NOW = 1_760_000_000
TOLERANCE = 300
SECRET = "whsec_current_0123456789abcdef"
OLD_SECRET = "whsec_previous_fedcba9876543210"
UNKNOWN_SECRET = "whsec_attacker_000000000000000"

EVENT = {"id": "evt_1Test", "object": "event", "type": "checkout.session.completed", "data": {"object": {}}}
PAYLOAD = json.dumps(EVENT, separators=(",", ":")).encode()


def _sig(payload: bytes, secret: str, ts: int) -> str:
    return sign_payload(payload, secret, ts).split(",v1=", 1)[1]


@dataclass(frozen=True)
class Case:
    header: str | None
    expected_code: str | None  # None: accepted
    payload: bytes = PAYLOAD
    secrets: tuple[str, ...] = (SECRET,)
    now: int = NOW
    id: str = field(default="", compare=False)


def _reserialised() -> bytes:
    return json.dumps(json.loads(PAYLOAD), indent=2).encode()


CASES = [
    Case(None, "missing_header", id="missing-header"),
    Case("", "missing_header", id="empty-header"),
    Case("   ", "missing_header", id="blank-header"),
    Case("this is not a signature header", "malformed_header", id="garbage-header"),
    Case(f"v1={_sig(PAYLOAD, SECRET, NOW)}", "malformed_header", id="no-t"),
    Case(f"t=soon,v1={_sig(PAYLOAD, SECRET, NOW)}", "malformed_header", id="non-numeric-t"),
    Case(f"t=+{NOW},v1={_sig(PAYLOAD, SECRET, NOW)}", "malformed_header", id="signed-t"),
    Case(f"t={NOW},t={NOW},v1={_sig(PAYLOAD, SECRET, NOW)}", "malformed_header", id="duplicate-t"),
    Case(f"t={NOW},v0={_sig(PAYLOAD, SECRET, NOW)}", "no_v1_signature", id="only-v0"),
    Case(
        sign_payload(PAYLOAD, SECRET, NOW),
        "bad_signature",
        payload=PAYLOAD.replace(b"evt_1Test", b"evt_1Tesu"),
        id="tampered-payload-byte",
    ),
    Case(
        sign_payload(PAYLOAD, SECRET, NOW), "bad_signature", payload=_reserialised(), id="reserialised-json"
    ),
    Case(sign_payload(PAYLOAD, UNKNOWN_SECRET, NOW), "bad_signature", id="unknown-secret"),
    Case(sign_payload(PAYLOAD, OLD_SECRET, NOW), "bad_signature", id="old-secret-after-rotation"),
    Case(
        sign_payload(PAYLOAD, OLD_SECRET, NOW),
        None,
        secrets=(SECRET, OLD_SECRET),
        id="old-secret-still-configured",
    ),
    Case(sign_payload(PAYLOAD, SECRET, NOW), None, secrets=(OLD_SECRET, SECRET), id="new-secret-second"),
    Case(sign_payload(PAYLOAD, SECRET, NOW - 301), "timestamp_out_of_tolerance", id="301s-old"),
    Case(sign_payload(PAYLOAD, SECRET, NOW + 301), "timestamp_out_of_tolerance", id="301s-ahead"),
    Case(sign_payload(PAYLOAD, SECRET, NOW - 299), None, id="299s-old"),
    Case(sign_payload(PAYLOAD, SECRET, NOW + 299), None, id="299s-ahead"),
    Case(sign_payload(PAYLOAD, SECRET, NOW - 300), None, id="exactly-tolerance"),
    Case(
        f"t={NOW},v1={_sig(PAYLOAD, UNKNOWN_SECRET, NOW)},v1={_sig(PAYLOAD, SECRET, NOW)}",
        None,
        id="second-v1-matches",
    ),
    Case(
        f"t={NOW},v0={'0' * 64},v1={_sig(PAYLOAD, SECRET, NOW)},v9=future",
        None,
        id="other-schemes-ignored",
    ),
    Case(f"t={NOW},v1=é{'0' * 63}", "bad_signature", id="non-ascii-v1"),
    Case(sign_payload(PAYLOAD, SECRET, NOW), "no_secret_configured", secrets=(), id="no-secrets"),
    Case(sign_payload(PAYLOAD, SECRET, NOW), "no_secret_configured", secrets=("", "  "), id="blank-secrets"),
    Case(sign_payload(b"", "", NOW), "no_secret_configured", payload=b"", secrets=("",), id="empty-secret"),
    Case(None, "no_secret_configured", secrets=(), id="no-secrets-beats-missing-header"),
    Case(sign_payload(b"not json", SECRET, NOW), "malformed_payload", payload=b"not json", id="not-json"),
    Case(sign_payload(b"[1,2]", SECRET, NOW), "malformed_payload", payload=b"[1,2]", id="json-array"),
    Case(
        sign_payload(b'{"id":"evt_1"}', SECRET, NOW),
        "malformed_payload",
        payload=b'{"id":"evt_1"}',
        id="missing-type",
    ),
    Case(
        sign_payload(b'{"id":1,"type":"x"}', SECRET, NOW),
        "malformed_payload",
        payload=b'{"id":1,"type":"x"}',
        id="non-string-id",
    ),
    Case(
        sign_payload(b'{"id":"e","type":"\xff"}', SECRET, NOW),
        "malformed_payload",
        payload=b'{"id":"e","type":"\xff"}',
        id="not-utf8",
    ),
    Case(
        sign_payload(b'{"id":"e","type":"\xff"}', SECRET, NOW),
        "bad_signature",
        payload=b'{"id":"e","type":"\xfe"}',
        id="not-utf8-unsigned-is-bad-signature",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reason_codes(case: Case) -> None:
    if case.expected_code is None:
        event = verify_and_parse(case.payload, case.header, case.secrets, TOLERANCE, now=case.now)
        assert event == json.loads(case.payload)
        return
    with pytest.raises(SignatureError) as info:
        verify_and_parse(case.payload, case.header, case.secrets, TOLERANCE, now=case.now)
    assert info.value.code == case.expected_code
    for secret in (*case.secrets, SECRET, OLD_SECRET, UNKNOWN_SECRET):
        if secret.strip():
            assert secret not in str(info.value)
    for candidate in (_sig(case.payload, s, NOW) for s in (SECRET, OLD_SECRET, UNKNOWN_SECRET)):
        assert candidate not in str(info.value)


def test_signature_error_exposes_code_and_message() -> None:
    err = SignatureError("bad_signature", "nope")
    assert (err.code, err.message) == ("bad_signature", "nope")
    assert isinstance(err, Exception)


def test_negative_tolerance_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify_and_parse(PAYLOAD, sign_payload(PAYLOAD, SECRET, NOW), [SECRET], -1, now=NOW)


def test_now_defaults_to_wall_clock() -> None:
    header = sign_payload(PAYLOAD, SECRET, int(time.time()))
    assert verify_and_parse(PAYLOAD, header, [SECRET], TOLERANCE)["id"] == EVENT["id"]


def _manual_hmac(payload: bytes, secret: str, ts: int) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()


def test_sign_payload_format_matches_stripe_scheme() -> None:
    assert sign_payload(PAYLOAD, SECRET, NOW) == f"t={NOW},v1={_manual_hmac(PAYLOAD, SECRET, NOW)}"


def test_our_header_is_accepted_by_the_official_sdk() -> None:
    ts = int(time.time())
    event = stripe.Webhook.construct_event(PAYLOAD, sign_payload(PAYLOAD, SECRET, ts), SECRET, tolerance=300)
    assert event.id == EVENT["id"]
    assert event.type == EVENT["type"]


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(
            lambda p, s, t: stripe.WebhookSignature.generate_signature_header(p.decode(), s, t),
            id="sdk-generate_signature_header",
        ),
        pytest.param(
            lambda p, s, t: f"t={t},v1={stripe.WebhookSignature._compute_signature(f'{t}.{p.decode()}', s)}",
            id="sdk-_compute_signature",
        ),
        pytest.param(
            lambda p, s, t: f"t={t},v1={_manual_hmac(p, s, t)}",
            id="manual-hmac",
        ),
    ],
)
def test_sdk_made_header_is_accepted_by_ours(make_header: Callable[[bytes, str, int], str]) -> None:
    payload = json.dumps({**EVENT, "data": {"object": {"name": "Zoë ✓"}}}, ensure_ascii=False).encode()
    header = make_header(payload, SECRET, NOW)
    stripe.WebhookSignature.verify_header(payload, header, SECRET, tolerance=None)
    event = verify_and_parse(payload, header, [SECRET], TOLERANCE, now=NOW)
    assert event["data"]["object"]["name"] == "Zoë ✓"


_GOOD_V1 = _sig(PAYLOAD, SECRET, NOW)
_header_items = st.one_of(
    st.text(max_size=30),
    st.builds(lambda v: f"t={v}", st.one_of(st.integers(), st.text(max_size=12))),
    st.builds(lambda v: f"v1={v}", st.one_of(st.just(_GOOD_V1), st.text(max_size=70))),
    st.sampled_from(["t=", "v1=", "=", ",", "v0=abc", f"t={NOW}", f"t={'9' * 5000}"]),
)


@settings(max_examples=400, deadline=None)
@given(
    header=st.one_of(
        st.none(),
        st.text(),
        st.lists(_header_items, max_size=8).map(",".join),
    ),
    payload=st.one_of(st.just(PAYLOAD), st.binary(max_size=64)),
)
def test_random_headers_only_raise_signature_error(header: str | None, payload: bytes) -> None:
    try:
        event = verify_and_parse(payload, header, [SECRET, OLD_SECRET], TOLERANCE, now=NOW)
    except SignatureError as err:
        assert err.code in {
            "missing_header",
            "malformed_header",
            "no_v1_signature",
            "bad_signature",
            "timestamp_out_of_tolerance",
            "malformed_payload",
        }
        assert SECRET not in err.message and OLD_SECRET not in err.message
        assert _GOOD_V1 not in err.message
    else:
        assert event["id"] == EVENT["id"]
