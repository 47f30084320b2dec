"""The ``payments`` command (see the contract's command table)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from payments.config import ConfigError, Settings
from payments.domain.text import unstorable_reason
from payments.observability.logging import configure_logging

T = TypeVar("T")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
# Stripe keeps events for 30 days: a sync reaching further back would ask for nothing more.
MAX_SYNC = timedelta(days=30)


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 6h or 3d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_SYNC.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} reaches past the 30 days Stripe keeps events")
    return timedelta(seconds=seconds)


def _stored_id(text: str) -> str:
    """An id argument the database can hold: 1 to 255 characters, no NUL, no undecodable byte."""
    if not 0 < len(text) <= 255:
        raise argparse.ArgumentTypeError("an id is 1 to 255 characters")
    if reason := unstorable_reason(text):
        raise argparse.ArgumentTypeError(f"the id {reason}")
    return text


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65_535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 0 to 65535")
    return int(text)


def _bounded_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count from 1 to 10000")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payments", description="Payments service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="HTTP + gRPC + outbox relay + housekeeping")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)

    emulator = sub.add_parser("emulator", help="the Stripe emulator alone")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=_port, default=12111)
    emulator.add_argument("--webhook")
    emulator.add_argument("--webhook-secret")
    emulator.add_argument("--state-file")

    sub.add_parser("demo", help="the whole flow offline, end to end")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="Alembic migrations to head")

    events = sub.add_parser("events", help="Stripe events").add_subparsers(
        dest="events_command", required=True
    )
    sync = events.add_parser("sync", help="process events missed by webhooks")
    sync.add_argument("--since", type=parse_duration, required=True)
    replay = events.add_parser("replay", help="process a stored event again")
    replay.add_argument("event_id", type=_stored_id)
    listing = events.add_parser("list", help="stored events that need a look (failed, deferred)")
    listing.add_argument("--status", choices=["failed", "deferred", "ignored"])
    listing.add_argument("--limit", type=_bounded_count, default=100, metavar="N")

    review = sub.add_parser("review", help="resolve a payment waiting for review")
    review.add_argument("payment_id", type=_stored_id)
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--accept", dest="decision", action="store_const", const="accept")
    decision.add_argument("--refund", dest="decision", action="store_const", const="refund")

    outbox = sub.add_parser("outbox", help="what we owe Orders").add_subparsers(
        dest="outbox_command", required=True
    )
    outbox.add_parser("list")
    retry = outbox.add_parser("retry")
    retry.add_argument("message_id", nargs="?", type=_stored_id)
    relay = outbox.add_parser("relay", help="run the relay alone")
    relay.add_argument("--once", action="store_true")

    commissions = sub.add_parser("commissions").add_subparsers(dest="commissions_command", required=True)
    commissions.add_parser("release", help="approve commissions whose hold period has passed")

    referrers = sub.add_parser("referrers").add_subparsers(dest="referrers_command", required=True)
    link = referrers.add_parser("link", help="print a short-lived sign-in link to a referrer's dashboard")
    link.add_argument("referrer_id", type=_stored_id)
    link.add_argument("--minutes", type=int, default=15, choices=range(1, 24 * 60 + 1), metavar="1..1440")

    audit = sub.add_parser("audit").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="recompute the referral audit hash chain")
    return parser


def _run_emulator(args: argparse.Namespace) -> int:
    """The emulator is its own package and process; the service never imports it."""
    command = [sys.executable, "-m", "stripe_emulator", "--host", args.host, "--port", str(args.port)]
    for flag, value in (
        ("--webhook", args.webhook),
        ("--webhook-secret", args.webhook_secret),
        ("--state-file", args.state_file),
    ):
        if value is not None:
            command += [flag, value]
    # Replace this process so that signals (Ctrl-C, a supervisor's SIGTERM) reach the emulator itself.
    os.execv(sys.executable, command)  # noqa: S606 - our own interpreter and module


def _settings() -> Settings:
    """The environment's settings; a value of the wrong shape is a ConfigError naming its variable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        # Names and reasons only: pydantic's own text repeats the value, which may be a secret.
        reasons = [
            f"PAYMENTS_{'_'.join(str(p) for p in e['loc'][:1]).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("; ".join(reasons)) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings()
        configure_logging(settings.log_level, secrets=_secret_values(settings))
        return _dispatch(args, settings)
    except ConfigError as exc:
        sys.stderr.write(f"payments: {exc}\n")
        return 2


def _secret_values(settings: Settings) -> list[str | None]:
    """What the log must never show verbatim: this process's own secrets (patterns catch the rest)."""
    from payments.adapters.db.engine import url_password

    values = [
        s.get_secret_value() if s else None
        for s in (settings.api_token, settings.jwt_secret, settings.session_secret, settings.stripe_api_key)
    ]
    values += settings.webhook_secret_values()
    for key in settings.audit_keys:  # id:secret, and the secret alone
        values += [key.get_secret_value(), key.get_secret_value().partition(":")[2] or None]
    values.append(url_password(settings.database_url))
    return values


# Commands that never touch money or the books; every other one runs production's checks first.
_UNCHECKED = frozenset({"emulator", "demo", "db"})


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from payments import commands, runner

    if args.command not in _UNCHECKED:
        settings.require_production_secrets()

    if args.command == "serve":
        if args.worker:
            return runner.serve_worker(settings)
        return runner.serve(settings, workers=max(1, args.workers))
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command == "demo":
        from payments.demo import run_demo

        return run_demo()
    if args.command == "db":
        from payments.migrations_runner import upgrade_to_head

        upgrade_to_head(settings.database_url)
        sys.stdout.write("database at head\n")
        return 0
    handlers: dict[tuple[str, str], Callable[[], Coroutine[Any, Any, int]]] = {
        ("events", "sync"): lambda: commands.events_sync(settings, args.since),
        ("events", "replay"): lambda: commands.events_replay(settings, args.event_id),
        ("events", "list"): lambda: commands.events_list(settings, args.status, args.limit),
        ("outbox", "list"): lambda: commands.outbox_list(settings),
        ("outbox", "retry"): lambda: commands.outbox_retry(settings, args.message_id),
        ("outbox", "relay"): lambda: commands.outbox_relay(settings, once=args.once),
        ("commissions", "release"): lambda: commands.commissions_release(settings),
        ("audit", "verify"): lambda: commands.audit_verify(settings),
        ("referrers", "link"): lambda: commands.referrers_link(settings, args.referrer_id, args.minutes),
    }
    if args.command == "review":
        return asyncio.run(commands.payment_review(settings, args.payment_id, args.decision))
    sub = getattr(args, f"{args.command}_command")
    return asyncio.run(handlers[(args.command, sub)]())


if __name__ == "__main__":
    raise SystemExit(main())
