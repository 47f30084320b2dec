"""The referral audit log: an append-only hash chain, stored through ``AuditRepository`` (ports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments.domain.audit_chain import (
    AuditKeyring,
    ChainRecord,
    ChainVerifier,
    StoredEntry,
    iso,
    keyed_hash,
)
from payments.domain.commission import AuditAction
from payments.ids import new_id
from payments.referrals.models import AuditEntry, AuditVerification
from payments.referrals.ports import AuditRepository


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An entry to append; the log adds id, seq, time and the hashes."""

    action: AuditAction
    actor: str
    commission_id: str | None = None
    referrer_id: str | None = None
    payment_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None


class AuditLog:
    def __init__(self, keyring: AuditKeyring) -> None:
        self._keyring = keyring

    async def append(self, log: AuditRepository, drafts: Sequence[AuditDraft], at: datetime) -> None:
        """Append inside the caller's transaction. Takes the chain head's row lock first, so concurrent
        transactions extend the chain one after the other instead of forking it (SQLite already runs one
        writer at a time). Callers lock the commission rows they change before calling this, so locks
        are always taken in the same order."""
        if not drafts:
            return
        head = await log.lock_head()
        at_text = iso(at)
        seq, prev_id, prev_hash = head.seq, head.entry_id, head.hash
        key = self._keyring.signing
        entries: list[tuple[ChainRecord, str]] = []
        for draft in drafts:
            seq += 1
            record = ChainRecord(
                id=new_id("aud"),
                seq=seq,
                commission_id=draft.commission_id,
                referrer_id=draft.referrer_id,
                payment_id=draft.payment_id,
                action=draft.action.value,
                actor=draft.actor,
                before=draft.before,
                after=draft.after,
                reason=draft.reason,
                at=at_text,
                prev_id=prev_id,
                prev_hash=prev_hash,
                key_id=key.id,
            )
            digest = keyed_hash(record, key)
            entries.append((record, digest))
            prev_id, prev_hash = record.id, digest
        await log.append(entries, at)

    async def for_commission(self, log: AuditRepository, commission_id: str) -> list[AuditEntry]:
        return [_entry(stored) for stored in await log.for_commission(commission_id)]

    async def has_entry(
        self, log: AuditRepository, commission_id: str, action: AuditAction, payment_id: str
    ) -> bool:
        return await log.has_entry(commission_id, action.value, payment_id)

    async def verify(self, log: AuditRepository, batch_size: int = 2000) -> AuditVerification:
        """Recompute the chain in seq order, in batches, never holding it all in memory."""
        head = await log.read_head()
        verifier = ChainVerifier(self._keyring)
        last_seq = 0
        limit_seq = head.seq if head is not None else 0
        while not verifier.failed:
            batch = await log.entries(last_seq, limit_seq, batch_size)
            if not batch:
                break
            for stored in batch:
                if not verifier.feed(stored.record, stored.hash):
                    break
            last_seq = batch[-1].record.seq
        verdict = verifier.finish(head)
        if not verdict.ok:
            return AuditVerification(False, verdict.count, verdict.first_bad_entry_id, verdict.reason)
        # Entries past the head were not appended through the chain (appenders move the head in the same
        # transaction), so one found there was written by someone else. The head may have moved since.
        stray = await log.first_beyond_head()
        if stray is not None:
            stray_id, stray_seq, head_seq = stray
            return AuditVerification(
                False,
                verdict.count,
                stray_id,
                f"entry seq {stray_seq} lies beyond the chain head (seq {head_seq})",
            )
        return AuditVerification(True, verdict.count, None, None)


def _entry(stored: StoredEntry) -> AuditEntry:
    record = stored.record
    return AuditEntry(
        id=record.id,
        seq=record.seq,
        commission_id=record.commission_id,
        referrer_id=record.referrer_id,
        payment_id=record.payment_id,
        action=AuditAction(record.action),
        actor=record.actor,
        before=record.before,
        after=record.after,
        reason=record.reason,
        at=stored.at,
        prev_hash=record.prev_hash,
        hash=stored.hash,
    )
