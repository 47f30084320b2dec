"""audit chain: the key id that signed each entry

Entries written before this revision keep ``key_id`` null: they are plain SHA-256 and verify only up to
PAYMENTS_AUDIT_LEGACY_UNTIL_SEQ (see docs/security.md, "Audit chain keys").

Revision ID: a7c3e1f04b2d
Revises: 127589a41e51
Create Date: 2026-11-29 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c3e1f04b2d"
down_revision: str | None = "127589a41e51"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_audit_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referral_audit_log") as batch:
        batch.drop_column("key_id")
