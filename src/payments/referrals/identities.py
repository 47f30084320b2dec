"""What identifies a shop user to the fraud guards: their emails and card fingerprints, hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.referral_tables import referral_identities
from payments.domain.fraud_guards import normalise_email

EMAIL = "email"
CARD = "card"


def identity_hash(kind: str, value: str) -> str:
    """sha256 of the kind and the already-normalised value; "" for no value, which matches nothing."""
    if not value:
        return ""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def email_hash(email: str | None) -> str:
    return identity_hash(EMAIL, normalise_email(email))


def card_hash(fingerprint: str) -> str:
    return identity_hash(CARD, fingerprint.strip())


@dataclass(frozen=True, slots=True)
class Identities:
    emails: frozenset[str]
    cards: frozenset[str]


def identity_hashes(email: str | None, fingerprint: str) -> list[tuple[str, str]]:
    """(kind, hash) pairs to record for a paying user; the webhook's transaction writes them."""
    return [
        (kind, digest)
        for kind, digest in ((EMAIL, email_hash(email)), (CARD, card_hash(fingerprint)))
        if digest
    ]


class IdentityRepository:
    async def of_user(self, conn: AsyncConnection, user_id: str) -> Identities:
        query = select(referral_identities.c.kind, referral_identities.c.value_hash).where(
            referral_identities.c.user_id == user_id
        )
        emails: set[str] = set()
        cards: set[str] = set()
        for kind, digest in await conn.execute(query):
            (emails if kind == EMAIL else cards).add(digest)
        return Identities(frozenset(emails), frozenset(cards))
