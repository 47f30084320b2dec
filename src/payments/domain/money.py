"""Money as integer minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

from dataclasses import dataclass

# Stripe's zero-decimal currencies: the amount is already in the major unit (1 JPY = amount 1).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
# Three-decimal currencies Stripe supports; amounts must be multiples of 10 there.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# The currencies the shop sells in. Kept explicit: accepting any three letters would let a typo
# through to Stripe and back as a 502.
SUPPORTED_CURRENCIES = frozenset(
    {
        "usd", "eur", "gbp", "chf", "sek", "nok", "dkk", "pln", "czk", "huf", "ron", "cad", "aud", "nzd",
        "sgd", "hkd", "mxn", "brl", "inr", "zar", "ils", "try", "aed", "jpy", "krw", "clp", "vnd", "kwd",
        "bhd", "jod", "omr",
    }
)  # fmt: skip


class InvalidMoney(ValueError):
    """A currency or amount that the service does not accept."""


def normalise_currency(code: str) -> str:
    normalised = code.strip().lower()
    if normalised not in SUPPORTED_CURRENCIES:
        raise InvalidMoney(f"unsupported currency {code!r}")
    return normalised


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidMoney("amount must be an integer number of minor units")
        if self.currency != self.currency.lower() or len(self.currency) != 3:
            raise InvalidMoney(f"currency must be a lower-case ISO 4217 code, got {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidMoney(f"cannot combine {self.currency} with {other.currency}")

    def format(self) -> str:
        """Human form for pages and demos, e.g. ``12.50 EUR`` or ``1000 JPY``."""
        exp = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp) if exp else (abs(self.amount), 0)
        text = f"{whole}.{frac:0{exp}d}" if exp else str(whole)
        return f"{sign}{text} {self.currency.upper()}"


def validate_amount(amount: int, currency: str, maximum: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidMoney("amount must be an integer number of minor units")
    if amount <= 0:
        raise InvalidMoney("amount must be positive")
    if amount > maximum:
        raise InvalidMoney(f"amount exceeds the maximum of {maximum}")
    if currency in THREE_DECIMAL_CURRENCIES and amount % 10:
        raise InvalidMoney(f"{currency} amounts must be a multiple of 10 minor units")
