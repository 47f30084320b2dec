"""referrer lock rows: accrual, bans and payouts of one referrer serialise on them

Revision ID: c41d9e2a7b63
Revises: 352f3db5ba6c
Create Date: 2026-11-29 13:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d9e2a7b63"
down_revision: str | None = "352f3db5ba6c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_referrer_locks",
        sa.Column("referrer_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("referrer_id", name=op.f("pk_referral_referrer_locks")),
    )


def downgrade() -> None:
    op.drop_table("referral_referrer_locks")
