"""glimpse: an OpenStack Image service (Image API v2)."""

__version__ = "0.1.0"
