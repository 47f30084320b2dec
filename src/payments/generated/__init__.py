"""Generated code only: protobuf messages and gRPC stubs for proto/ (``payments.v1``, ``orders.v1``).

Regenerate with ``scripts/gen_protos.sh`` after changing a .proto file; never edit these modules by hand.
Kept in one place so that linters and type checkers can skip it and so that the API (our servicer) and
adapters (the Orders client) can both use it without importing each other.
"""
