"""Batch collection (Art8): parse uploads, validate them against a Frictionless Table Schema,
store them atomically or with quarantine, idempotently, with provenance and provider signatures."""
