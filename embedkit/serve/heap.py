"""Giving the C heap's free memory back to the system between batches, so a long-running server's RSS stays flat.

Every batch allocates its activations anew, in sizes that change with the batch's shape. glibc's malloc keeps what
is freed in its arenas for reuse, and with shapes that keep changing the kept memory grows for minutes: a server
under steady load went from 558 MiB after one minute to 665 MiB after ten, while the memory in use stayed flat
(``malloc_trim(0)`` at any moment brought RSS back to ~400 MiB). :class:`HeapTrimmer` calls ``malloc_trim(0)`` on
the batch worker when the queue runs empty (at most once a second: a trim took 1.1-2.4 ms, median, with
all-MiniLM-L6-v2), and under constant load once every ``interval_s`` seconds.

It only exists with glibc (found through ``ctypes``); elsewhere (musl, macOS, Windows) it does nothing.

A trim cannot give back everything, though: glibc gives each thread that allocates its own arena (a heap), and the
free space at the top of a thread's heap, which the largest batch so far left there, is not returned by a trim. With
the batch worker and its chunk threads each on their own heap, RSS under steady load rose by 15-20 MiB over 5-13
minutes while the memory in use stayed flat. :func:`use_one_arena` (called by ``embedkit serve`` before it loads
a model, unless ``MALLOC_ARENA_MAX`` is set or trimming is off) has every thread allocate from the main arena, which
a trim reaches whole.

Example:
    >>> trimmer = HeapTrimmer(interval_s=10.0)
    >>> trimmer.after_batches(idle=False)  # the last trim (its creation) is not 10 s old
    False
    >>> HeapTrimmer(interval_s=0).after_batches(idle=True)  # 0 turns trimming off
    False
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable
from typing import Any

IDLE_GAP_S = 1.0  # the shortest time between two trims when the queue runs empty


M_ARENA_MAX = -8  # mallopt's parameter number for the most arenas (glibc's malloc.h)


def _glibc_function(name: str) -> Any:
    """A function of the C library by name, or None without glibc (or without that function)."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None without glibc."""
    trim = _glibc_function("malloc_trim")
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def use_one_arena() -> bool:
    """Have the threads that allocate from now on use glibc's main arena, as the first thread does
    (``mallopt(M_ARENA_MAX, 1)``), so that :class:`HeapTrimmer` reaches all the memory they free. Does nothing where
    ``MALLOC_ARENA_MAX`` is set (that choice stands) or without glibc; returns whether it set it.

    Example:
        >>> callable(use_one_arena)  # run_server calls it; it changes the whole process
        True
    """
    mallopt = _glibc_function("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, 1) == 1


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` after the worker's batches: when the queue is empty (at most every ``IDLE_GAP_S``),
    else every ``interval_s``.

    Args:
        interval_s: the longest time between two trims under constant load; 0 (or less) turns trimming off.
    """

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._trim = _malloc_trim() if interval_s > 0 else None
        self._last = time.monotonic()  # as if it had just trimmed
        self.trims = 0
        self._lock = threading.Lock()  # the server's batch workers call after_batches each

    def after_batches(self, idle: bool) -> bool:
        """Trim if the last trim is ``interval_s`` old, or ``IDLE_GAP_S`` old and the queue is empty (``idle``);
        returns whether it did."""
        if self._trim is None:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last < (IDLE_GAP_S if idle else self.interval_s):
                return False
            self._last = now
            self.trims += 1
        self._trim(0)
        return True


__all__ = ["HeapTrimmer", "use_one_arena"]
