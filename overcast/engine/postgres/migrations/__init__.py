"""Versioned schema migrations of the PostgreSQL engine (``NNNN_name.sql``, applied in order)."""
