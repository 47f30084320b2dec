"""A keyed hash chain over the referral audit log, so an edited, deleted or reordered entry is detectable.

Each entry's hash is HMAC-SHA256, under a key held outside the database (``PAYMENTS_AUDIT_KEYS``), over
the canonical JSON of its fields, which include its sequence number, the previous entry's id and hash, and
the id of the key that signed it (so keys can rotate: old entries verify under their own key). Someone who
can write the table but does not hold the key cannot produce a hash that verifies; a plain SHA-256 chain
could be rewritten and recomputed by anyone. Entries written before keys existed (``key_id`` null) are
plain SHA-256 and accepted only up to ``legacy_until_seq``, a setting outside the database too, so a
rewritten entry cannot pass itself off as legacy.

Editing an entry changes its hash; deleting one leaves a gap in the sequence (and the next entry still
names the deleted one as its predecessor); reordering changes which sequence number an entry's content
was hashed with. Deleting the newest entries is caught by comparing with the chain head, which records
the last sequence number, id and hash.

Timestamps are ISO 8601 strings in UTC with microseconds inside the hashed JSON, so PostgreSQL and
SQLite, which hand datetimes back differently, hash an entry identically.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class AuditKeyError(ValueError):
    """An audit key setting that cannot be used (the message never contains the secret)."""


@dataclass(frozen=True, slots=True)
class AuditKey:
    id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"AuditKey(id={self.id!r})"


def parse_audit_keys(values: Iterable[str]) -> tuple[AuditKey, ...]:
    """``id:secret`` items, newest (the signing key) first; ids must be unique."""
    keys: list[AuditKey] = []
    for position, value in enumerate(values, start=1):
        key_id, colon, secret = value.partition(":")
        if not colon or not _KEY_ID.match(key_id) or not secret:
            raise AuditKeyError(f"key {position} must look like id:secret (id: letters, digits, _ . -)")
        if any(k.id == key_id for k in keys):
            raise AuditKeyError(f"key id {key_id!r} appears twice")
        keys.append(AuditKey(key_id, secret.encode()))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class AuditKeyring:
    """The keys that verify entries (the first also signs new ones) and the legacy boundary."""

    keys: tuple[AuditKey, ...]
    legacy_until_seq: int = 0

    def __post_init__(self) -> None:
        if not self.keys:
            raise AuditKeyError("at least one audit key is required")

    @property
    def signing(self) -> AuditKey:
        return self.keys[0]

    def find(self, key_id: str) -> AuditKey | None:
        return next((k for k in self.keys if k.id == key_id), None)


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
    key_id: str | None = None  # None: a legacy entry, plain SHA-256

    def payload(self) -> JsonObject:
        payload = self._fields()
        if self.key_id is not None:
            payload["key_id"] = self.key_id
        return payload

    def _fields(self) -> JsonObject:
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
    """The legacy, unkeyed hash (entries written before audit keys existed)."""
    return hashlib.sha256(canonical_json(record.payload())).hexdigest()


def keyed_hash(record: ChainRecord, key: AuditKey) -> str:
    if record.key_id != key.id:
        raise ValueError("the record names another key")
    return hmac.new(key.secret, canonical_json(record.payload()), hashlib.sha256).hexdigest()


def _hash_problem(record: ChainRecord, stored_hash: str, keyring: AuditKeyring) -> str | None:
    if record.key_id is None:
        if record.seq > keyring.legacy_until_seq:
            return (
                f"entry seq {record.seq} is not keyed (plain SHA-256) but lies past the legacy entries "
                f"(up to seq {keyring.legacy_until_seq})"
            )
        expected = entry_hash(record)
    else:
        key = keyring.find(record.key_id)
        if key is None:
            return f"entry seq {record.seq} names audit key {record.key_id!r}, which is not configured"
        expected = keyed_hash(record, key)
    if not hmac.compare_digest(expected, stored_hash):
        return f"entry seq {record.seq} was changed (hash mismatch)"
    return None


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    entry_id: str | None
    hash: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the log holds it: its hashed content, its hash, and its time as stored."""

    record: ChainRecord
    hash: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    count: int
    first_bad_entry_id: str | None
    reason: str | None


class ChainVerifier:
    """Checks entries one at a time in sequence order, so a long chain can be streamed in batches."""

    def __init__(self, keyring: AuditKeyring) -> None:
        self._keyring = keyring
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
        problem = _hash_problem(record, stored_hash, self._keyring)
        if problem is not None:
            self._failure = (record.id, problem)
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


def verify_chain(
    entries: Iterable[tuple[ChainRecord, str]], head: ChainHead | None, keyring: AuditKeyring
) -> ChainVerdict:
    """Entries as (record, stored hash) in ascending seq order."""
    verifier = ChainVerifier(keyring)
    for record, stored_hash in entries:
        if not verifier.feed(record, stored_hash):
            break
    return verifier.finish(head)


__all__ = [
    "GENESIS_HASH",
    "AuditKey",
    "AuditKeyError",
    "AuditKeyring",
    "ChainHead",
    "ChainRecord",
    "ChainVerdict",
    "ChainVerifier",
    "canonical_json",
    "entry_hash",
    "iso",
    "keyed_hash",
    "parse_audit_keys",
    "verify_chain",
]
