"""What an operator sees and does: the needs-attention queues, a payment's file, the actions (each audited).

The console and the operator commands both call this package; it calls the same services the API does.
"""
