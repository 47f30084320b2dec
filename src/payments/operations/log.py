"""The operator action log: who did what to which id, and what came of it (``uow.operator_log``)."""

from __future__ import annotations

from datetime import UTC, datetime

from payments.ids import new_id
from payments.records import OperatorAction

__all__ = ["OperatorAction", "new_entry"]


def new_entry(
    *, actor: str, action: str, subject: str, outcome: str, ok: bool, now: datetime
) -> OperatorAction:
    """An entry cut to the columns' lengths: a long reason must not make the action's record fail."""
    return OperatorAction(
        id=new_id("opa"),
        at=now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC),
        actor=actor[:255],
        action=action[:40],
        subject=subject[:255],
        outcome=outcome[:500],
        ok=ok,
    )
