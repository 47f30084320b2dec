"""The referral audit log: an append-only hash chain in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.referral_tables import referral_audit_chain_head as head_table
from payments.adapters.db.referral_tables import referral_audit_log as log_table
from payments.domain.audit_chain import (
    GENESIS_HASH,
    AuditKeyring,
    ChainHead,
    ChainRecord,
    ChainVerifier,
    iso,
    keyed_hash,
)
from payments.referrals.models import AuditAction, AuditEntry, AuditVerification
from payments.referrals.portable import insert_ignoring_conflicts, new_id, utc

_HEAD_ID = 1


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

    async def append(self, conn: AsyncConnection, drafts: Sequence[AuditDraft], at: datetime) -> None:
        """Append inside the caller's transaction. Takes the chain head's row lock first, so concurrent
        transactions extend the chain one after the other instead of forking it (SQLite already runs one
        writer at a time). Callers lock the commission rows they change before calling this, so locks
        are always taken in the same order."""
        if not drafts:
            return
        head = await self._lock_head(conn)
        at_text = iso(at)
        seq, prev_id, prev_hash = head.seq, head.entry_id, head.hash
        key = self._keyring.signing
        rows: list[dict[str, Any]] = []
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
            rows.append({**record.payload(), "at": utc(at), "hash": digest})
            prev_id, prev_hash = record.id, digest
        await conn.execute(insert(log_table), rows)
        await conn.execute(
            update(head_table)
            .where(head_table.c.id == _HEAD_ID)
            .values(seq=seq, entry_id=prev_id, hash=prev_hash)
        )

    async def _lock_head(self, conn: AsyncConnection) -> ChainHead:
        query = select(head_table).where(head_table.c.id == _HEAD_ID).with_for_update()
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            # First append ever; two first appenders race on the primary key and one inserts nothing.
            await insert_ignoring_conflicts(
                conn, head_table, [{"id": _HEAD_ID, "seq": 0, "entry_id": None, "hash": GENESIS_HASH}], ["id"]
            )
            row = (await conn.execute(query)).mappings().one()
        return ChainHead(seq=int(row["seq"]), entry_id=row["entry_id"], hash=row["hash"])

    async def for_commission(self, conn: AsyncConnection, commission_id: str) -> list[AuditEntry]:
        query = select(log_table).where(log_table.c.commission_id == commission_id).order_by(log_table.c.seq)
        return [_entry(row) for row in (await conn.execute(query)).mappings()]

    async def has_entry(
        self, conn: AsyncConnection, commission_id: str, action: AuditAction, payment_id: str
    ) -> bool:
        query = (
            select(log_table.c.id)
            .where(
                log_table.c.commission_id == commission_id,
                log_table.c.action == action.value,
                log_table.c.payment_id == payment_id,
            )
            .limit(1)
        )
        return (await conn.execute(query)).first() is not None

    async def verify(self, conn: AsyncConnection, batch_size: int = 2000) -> AuditVerification:
        """Recompute the chain in seq order, in batches, never holding it all in memory."""
        head = await self._read_head(conn)
        verifier = ChainVerifier(self._keyring)
        last_seq = 0
        limit_seq = head.seq if head is not None else 0
        while not verifier.failed:
            query = (
                select(log_table)
                .where(log_table.c.seq > last_seq, log_table.c.seq <= limit_seq)
                .order_by(log_table.c.seq)
                .limit(batch_size)
            )
            rows = (await conn.execute(query)).mappings().all()
            if not rows:
                break
            for row in rows:
                if not verifier.feed(_record(row), row["hash"]):
                    break
            last_seq = int(rows[-1]["seq"])
        verdict = verifier.finish(head)
        if not verdict.ok:
            return AuditVerification(False, verdict.count, verdict.first_bad_entry_id, verdict.reason)
        # Entries past the head were not appended through the chain (appenders move the head in the same
        # transaction), so one found there was written by someone else. Re-read the head: it may have moved.
        current = await self._read_head(conn)
        current_seq = current.seq if current is not None else 0
        stray = (
            await conn.execute(
                select(log_table.c.id, log_table.c.seq)
                .where(log_table.c.seq > current_seq)
                .order_by(log_table.c.seq)
                .limit(1)
            )
        ).first()
        if stray is not None:
            return AuditVerification(
                False,
                verdict.count,
                stray.id,
                f"entry seq {stray.seq} lies beyond the chain head (seq {current_seq})",
            )
        return AuditVerification(True, verdict.count, None, None)

    async def count(self, conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.count()).select_from(log_table)) or 0)

    async def _read_head(self, conn: AsyncConnection) -> ChainHead | None:
        row = (await conn.execute(select(head_table).where(head_table.c.id == _HEAD_ID))).mappings().first()
        if row is None:
            return None
        return ChainHead(seq=int(row["seq"]), entry_id=row["entry_id"], hash=row["hash"])


def _record(row: RowMapping) -> ChainRecord:
    return ChainRecord(
        id=row["id"],
        seq=int(row["seq"]),
        commission_id=row["commission_id"],
        referrer_id=row["referrer_id"],
        payment_id=row["payment_id"],
        action=row["action"],
        actor=row["actor"],
        before=row["before"],
        after=row["after"],
        reason=row["reason"],
        at=iso(utc(row["at"])),
        prev_id=row["prev_id"],
        prev_hash=row["prev_hash"],
        key_id=row["key_id"],
    )


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        seq=int(row["seq"]),
        commission_id=row["commission_id"],
        referrer_id=row["referrer_id"],
        payment_id=row["payment_id"],
        action=AuditAction(row["action"]),
        actor=row["actor"],
        before=row["before"],
        after=row["after"],
        reason=row["reason"],
        at=utc(row["at"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
