"""The referral audit log's rows and its chain head (``referral_audit_log``, ``referral_audit_chain_head``).

The hash chain itself (what each entry's hash covers, how a chain is verified) is the domain's
(``domain/audit_chain.py``) and the referral module's (``referrals/audit.py``); this only stores and reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update

from payments.adapters.db.referral_tables import referral_audit_chain_head as head_table
from payments.adapters.db.referral_tables import referral_audit_log as log_table
from payments.adapters.db.referrals.portable import insert_ignoring_conflicts
from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.timestamps import as_utc as utc
from payments.domain.audit_chain import GENESIS_HASH, ChainHead, ChainRecord, StoredEntry, iso

_HEAD_ID = 1


class SqlAuditRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def lock_head(self) -> ChainHead:
        """The chain head, row-locked until the transaction ends (created on the first append ever)."""
        conn = await self._connection()
        query = select(head_table).where(head_table.c.id == _HEAD_ID).with_for_update()
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            # First append ever; two first appenders race on the primary key and one inserts nothing.
            await insert_ignoring_conflicts(
                conn, head_table, [{"id": _HEAD_ID, "seq": 0, "entry_id": None, "hash": GENESIS_HASH}], ["id"]
            )
            row = (await conn.execute(query)).mappings().one()
        return ChainHead(seq=int(row["seq"]), entry_id=row["entry_id"], hash=row["hash"])

    async def append(self, entries: Sequence[tuple[ChainRecord, str]], at: datetime) -> None:
        """Insert the entries (record, hash) and move the head to the last one; the caller holds the head."""
        if not entries:
            return
        conn = await self._connection()
        rows: list[dict[str, Any]] = [
            {**record.payload(), "at": utc(at), "hash": digest} for record, digest in entries
        ]
        await conn.execute(insert(log_table), rows)
        last, last_hash = entries[-1]
        await conn.execute(
            update(head_table)
            .where(head_table.c.id == _HEAD_ID)
            .values(seq=last.seq, entry_id=last.id, hash=last_hash)
        )

    async def read_head(self) -> ChainHead | None:
        conn = await self._connection()
        row = (await conn.execute(select(head_table).where(head_table.c.id == _HEAD_ID))).mappings().first()
        if row is None:
            return None
        return ChainHead(seq=int(row["seq"]), entry_id=row["entry_id"], hash=row["hash"])

    async def for_commission(self, commission_id: str) -> list[StoredEntry]:
        conn = await self._connection()
        query = select(log_table).where(log_table.c.commission_id == commission_id).order_by(log_table.c.seq)
        return [_stored(row) for row in (await conn.execute(query)).mappings()]

    async def has_entry(self, commission_id: str, action: str, payment_id: str) -> bool:
        conn = await self._connection()
        query = (
            select(log_table.c.id)
            .where(
                log_table.c.commission_id == commission_id,
                log_table.c.action == action,
                log_table.c.payment_id == payment_id,
            )
            .limit(1)
        )
        return (await conn.execute(query)).first() is not None

    async def entries(self, after_seq: int, up_to_seq: int, limit: int) -> list[StoredEntry]:
        """Entries with after_seq < seq <= up_to_seq, in seq order, at most ``limit``."""
        conn = await self._connection()
        query = (
            select(log_table)
            .where(log_table.c.seq > after_seq, log_table.c.seq <= up_to_seq)
            .order_by(log_table.c.seq)
            .limit(limit)
        )
        return [_stored(row) for row in (await conn.execute(query)).mappings()]

    async def first_beyond_head(self) -> tuple[str, int, int] | None:
        """One statement, so one snapshot of the log and its head."""
        conn = await self._connection()
        head_seq = func.coalesce(
            select(head_table.c.seq).where(head_table.c.id == _HEAD_ID).scalar_subquery(), 0
        )
        row = (
            await conn.execute(
                select(log_table.c.id, log_table.c.seq, head_seq.label("head_seq"))
                .where(log_table.c.seq > head_seq)
                .order_by(log_table.c.seq)
                .limit(1)
            )
        ).first()
        return (row.id, int(row.seq), int(row.head_seq)) if row is not None else None

    async def count(self) -> int:
        conn = await self._connection()
        return int(await conn.scalar(select(func.count()).select_from(log_table)) or 0)


def _stored(row: RowMapping) -> StoredEntry:
    at = utc(row["at"])
    record = ChainRecord(
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
        at=iso(at),
        prev_id=row["prev_id"],
        prev_hash=row["prev_hash"],
        key_id=row["key_id"],
    )
    return StoredEntry(record=record, hash=row["hash"], at=at)
