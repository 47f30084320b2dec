"""Whether a referred payment earns a commission: accrue, refuse (with a reason) or hold for a person.

A pure function of facts the service gathers; the rules live here so they can be tested exhaustively and
read in one place. Refusals are checked before holds: a payment that is both self-referred and risky is
refused, since no person could approve it anyway.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    ACCRUE = "accrue"
    REFUSE = "refuse"
    HOLD = "hold"


class GuardReason(StrEnum):
    NO_REFERRER = "no_referrer"
    BANNED_REFERRER = "banned_referrer"
    DUPLICATE_ORDER = "duplicate_order"
    SELF_REFERRAL = "self_referral"
    SHARED_EMAIL = "shared_email"
    SHARED_CARD = "shared_card"
    BELOW_MINIMUM = "below_minimum"
    AMOUNT_MISMATCH = "amount_mismatch"
    ELEVATED_RISK = "elevated_risk"
    VELOCITY = "velocity"


# Stripe Radar's levels that a person should look at before money goes to a referrer.
RISKY_LEVELS = frozenset({"elevated", "highest"})

# Providers that ignore dots in the local part; the alias is folded to one domain.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalise_email(email: str | None) -> str:
    """The form two addresses of one mailbox share, for comparing a customer with a referrer.

    Rule: strip and lower-case; drop a ``+tag`` from the local part for every domain (sub-addressing is
    near universal, and it is the cheapest way to fake a second identity); for gmail.com and
    googlemail.com also drop every dot in the local part and fold the domain to gmail.com. An empty or
    malformed address normalises to ``""``, which never matches anything.
    """
    if not email:
        return ""
    address = email.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return ""
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
        domain = _DOTLESS_DOMAINS[domain]
    if not local:
        return ""
    return f"{local}@{domain}"


@dataclass(frozen=True, slots=True)
class GuardFacts:
    referrer_id: str | None
    customer_user_id: str
    customer_email: str  # normalised with normalise_email
    card_fingerprint: str
    amount: int
    min_amount: int
    order_has_commission: bool
    recent_accruals: int  # the referrer's commissions in the last hour, refusals excluded
    velocity_limit: int  # accruals per hour above which a person must look
    referrer_emails: Collection[str]  # normalised
    referrer_fingerprints: Collection[str]
    risk_level: str
    needs_review: bool  # the payment's amount or currency is not what was asked
    banned: bool


@dataclass(frozen=True, slots=True)
class GuardDecision:
    verdict: Verdict
    reason: GuardReason | None = None

    @classmethod
    def accrue(cls) -> GuardDecision:
        return cls(Verdict.ACCRUE)

    @classmethod
    def refuse(cls, reason: GuardReason) -> GuardDecision:
        return cls(Verdict.REFUSE, reason)

    @classmethod
    def hold(cls, reason: GuardReason) -> GuardDecision:
        return cls(Verdict.HOLD, reason)


def decide(facts: GuardFacts) -> GuardDecision:
    referrer = (facts.referrer_id or "").strip()
    if not referrer:
        return GuardDecision.refuse(GuardReason.NO_REFERRER)
    if facts.banned:
        return GuardDecision.refuse(GuardReason.BANNED_REFERRER)
    if facts.order_has_commission:
        return GuardDecision.refuse(GuardReason.DUPLICATE_ORDER)
    if referrer == facts.customer_user_id.strip():
        return GuardDecision.refuse(GuardReason.SELF_REFERRAL)
    if facts.customer_email and facts.customer_email in facts.referrer_emails:
        return GuardDecision.refuse(GuardReason.SHARED_EMAIL)
    if facts.card_fingerprint and facts.card_fingerprint in facts.referrer_fingerprints:
        return GuardDecision.refuse(GuardReason.SHARED_CARD)
    if facts.amount < facts.min_amount:
        return GuardDecision.refuse(GuardReason.BELOW_MINIMUM)
    if facts.needs_review:
        return GuardDecision.hold(GuardReason.AMOUNT_MISMATCH)
    if facts.risk_level in RISKY_LEVELS:
        return GuardDecision.hold(GuardReason.ELEVATED_RISK)
    if facts.recent_accruals >= facts.velocity_limit:
        return GuardDecision.hold(GuardReason.VELOCITY)
    return GuardDecision.accrue()


def decide_on_charge(
    card_fingerprint: str, referrer_fingerprints: Collection[str], risk_level: str
) -> GuardDecision:
    """The guards that read the charge (the card, Radar's risk), for a commission accrued before its charge
    was known: ``checkout.session.completed`` carries neither, and may arrive before ``charge.succeeded``.
    The guards that read the order's or the referrer's state are not asked again: the commission now counts
    in them itself."""
    if card_fingerprint and card_fingerprint in referrer_fingerprints:
        return GuardDecision.refuse(GuardReason.SHARED_CARD)
    if risk_level in RISKY_LEVELS:
        return GuardDecision.hold(GuardReason.ELEVATED_RISK)
    return GuardDecision.accrue()


__all__ = [
    "RISKY_LEVELS",
    "GuardDecision",
    "GuardFacts",
    "GuardReason",
    "Verdict",
    "decide",
    "decide_on_charge",
    "normalise_email",
]
