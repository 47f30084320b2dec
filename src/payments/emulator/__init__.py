"""A local stand-in for the Stripe API, its webhooks and its hosted checkout page.

Standalone on purpose: it imports nothing from the rest of `payments`, so the service can be tested
against it exactly as it would run against Stripe.
"""
