"""The outbox to Orders: ``order_state_diffs`` rows not yet delivered, and the relay that delivers them.

Import from the modules (``payments.outbox.relay``, ``payments.outbox.backlog``). The message is
``payments.records.OutboxMessage``, its storage ``OutboxRepository`` in ``payments.unit_of_work``. The
Orders clients (``payments.adapters.orders``) know only the domain's ``OrderUpdate``, never this package.
"""
