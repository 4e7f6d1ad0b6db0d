"""Retention and destruction (storage limitation): per-dataset terms, scheduled deletion,
signed destruction certificates checkable against the ledger."""
