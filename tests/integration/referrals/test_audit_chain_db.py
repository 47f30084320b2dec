"""The audit chain as stored: tampering with a row is found and named; concurrent appends never fork."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_audit_chain_head, referral_audit_log
from payments.adapters.db.referrals.audit import SqlAuditRepository
from payments.adapters.db.timestamps import as_utc as utc
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.audit_chain import GENESIS_HASH, ChainRecord, entry_hash, iso
from payments.referrals import CommissionService
from tests.integration.referrals.support import SETTINGS, Webhooks, paid, refund, snapshot


async def _chain_of_five(engine: AsyncEngine, service: CommissionService) -> list[str]:
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    for i in range(4):
        await hooks.deliver(refund(f"re_{i}", 1_000))
    async with engine.connect() as conn:
        return list(
            (await conn.scalars(select(referral_audit_log.c.id).order_by(referral_audit_log.c.seq))).all()
        )


async def test_an_untouched_chain_verifies(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    ids = await _chain_of_five(engine, service)
    verdict = await service.verify_audit_chain()
    assert (verdict.ok, verdict.count, verdict.first_bad_entry_id, len(ids)) == (True, 5, None, 5)


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "nothing to see"},
        {"after": {"amount": 1_000}},
        {"actor": "admin:mallory"},
        {"action": "paid"},
    ],
    ids=["reason", "after", "actor", "action"],
)
async def test_changing_one_row_fails_verification_and_names_it(
    engine: AsyncEngine, change: dict[str, object]
) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    ids = await _chain_of_five(engine, service)
    async with engine.begin() as conn:
        await conn.execute(
            update(referral_audit_log).where(referral_audit_log.c.id == ids[2]).values(**change)
        )
    verdict = await service.verify_audit_chain()
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[2])
    assert verdict.reason


@pytest.mark.parametrize("index", [0, 2, 4], ids=["first", "middle", "newest"])
async def test_deleting_one_row_fails_verification_and_names_it(engine: AsyncEngine, index: int) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    ids = await _chain_of_five(engine, service)
    async with engine.begin() as conn:
        await conn.execute(delete(referral_audit_log).where(referral_audit_log.c.id == ids[index]))
    verdict = await service.verify_audit_chain()
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[index])


async def test_swapping_two_rows_places_fails_verification(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    ids = await _chain_of_five(engine, service)
    log = referral_audit_log
    async with engine.begin() as conn:
        await conn.execute(update(log).where(log.c.id == ids[1]).values(seq=-1))
        await conn.execute(update(log).where(log.c.id == ids[2]).values(seq=2))
        await conn.execute(update(log).where(log.c.id == ids[1]).values(seq=3))
    verdict = await service.verify_audit_chain()
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[2])


async def test_concurrent_transactions_extend_one_chain(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    orders = [snapshot(f"ord_{i}", user_id=f"user_{i}") for i in range(8)]

    await asyncio.gather(*(Webhooks(engine, service, order).deliver(paid()) for order in orders))

    verdict = await service.verify_audit_chain()
    async with engine.connect() as conn:
        seqs = list(
            (await conn.scalars(select(referral_audit_log.c.seq).order_by(referral_audit_log.c.seq))).all()
        )
    assert verdict.ok and verdict.count == 8
    assert seqs == list(range(1, 9))


async def _rehash_without_the_key(engine: AsyncEngine, ids: list[str], index: int, **changes: Any) -> None:
    """Someone with write access to the tables but not the key: edit one row, recompute plain SHA-256 for it
    and every later row (relinking them), and move the chain head to match."""
    log = referral_audit_log
    async with engine.begin() as conn:
        rows = (await conn.execute(select(log).order_by(log.c.seq))).mappings().all()
        prev_id, prev_hash = (
            (rows[index - 1]["id"], rows[index - 1]["hash"]) if index else (None, GENESIS_HASH)
        )
        for row in rows[index:]:
            values = {**dict(row), **(changes if row["id"] == ids[index] else {})}
            record = ChainRecord(
                id=values["id"],
                seq=values["seq"],
                commission_id=values["commission_id"],
                referrer_id=values["referrer_id"],
                payment_id=values["payment_id"],
                action=values["action"],
                actor=values["actor"],
                before=values["before"],
                after=values["after"],
                reason=values["reason"],
                at=iso(utc(values["at"])),
                prev_id=prev_id,
                prev_hash=prev_hash,
                key_id=values["key_id"],
            )
            digest = entry_hash(record)
            await conn.execute(
                update(log)
                .where(log.c.id == record.id)
                .values(
                    **{k: v for k, v in values.items() if k in changes},
                    prev_id=prev_id,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            prev_id, prev_hash = record.id, digest
        await conn.execute(update(referral_audit_chain_head).values(entry_id=prev_id, hash=prev_hash))


@pytest.mark.parametrize("as_legacy", [False, True], ids=["keyed", "posing-as-legacy"])
async def test_a_row_rewritten_and_rehashed_with_plain_sha256_is_named(
    engine: AsyncEngine, as_legacy: bool
) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    ids = await _chain_of_five(engine, service)
    changes: dict[str, Any] = {"after": {"amount": 9_999}}
    if as_legacy:
        changes["key_id"] = None
    await _rehash_without_the_key(engine, ids, 2, **changes)
    verdict = await service.verify_audit_chain()
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[2]), verdict.reason


async def test_entries_carry_the_calculation_inputs_and_verify_after_key_rotation(
    engine: AsyncEngine,
) -> None:
    old = SETTINGS.model_copy(update={"audit_keys": [SecretStr("k1:" + "a" * 32)]})
    ids = await _chain_of_five(engine, CommissionService(old, SqlPaymentStore(engine)))
    async with engine.connect() as conn:
        first = (
            (await conn.execute(select(referral_audit_log).where(referral_audit_log.c.id == ids[0])))
            .mappings()
            .one()
        )
    assert first["key_id"] == "k1"
    inputs = {
        k: first["after"][k] for k in ("payment_amount", "rate_bps", "amount", "currency", "customer_user_id")
    }
    assert inputs == {
        "payment_amount": 10_000,
        "rate_bps": 1_000,
        "amount": 1_000,
        "currency": "eur",
        "customer_user_id": "user_1",
    }

    rotated = CommissionService(
        SETTINGS.model_copy(
            update={"audit_keys": [SecretStr("k2:" + "b" * 32), SecretStr("k1:" + "a" * 32)]}
        ),
        SqlPaymentStore(engine),
    )
    await Webhooks(engine, rotated, snapshot("ord_after_rotation", user_id="user_9")).deliver(paid())
    assert (await rotated.verify_audit_chain()).ok
    async with engine.connect() as conn:
        newest = await conn.scalar(
            select(referral_audit_log.c.key_id).order_by(referral_audit_log.c.seq.desc()).limit(1)
        )
    forgot_k1 = CommissionService(
        SETTINGS.model_copy(update={"audit_keys": [SecretStr("k2:" + "b" * 32)]}), SqlPaymentStore(engine)
    )
    verdict = await forgot_k1.verify_audit_chain()
    assert newest == "k2"
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[0])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_append_committing_while_verify_runs_is_not_taken_for_a_stray(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify reads the chain up to the head it saw; a webhook's entry committed after that is past that
    head but not past the head the stray check reads with it."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot("ord_1", user_id="u1")).deliver(paid())
    check = SqlAuditRepository.first_beyond_head

    async def after_an_append(self: SqlAuditRepository) -> tuple[str, int, int] | None:
        await Webhooks(engine, service, snapshot("ord_2", user_id="u2")).deliver(paid())
        return await check(self)

    monkeypatch.setattr(SqlAuditRepository, "first_beyond_head", after_an_append)
    verdict = await service.verify_audit_chain()
    assert verdict.ok, verdict.reason
