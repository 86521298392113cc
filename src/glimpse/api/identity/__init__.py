"""``/identity…``: the built-in identity's Keystone v3 API."""
