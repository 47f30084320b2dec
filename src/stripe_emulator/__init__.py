"""A local stand-in for the Stripe API, its webhooks and its hosted checkout page.

Standalone on purpose: it imports nothing from `payments`, not even its money rules, so the service is
tested against Stripe's rules as the emulator knows them rather than against its own.
"""
