"""Data disputes (Art18): cases between a provider and the hub or a consumer, with checkable
evidence, decision and appeal."""
