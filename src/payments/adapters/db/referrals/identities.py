"""The hashed emails and card fingerprints a shop user is known by (``referral_identities``).

The webhook's transaction writes them (``record_identities`` on the unit of work, folded into its held
writes on PostgreSQL); the fraud guards read a referrer's here.
"""

from __future__ import annotations

from sqlalchemy import select

from payments.adapters.db.referral_tables import referral_identities
from payments.adapters.db.repositories import ConnectionSource


class SqlIdentityRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def of_user(self, user_id: str) -> list[tuple[str, str]]:
        """(kind, value hash) pairs of the user."""
        query = select(referral_identities.c.kind, referral_identities.c.value_hash).where(
            referral_identities.c.user_id == user_id
        )
        return [(kind, digest) for kind, digest in await (await self._connection()).execute(query)]
