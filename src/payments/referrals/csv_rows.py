"""The CSV download's columns and cells: the admin's, and the referrer's derived from them.

A referrer's columns are the admin's columns that its view of a commission (``referrer_view``) has, in
the admin's order, and its cells come from that view: whatever the view hides (the customer, the payment,
a guard's reason) cannot reach the file by a column added here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from datetime import datetime
from enum import Enum

from payments.domain.audit_chain import iso
from payments.domain.commission import Commission
from payments.referrals.referrer_view import ReferrerCommission, for_referrer

CSV_COLUMNS = (
    "id",
    "created_at",
    "order_id",
    "payment_id",
    "status",
    "reason",
    "currency",
    "payment_amount",
    "rate_bps",
    "original_amount",
    "amount",
    "hold_until",
    "paid_at",
    "payout_id",
)
_REFERRER_FIELDS = frozenset(f.name for f in fields(ReferrerCommission))
REFERRER_CSV_COLUMNS = tuple(column for column in CSV_COLUMNS if column in _REFERRER_FIELDS)


def admin_values(commission: Commission) -> tuple[object, ...]:
    return tuple(_cell(getattr(commission, column)) for column in CSV_COLUMNS)


def referrer_values(commission: Commission) -> tuple[object, ...]:
    view = for_referrer(commission)
    return tuple(_cell(getattr(view, column)) for column in REFERRER_CSV_COLUMNS)


def csv_line(values: tuple[object, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_defuse(value) for value in values])
    return buffer.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _defuse(value: object) -> object:
    # Order ids come from another service; a leading = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


__all__ = ["CSV_COLUMNS", "REFERRER_CSV_COLUMNS", "admin_values", "csv_line", "referrer_values"]
