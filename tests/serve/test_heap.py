"""The server's heap trimming: when it trims, that the worker asks it after every round, and that a trim really gives
memory back to the system (glibc only)."""

from __future__ import annotations

import asyncio
import ctypes
import platform
from pathlib import Path

import pytest

from embedkit.serve import heap
from embedkit.serve.batching import DynamicBatcher
from embedkit.serve.heap import IDLE_GAP_S, HeapTrimmer

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_trims_when_idle_at_most_once_a_gap_and_under_load_once_an_interval(monkeypatch):
    clock, trims = Clock(), []
    monkeypatch.setattr(heap.time, "monotonic", clock)
    trimmer = HeapTrimmer(interval_s=10.0)
    trimmer._trim = lambda pad: trims.append(clock.now) or 1  # as if glibc were there
    assert not trimmer.after_batches(idle=True)  # just created: counts as a trim
    clock.now += IDLE_GAP_S
    assert trimmer.after_batches(idle=True)
    assert not trimmer.after_batches(idle=True)  # idle again at once: no second trim within the gap
    for _ in range(9):  # busy: nothing until the interval has passed
        clock.now += 1.0
        assert not trimmer.after_batches(idle=False)
    clock.now += 1.0
    assert trimmer.after_batches(idle=False)
    assert trims == [1001.0, 1011.0] and trimmer.trims == 2


def test_an_interval_of_zero_never_trims():
    trimmer = HeapTrimmer(interval_s=0)
    assert trimmer._trim is None
    assert not trimmer.after_batches(idle=True) and not trimmer.after_batches(idle=False)


def test_the_worker_reports_each_round_and_whether_the_queue_is_empty():
    rounds = []

    async def main():
        batcher = DynamicBatcher(lambda key, inputs: [len(x) for x in inputs], max_wait_ms=1,
                                 after_batches=rounds.append)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit("k", ["ab", "c"], [2, 1]).future for _ in range(3)))
        batcher.stop()
        return results

    assert asyncio.run(main()) == [[2, 1]] * 3
    assert rounds and rounds[-1] is True  # after the last round nothing waits


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_a_trim_gives_freed_heap_memory_back():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    # 96 MiB in 64 KiB blocks (under the mmap threshold: from the heap), touched so that they are resident; freeing
    # all but the last leaves the heap's free memory below a live block, which malloc keeps without a trim.
    blocks = [libc.malloc(64 * 1024) for _ in range(1536)]
    for block in blocks:
        libc.memset(block, 1, 64 * 1024)
    for block in blocks[:-1]:
        libc.free(block)
    held = _rss_mib()
    trimmer = HeapTrimmer(interval_s=10.0)
    trimmer._last -= IDLE_GAP_S
    assert trimmer.after_batches(idle=True)
    released = held - _rss_mib()
    libc.free(blocks[-1])
    assert released > 64, f"a trim released only {released:.1f} MiB of ~96 MiB freed"


def test_the_server_trims_with_its_configured_interval():
    from embedkit import SentenceTransformer
    from embedkit.serve.app import EmbeddingServer, ServeConfig

    model = SentenceTransformer(str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bert_v6"))
    for interval in (0.0, 2.5):
        trimmer = EmbeddingServer(model, ServeConfig(port=0, heap_trim_interval_s=interval)).batcher.after_batches
        assert isinstance(trimmer.__self__, HeapTrimmer) and trimmer.__self__.interval_s == interval
