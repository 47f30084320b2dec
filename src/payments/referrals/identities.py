"""What identifies a shop user to the fraud guards: their emails and card fingerprints, hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


def identities_of(pairs: list[tuple[str, str]]) -> Identities:
    emails = frozenset(digest for kind, digest in pairs if kind == EMAIL)
    cards = frozenset(digest for kind, digest in pairs if kind != EMAIL)
    return Identities(emails, cards)
