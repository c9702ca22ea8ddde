"""Roundup sources to clean, stable passages in a SQLite store. Knows nothing of embeddings or Discord."""
