"""Stripe's currency rules, kept here on their own (https://docs.stripe.com/currencies).

The emulator must not borrow the service's money rules: if the service got a currency wrong, an emulator
sharing its table would agree with the mistake instead of answering as Stripe would.
"""

from __future__ import annotations

# Amounts are already in the major unit: 500 JPY is `amount=500`.
ZERO_DECIMAL = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
        "xof", "xpf",
    }
)  # fmt: skip

# Three minor digits, and card networks take only multiples of 10 (5.124 KWD must be sent as 5120).
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# Two decimals in the API for backwards compatibility, but only whole units can be charged:
# the amount must be divisible by 100 (ISK since April 2023).
WHOLE_UNITS_IN_TWO_DECIMALS = frozenset({"isk"})

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


def exponent(currency: str) -> int:
    """Digits after the decimal point in the API's minor units."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


# Stripe takes amounts of up to eight digits (99999999: $999,999.99).
MAX_AMOUNT = 99_999_999


def amount_problem(amount: int, currency: str) -> tuple[str, str] | None:
    """Stripe's error code and message refusing this amount in this currency, or None when it is fine."""
    if amount > MAX_AMOUNT:
        return "amount_too_large", f"Amount must be no more than {format_amount(MAX_AMOUNT, currency)}"
    if currency in THREE_DECIMAL and amount % 10:
        return "invalid_charge_amount", (
            f"Invalid amount. Amounts in {currency.upper()} must be rounded to the nearest ten "
            "(the last digit must be 0)."
        )
    if currency in WHOLE_UNITS_IN_TWO_DECIMALS and amount % 100:
        return "invalid_charge_amount_no_decimal_compatible", (
            f"Invalid amount. Currency {currency.upper()} has become effectively zero-decimal and "
            "charged amounts must be evenly divisible by 100."
        )
    return None


def format_amount(amount_minor: int, currency: str) -> str:
    """Minor units shown as a person reads them: the currency's own exponent (JPY has none)."""
    currency = currency.lower()
    exp = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exp)
    if currency in WHOLE_UNITS_IN_TWO_DECIMALS:
        number = f"{whole:,}"
    else:
        number = f"{whole:,}" + (f".{fraction:0{exp}d}" if exp else "")
    symbol = _SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency.upper()}"
