"""Policies (Cedar): stored, versioned, parsed once, asked through the gate."""
