"""Helpers for testing with Overcast (``overcast.testing.postgres``: a throwaway PostgreSQL server)."""
