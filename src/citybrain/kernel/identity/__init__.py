"""Identity (Art6-7): organisations, posts, users, roles, service accounts and tokens."""
