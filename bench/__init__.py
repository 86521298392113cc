"""Benchmarks: glimpse against the real OpenStack Glance in one run (see README.md)."""
