"""Durable jobs: task rows claimed by workers with a lease they renew (imports, copies)."""
