"""event sweeps: housekeeping's watermark in Stripe's Events API

Revision ID: 5e1f0c2a9d7b
Revises: c41d9e2a7b63
Create Date: 2026-11-29 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0c2a9d7b"
down_revision: str | None = "c41d9e2a7b63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_sweeps",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("event_sweeps")
