"""Whether a file range is in the page cache, via Linux's ``cachestat`` (6.5+).

Asking has no side effects (a non-blocking read, by contrast, starts readahead), so a
reader can choose per chunk between the cache and a direct read from the disk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
from collections.abc import Callable

_SYS_CACHESTAT = 451  # the same number on every architecture (generic syscall table)


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        ("nr_cache", ctypes.c_uint64),
        ("nr_dirty", ctypes.c_uint64),
        ("nr_writeback", ctypes.c_uint64),
        ("nr_evicted", ctypes.c_uint64),
        ("nr_recently_evicted", ctypes.c_uint64),
    ]


def _load_syscall() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        syscall = ctypes.CDLL(name, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    found: Callable[..., int] = syscall
    return found


_syscall = _load_syscall()


def cached_fraction(fd: int, offset: int, length: int) -> float | None:
    """The share of the range's pages in the page cache; None if the kernel cannot tell."""
    global _syscall
    if _syscall is None or length <= 0:
        return None
    span = _Range(offset, length)
    stat = _Stat()
    if _syscall(_SYS_CACHESTAT, fd, ctypes.byref(span), ctypes.byref(stat), 0) != 0:
        if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM):
            _syscall = None  # an older kernel, or a sandbox that forbids it
        return None
    pages = -(-length // mmap.PAGESIZE)
    return min(1.0, float(stat.nr_cache) / pages)
