"""Append-only, tamper-evident Merkle log (RFC 9162 style) with signed checkpoints.

This package imports nothing else of CityBrain: it is the bottom layer.
"""
