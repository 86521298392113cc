"""Metadata definitions (metadefs): the catalog of properties that may be set on images
and other resources — namespaces, property definitions, objects, tags, resource types."""
