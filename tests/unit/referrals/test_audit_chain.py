from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from payments.domain.audit_chain import (
    GENESIS_HASH,
    ChainHead,
    ChainRecord,
    canonical_json,
    entry_hash,
    verify_chain,
)


def build_chain(n: int) -> tuple[list[tuple[ChainRecord, str]], ChainHead]:
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
        )
        digest = entry_hash(record)
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
    verdict = verify_chain(entries, head)
    assert verdict.ok and verdict.count == 5 and verdict.first_bad_entry_id is None


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([], None).ok


def test_a_changed_entry_is_named() -> None:
    entries, head = build_chain(5)
    record, digest = entries[2]
    entries[2] = (replace(record, after={"amount": 5_000}), digest)
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"


def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries, head = build_chain(5)
    forged = replace(entries[2][0], reason="forged")
    entries[2] = (forged, entry_hash(forged))
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_4"


def test_a_deleted_entry_is_named_by_its_successor_link() -> None:
    entries, head = build_chain(5)
    del entries[1]
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_2"


def test_deleting_the_newest_entry_is_caught_by_the_head() -> None:
    entries, head = build_chain(5)
    verdict = verify_chain(entries[:-1], head)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_5"


def test_swapping_the_sequence_numbers_of_two_entries_is_detected() -> None:
    entries, head = build_chain(5)
    (r2, h2), (r3, h3) = entries[1], entries[2]
    entries[1], entries[2] = (replace(r3, seq=2), h3), (replace(r2, seq=3), h2)
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == "aud_3"


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_field_change_is_detected(n: int, data: st.DataObject) -> None:
    entries, head = build_chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["action", "actor", "reason", "at", "commission_id", "referrer_id"]))
    record, digest = entries[index]
    changes: dict[str, Any] = {field: str(getattr(record, field)) + "x"}
    entries[index] = (replace(record, **changes), digest)
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == record.id


@given(st.integers(min_value=2, max_value=12), st.data())
def test_any_single_deletion_is_detected_and_named(n: int, data: st.DataObject) -> None:
    entries, head = build_chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    deleted = entries.pop(index)[0]
    verdict = verify_chain(entries, head)
    assert not verdict.ok and verdict.first_bad_entry_id == deleted.id
