"""Sharing: classes in force, requests and grants, masked reads (Art9)."""
