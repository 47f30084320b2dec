"""Engine creation for both backends; the rest of the code is the same on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def url_password(url: str) -> str | None:
    """The password in a database URL, for the log's redaction; None when there is none or the URL does
    not parse (it then fails later, where it is used, with SQLAlchemy's own message)."""
    try:
        return make_url(url).password
    except Exception:
        return None


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int | None = None, pool_timeout: float = 30
) -> AsyncEngine:
    """``hide_parameters``: an error's text (which reaches logs and tracebacks) never carries the bound
    values (user and referrer ids, emails, card fingerprints)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _serialise_sqlite_writers(engine)
        return engine
    # No pre-ping: it costs a round trip per checkout on the webhook path. A connection that died with
    # the server fails its statement once, SQLAlchemy invalidates it (and the pool, on a disconnect), and
    # the request answers 5xx, which Stripe and our callers retry.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        hide_parameters=True,
    )


def create_export_engine(main: AsyncEngine, pool_size: int) -> AsyncEngine:
    """A small pool of its own for CSV downloads, which last as long as their reader: however many run,
    they wait for these few connections (then 503), never for the ones webhooks and payments use."""
    return create_engine(
        main.url.render_as_string(hide_password=False), pool_size=pool_size, max_overflow=0, pool_timeout=5
    )


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE).

    SQLite has no row locks; a deferred transaction that reads then writes can fail to upgrade its lock
    under concurrency. Taking the write lock at BEGIN makes each transaction the equivalent of
    PostgreSQL's ``SELECT ... FOR UPDATE`` on everything it touches, which is what our idempotency needs.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
