"""Notifications of what happened to images, sent as Glance sends them (oslo.messaging)."""
