"""Image data: the bytes of images in and out (upload, download), the ingest pipeline
they go through, and the housekeeping of uploads in flight (leases, reaping)."""
