from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.audit_chain import (
    GENESIS_HASH,
    AuditKey,
    AuditKeyError,
    AuditKeyring,
    ChainHead,
    ChainRecord,
    canonical_json,
    entry_hash,
    keyed_hash,
    parse_audit_keys,
    verify_chain,
)

KEY = AuditKey("k1", b"k" * 32)
KEYRING = AuditKeyring((KEY,))


def build_chain(
    n: int, *, key: AuditKey | None = KEY, legacy: int = 0
) -> tuple[list[tuple[ChainRecord, str]], ChainHead]:
    """n entries; the first ``legacy`` unkeyed (plain SHA-256), the rest signed with ``key``."""
    entries: list[tuple[ChainRecord, str]] = []
    prev_id, prev_hash = None, GENESIS_HASH
    for seq in range(1, n + 1):
        record = ChainRecord(
            id=f"aud_{seq}",
            seq=seq,
            commission_id=f"com_{seq % 3}",
            referrer_id="ref_1",
            payment_id=None,
            action="adjusted",
            actor="evt_1",
            before={"amount": 1_000 - seq},
            after={"amount": 1_000 - seq - 1, "hold_until": "2026-12-28T12:00:00.000000+00:00"},
            reason="refund",
            at="2026-11-28T12:00:00.000000+00:00",
            prev_id=prev_id,
            prev_hash=prev_hash,
            key_id=None if seq <= legacy or key is None else key.id,
        )
        digest = entry_hash(record) if record.key_id is None or key is None else keyed_hash(record, key)
        entries.append((record, digest))
        prev_id, prev_hash = record.id, digest
    head = ChainHead(seq=n, entry_id=prev_id, hash=prev_hash)
    return entries, head


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json(
        {"a": [1, {"c": 3, "d": 2}], "b": 1}
    )


def test_an_intact_chain_verifies() -> None:
    entries, head = build_chain(5)
    verdict = verify_chain(entries, head, KEYRING)
    assert verdict.ok and verdict.count == 5 and verdict.first_bad_entry_id is None


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([], None, KEYRING).ok


def test_a_changed_entry_is_named() -> None:
    entries, head = build_chain(5)
    record, digest = entries[2]
    entries[2] = (replace(record, after={"amount": 5_000}), digest)
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"


def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries, head = build_chain(5)
    forged = replace(entries[2][0], reason="forged")
    entries[2] = (forged, keyed_hash(forged, KEY))  # even with the key, the next entry's link breaks
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_4"


def _rehash_from(entries: list[tuple[ChainRecord, str]], start: int, **changes: Any) -> ChainHead:
    """What someone who can write the table but holds no key does: edit one entry, then recompute the plain
    SHA-256 of it and of every later entry, relinking them, and move the head."""
    prev_id = entries[start - 1][0].id if start else None
    prev_hash = entries[start - 1][1] if start else GENESIS_HASH
    for i in range(start, len(entries)):
        record = replace(
            entries[i][0], prev_id=prev_id, prev_hash=prev_hash, **(changes if i == start else {})
        )
        if "key_id" in changes:
            record = replace(record, key_id=changes["key_id"])
        digest = entry_hash(record)
        entries[i] = (record, digest)
        prev_id, prev_hash = record.id, digest
    return ChainHead(seq=len(entries), entry_id=prev_id, hash=prev_hash)


def test_a_row_rewritten_and_rehashed_without_the_key_is_named() -> None:
    entries, _ = build_chain(5)
    head = _rehash_from(entries, 2, after={"amount": 9_999})
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"
    assert verdict.reason is not None and "hash mismatch" in verdict.reason


def test_a_rewritten_tail_cannot_pass_itself_off_as_legacy_entries() -> None:
    entries, _ = build_chain(5)
    head = _rehash_from(entries, 2, after={"amount": 9_999}, key_id=None)
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"
    assert verdict.reason is not None and "not keyed" in verdict.reason


def test_legacy_entries_verify_up_to_the_configured_boundary_then_keys_take_over() -> None:
    entries, head = build_chain(6, legacy=3)
    assert verify_chain(entries, head, AuditKeyring((KEY,), legacy_until_seq=3)).ok
    verdict = verify_chain(entries, head, AuditKeyring((KEY,), legacy_until_seq=2))
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"


def test_after_rotation_old_entries_verify_under_their_own_key() -> None:
    old = AuditKey("k0", b"o" * 32)
    entries, head = build_chain(3, key=old)
    assert verify_chain(entries, head, AuditKeyring((KEY, old))).ok
    verdict = verify_chain(entries, head, KEYRING)  # the old key was dropped too early
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_1"
    assert verdict.reason is not None and "'k0'" in verdict.reason


def test_the_same_content_under_another_key_does_not_verify() -> None:
    entries, head = build_chain(3)
    assert not verify_chain(entries, head, AuditKeyring((AuditKey("k1", b"x" * 32),))).ok


@pytest.mark.parametrize("value", ["nokey", ":secret", "k1:", "bad id:secret"])
def test_malformed_audit_keys_are_refused_without_echoing_the_secret(value: str) -> None:
    with pytest.raises(AuditKeyError) as caught:
        parse_audit_keys([value])
    assert "secret" not in str(caught.value).replace("id:secret", "")


def test_audit_keys_parse_newest_first() -> None:
    keys = parse_audit_keys(["k2:two", "k1:one:with:colons"])
    assert [(k.id, k.secret) for k in keys] == [("k2", b"two"), ("k1", b"one:with:colons")]
    with pytest.raises(AuditKeyError):
        parse_audit_keys(["k1:a", "k1:b"])


def test_a_deleted_entry_is_named_by_its_successor_link() -> None:
    entries, head = build_chain(5)
    del entries[1]
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_2"


def test_deleting_the_newest_entry_is_caught_by_the_head() -> None:
    entries, head = build_chain(5)
    verdict = verify_chain(entries[:-1], head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_5"


def test_swapping_the_sequence_numbers_of_two_entries_is_detected() -> None:
    entries, head = build_chain(5)
    (r2, h2), (r3, h3) = entries[1], entries[2]
    entries[1], entries[2] = (replace(r3, seq=2), h3), (replace(r2, seq=3), h2)
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_field_change_is_detected(n: int, data: st.DataObject) -> None:
    entries, head = build_chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["action", "actor", "reason", "at", "commission_id", "referrer_id"]))
    record, digest = entries[index]
    changes: dict[str, Any] = {field: str(getattr(record, field)) + "x"}
    entries[index] = (replace(record, **changes), digest)
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == record.id


@given(st.integers(min_value=2, max_value=12), st.data())
def test_any_single_deletion_is_detected_and_named(n: int, data: st.DataObject) -> None:
    entries, head = build_chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    deleted = entries.pop(index)[0]
    verdict = verify_chain(entries, head, KEYRING)
    assert not verdict.ok and verdict.first_bad_entry_id == deleted.id
