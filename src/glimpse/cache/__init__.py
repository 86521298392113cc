"""The image cache: a node-local read-through copy of image data from remote stores,
bounded in size (least recently used first out), with Glance's cache API."""
