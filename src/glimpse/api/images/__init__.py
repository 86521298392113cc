"""``/v2/images…``: image records, their data, members and tags."""
