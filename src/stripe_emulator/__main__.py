"""`python -m stripe_emulator [--host H] [--port 12111] [--webhook URL] [--webhook-secret S]
[--state-file F]`."""

from __future__ import annotations

import argparse

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator", description="A local Stripe emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--webhook", dest="webhook_url", help="register this URL for every event")
    parser.add_argument("--webhook-secret", help="the whsec_… secret to sign with (default: a new one)")
    parser.add_argument("--state-file", help="keep state in this JSON file across restarts")
    args = parser.parse_args(argv)
    serve(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_file=args.state_file,
    )


if __name__ == "__main__":
    main()
