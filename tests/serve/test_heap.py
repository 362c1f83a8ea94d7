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


ARENA_CHECK = """
import ctypes, os, re, sys, tempfile, threading
from embedkit.serve.heap import use_one_arena
print(use_one_arena() if sys.argv[1] == "one" else "default")
def work():
    global held
    held = [bytearray(200_000) for _ in range(20)]  # malloc'd by this thread
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = os.path.join(tempfile.mkdtemp(), "info.xml")
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(len(re.findall('<heap nr=', open(path).read())))
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's arenas")
@pytest.mark.parametrize("mode", ["one", "default"])
def test_use_one_arena_keeps_every_thread_on_the_main_heap(mode):
    """In a fresh process (the setting is process-wide): threads that allocate get heaps of their own by default
    (which is what the test can tell apart), and none after use_one_arena()."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", ARENA_CHECK, mode], capture_output=True, text=True, env=env,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout.split()
    if mode == "one":
        assert out == ["True", "1"]
    else:
        assert out[0] == "default" and int(out[1]) > 1


def test_use_one_arena_leaves_a_users_malloc_arena_max_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert heap.use_one_arena() is False


def test_serve_puts_threads_on_one_arena_before_loading_models_unless_trimming_is_off(monkeypatch):
    from embedkit.cli import main
    from embedkit.cli import serve as serve_cli

    events = []
    monkeypatch.setattr(heap, "use_one_arena", lambda: events.append("one arena") or True)
    load_model = serve_cli.load_model
    monkeypatch.setattr(serve_cli, "load_model", lambda *args: events.append("load") or load_model(*args))
    monkeypatch.setattr("embedkit.serve.app.run_server", lambda server: 0)
    tiny = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bert_v6")
    assert main(["serve", tiny, "--port", "0"]) == 0
    assert events == ["one arena", "load"]
    events.clear()
    assert main(["serve", tiny, "--port", "0", "--heap-trim-interval", "0"]) == 0
    assert events == ["load"]
