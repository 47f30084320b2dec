"""Minor units shown as a person reads them: the currency's own exponent (JPY has none)."""

from __future__ import annotations

# The currency exponents are Stripe's rules, shared with the service's pure domain (no IO there).
from payments.domain.money import exponent

_SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "cad": "CA$",
    "aud": "A$",
    "inr": "₹",
    "chf": "CHF ",
}


def format_amount(amount_minor: int, currency: str) -> str:
    exp = exponent(currency.lower())
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exp)
    number = f"{whole:,}" + (f".{fraction:0{exp}d}" if exp else "")
    symbol = _SYMBOLS.get(currency.lower())
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency.upper()}"
