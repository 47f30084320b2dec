"""A hash chain over the referral audit log, so an edited, deleted or reordered entry is detectable.

Each entry's hash is sha256 over the canonical JSON of its fields, which include its sequence number and
the previous entry's id and hash. Editing an entry changes its hash; deleting one leaves a gap in the
sequence (and the next entry still names the deleted one as its predecessor); reordering changes which
sequence number an entry's content was hashed with. Deleting the newest entries is caught by comparing
with the chain head, which records the last sequence number, id and hash.

Timestamps are ISO 8601 strings in UTC with microseconds inside the hashed JSON, so PostgreSQL and
SQLite, which hand datetimes back differently, hash an entry identically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

JsonObject = dict[str, Any]


def iso(moment: datetime) -> str:
    """The one text form of a moment used inside hashed JSON."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(payload: Any) -> bytes:
    # Sorted keys and no whitespace: the same content always gives the same bytes.
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """The hashed content of one audit entry."""

    id: str
    seq: int
    commission_id: str | None
    referrer_id: str | None
    payment_id: str | None
    action: str
    actor: str
    before: JsonObject | None
    after: JsonObject | None
    reason: str | None
    at: str
    prev_id: str | None
    prev_hash: str

    def payload(self) -> JsonObject:
        return {
            "id": self.id,
            "seq": self.seq,
            "commission_id": self.commission_id,
            "referrer_id": self.referrer_id,
            "payment_id": self.payment_id,
            "action": self.action,
            "actor": self.actor,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "at": self.at,
            "prev_id": self.prev_id,
            "prev_hash": self.prev_hash,
        }


def entry_hash(record: ChainRecord) -> str:
    return hashlib.sha256(canonical_json(record.payload())).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    entry_id: str | None
    hash: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    count: int
    first_bad_entry_id: str | None
    reason: str | None


class ChainVerifier:
    """Checks entries one at a time in sequence order, so a long chain can be streamed in batches."""

    def __init__(self) -> None:
        self.count = 0
        self._prev_id: str | None = None
        self._prev_hash = GENESIS_HASH
        self._failure: tuple[str | None, str] | None = None

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def feed(self, record: ChainRecord, stored_hash: str) -> bool:
        """False once the chain is broken; later entries are then not looked at."""
        if self._failure is not None:
            return False
        expected_seq = self.count + 1
        if record.seq != expected_seq:
            # The entry after a gap still names its deleted predecessor, so the deleted one can be named.
            missing = record.prev_id if record.seq > expected_seq else record.id
            self._failure = (
                missing,
                f"entry seq {expected_seq} is missing or out of order (found seq {record.seq})",
            )
            return False
        if record.prev_hash != self._prev_hash or record.prev_id != self._prev_id:
            self._failure = (record.id, f"entry seq {record.seq} does not link to the entry before it")
            return False
        if entry_hash(record) != stored_hash:
            self._failure = (record.id, f"entry seq {record.seq} was changed (hash mismatch)")
            return False
        self.count += 1
        self._prev_id = record.id
        self._prev_hash = stored_hash
        return True

    def finish(self, head: ChainHead | None) -> ChainVerdict:
        if self._failure is not None:
            return ChainVerdict(False, self.count, self._failure[0], self._failure[1])
        head_seq = head.seq if head is not None else 0
        if head_seq != self.count or (head is not None and head.seq and head.hash != self._prev_hash):
            entry_id = head.entry_id if head is not None and head_seq > self.count else self._prev_id
            return ChainVerdict(
                False,
                self.count,
                entry_id,
                f"the chain ends at seq {self.count} but its head is at seq {head_seq}",
            )
        return ChainVerdict(True, self.count, None, None)


def verify_chain(entries: Iterable[tuple[ChainRecord, str]], head: ChainHead | None) -> ChainVerdict:
    """Entries as (record, stored hash) in ascending seq order."""
    verifier = ChainVerifier()
    for record, stored_hash in entries:
        if not verifier.feed(record, stored_hash):
            break
    return verifier.finish(head)


__all__ = [
    "GENESIS_HASH",
    "ChainHead",
    "ChainRecord",
    "ChainVerdict",
    "ChainVerifier",
    "canonical_json",
    "entry_hash",
    "iso",
    "verify_chain",
]
