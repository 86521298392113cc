"""End-to-end tests: the real OpenStack clients against a real ``glimpse serve`` process."""
