"""Privacy: personal-information detection, masking, k-anonymity, the aggregate sandbox."""
