"""Interoperable image import: staging, the import request, and the job a worker runs."""
