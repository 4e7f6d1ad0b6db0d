"""Supervision (Art16, Art23-24): rules over the ledger, streamed findings with their articles
and evidence, checkable offline."""
