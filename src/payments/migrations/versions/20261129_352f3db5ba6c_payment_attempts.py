"""payment attempts per order and the checkout window

Revision ID: 352f3db5ba6c
Revises: ebc159032492
Create Date: 2026-11-29 12:55:28.214009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "352f3db5ba6c"
down_revision: str | None = "ebc159032492"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(
            sa.Column("superseded", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(sa.Column("stripe_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("stripe_key_generation", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("uq_payments_order_id"), type_="unique")
        batch_op.create_index(
            "uq_payments_live_order",
            ["order_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('open', 'processing')"),
            sqlite_where=sa.text("status IN ('open', 'processing')"),
        )
        batch_op.create_unique_constraint("uq_payments_order_attempt", ["order_id", "attempt"])


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_payments_order_attempt", type_="unique")
        batch_op.drop_index(
            "uq_payments_live_order",
            postgresql_where=sa.text("status IN ('open', 'processing')"),
            sqlite_where=sa.text("status IN ('open', 'processing')"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_payments_order_id"), ["order_id"])
        batch_op.drop_column("stripe_key_generation")
        batch_op.drop_column("stripe_expires_at")
        batch_op.drop_column("superseded")
        batch_op.drop_column("attempt")
