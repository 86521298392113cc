"""Glance's unified limits: what a project holds (one query), what it may hold (Keystone's
limits through oslo.limit, or glimpse's own per-project limits), and the check between."""
