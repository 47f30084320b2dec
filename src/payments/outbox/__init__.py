"""The outbox to Orders: ``order_state_diffs`` rows not yet delivered, and the relay that delivers them.

Import from the modules (``payments.outbox.relay``, ``payments.outbox.queries``): the Orders clients
import ``payments.outbox.message``, so re-exporting the relay here would make the two packages import
each other.
"""
