"""The HTTP edge: uvicorn's HTTP/1.1 protocol with the limits that keep one hostile
client from stopping the service (header size and read time, idle and stalled
connections, open connections within the file descriptors the process has), and the
ASGI ``http.response.pathsend`` extension served with ``sendfile``.

Safe on its own, without a proxy in front: every limit is on by default and set in
``Settings`` (``http_*``).
"""
