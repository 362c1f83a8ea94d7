"""CPU calls without OpenMP barriers: big batches cut into chunks of texts that worker threads take, small calls on one
thread.

torch runs each op of a forward on all its threads, splitting the op's work into equal fixed shares. On a machine
where another process holds one of the cores, the thread that shares that core finishes its share last and every
op waits for it: a 2-thread encode runs at about the speed of one thread at half speed (measured: bulk MiniLM
9.8 sentences/s beside one busy core, against 26 quiet).

Texts of a batch are independent, so the engine can instead give each thread whole texts: the batch is cut into chunks
of whole texts with equal real token counts (:func:`plan_chunks`), and ``torch.get_num_threads()`` worker threads, each
running torch on one thread, take the next chunk when they finish one. A thread slowed by a neighbour simply takes fewer
chunks (18.3 sentences/s in the same setting; 29-31 quiet). Only as many chunks as there are workers are in flight, so
the activations are smaller than the whole batch's. Every text's result is computed from that text alone, as in the
batch; the GEMM kernels may round differently for a different row count (~1e-7).

The chunks depend only on the texts' lengths and the thread count, never on timing, so results are reproducible.

The worker threads are :class:`ChunkWorkers`, started at the first split call and kept for the process: between calls
they wait on a queue, using no CPU. Threads started anew for each call cost more than their start: right after they
ended, the calling thread's next OpenMP region (the result's copy, the pooling) took 3-8 ms instead of ~0.3 on the
2-core AVX-512 EPYC VM; per batch of 32, 36 or 128 short texts the kept threads, with the copy on one thread, were
1.4-4.7% faster (5 in-process alternating runs). Several threads may call at once (``embedkit serve`` runs two
batches at a time): their chunks share the same workers, so no more chunks run at once than there are workers (as
many as the most ``workers`` a call asked for: torch's thread count, unless it changed).

A call too small to cut (a single query, a few short texts) runs on the calling thread with one torch thread
(:func:`one_torch_thread`) unless the engine is asked for torch's threads. The reason is the same barrier, made worse
by OpenMP's waiting threads, which spin before they sleep: beside another process that also computes on every core
(a second torch process, say) both spin in turn and every op of a small call can wait a whole scheduler time slice.
Measured on a 2-core AVX2 EPYC with all-MiniLM-L6-v2 (``benchmarks/inference_speed.py``), single-query median on two
threads against one: quiet 11.1 against 14.7 ms; beside a core spinning in Python 24.3 against 13.7; beside a torch
process multiplying on both cores 120.6 against 21.2 (p90 491 against 56).

Example:
    >>> plan_chunks([300, 300, 300, 20, 20], workers=2)
    [[0, 1], [2, 3, 4]]
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

# A call of fewer than MIN_CHUNK_TOKENS real tokens is not cut. A bigger one is cut into a multiple of the worker count
# of chunks of equal token counts: one per worker, up to CHUNKS_PER_WORKER while each keeps MIN_CHUNK_TOKENS (so that a
# slowed worker can hand work over), and more where a chunk would exceed MAX_CHUNK_TOKENS (the activations in flight).
MIN_CHUNK_TOKENS = 256
MAX_CHUNK_TOKENS = 1024
CHUNKS_PER_WORKER = 4


def openmp_backend() -> bool:
    """Whether torch's intra-op threads are OpenMP's, whose thread count each thread sets for itself."""
    return "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()


OPENMP = openmp_backend()  # fixed for the process


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one torch thread in this thread (no OpenMP team, no barrier); the count is restored after.

    Example:
        >>> before = torch.get_num_threads()
        >>> with one_torch_thread():
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def plan_chunks(lengths: list[int], workers: int) -> list[list[int]]:
    """Consecutive runs of text indices with about equal real token counts, as many as the workers or a multiple of it
    (fewer where texts are too few); a call of fewer than ``MIN_CHUNK_TOKENS`` tokens stays whole.

    Equal chunks keep every worker busy to the end of the call: cut at a fixed size instead, a batch of 32 short
    queries (~580 tokens) became chunks of 256, 256 and 68 tokens, and one worker idled while the other ran the last.

    Example:
        >>> plan_chunks([100, 100, 100, 100, 30, 30], workers=2)  # 460 tokens: two chunks of 230
        [[0, 1], [2, 3, 4, 5]]
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    total = sum(lengths)
    if total < MIN_CHUNK_TOKENS or len(lengths) < 2:
        return [list(range(len(lengths)))]
    per_worker = min(CHUNKS_PER_WORKER, max(1, total // (workers * MIN_CHUNK_TOKENS)))
    count = max(workers * per_worker, -(-total // MAX_CHUNK_TOKENS))
    chunks: list[list[int]] = [[] for _ in range(count)]
    done = 0
    for index, length in enumerate(lengths):  # each text goes to the chunk that holds its middle token
        chunks[min(count - 1, (2 * done + length) * count // (2 * total))].append(index)
        done += length
    return [chunk for chunk in chunks if chunk]


def run_in_chunks(forward: Callable[[Tensor, Tensor, Tensor | None], Tensor], input_ids: Tensor,
                  attention_mask: Tensor, token_type_ids: Tensor | None, chunks: list[list[int]],
                  workers: int) -> Tensor:
    """``forward(ids, mask, types) -> (b, t, D)`` on each chunk of rows (cut to the columns its texts use: the
    chunk's longest text, at the start of the rows when padded on the right, at their end when padded on the left),
    run by ``workers`` threads with one torch thread each; returns the (B, T, D) result, with zeros in the columns a
    row's chunk did not run (at padding positions only; the others hold what ``forward`` gave).

    The calling thread's torch thread count is left as it was; an error in a worker is raised here after all
    workers stopped.

    Example:
        >>> ids, mask = torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1]]), torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
        >>> out = run_in_chunks(lambda i, m, t: i[..., None].float(), ids, mask, None, [[0], [1]], workers=2)
        >>> out[..., 0].tolist()  # the left-padded row ran on its last two columns only
        [[0.0, 0.0, 5.0, 6.0], [7.0, 8.0, 9.0, 1.0]]
    """
    batch, tokens = input_ids.shape
    real = attention_mask.bool()
    positions = torch.arange(tokens, device=attention_mask.device)
    # per row, the first and one past the last real column (an all-padding row spans nothing)
    starts = torch.where(real, positions, tokens).amin(dim=1)  # (B,)
    ends = torch.where(real, positions + 1, 0).amax(dim=1)  # (B,)
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for position in range(len(chunks)):
        pending.put(position)
    results: list[Tensor | None] = [None] * len(chunks)
    errors: list[BaseException] = []
    inference = torch.is_inference_mode_enabled()
    spans = []
    for rows in chunks:  # the columns a chunk's texts use (all of them when its rows span nothing)
        start, end = int(starts[rows].min()), int(ends[rows].max())
        spans.append(slice(start, end) if start < end else slice(0, tokens))

    def work() -> None:  # one of the call's ``workers`` runners: takes chunks until none is left
        with torch.inference_mode(inference), torch.no_grad():
            while not errors:
                try:
                    position = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    rows = torch.tensor(chunks[position], device=input_ids.device)
                    columns = spans[position]
                    types = None if token_type_ids is None else token_type_ids[rows, columns]
                    results[position] = forward(input_ids[rows, columns], attention_mask[rows, columns], types)
                except BaseException as error:  # handed to the calling thread
                    errors.append(error)

    try:
        CHUNK_WORKERS.run([work] * min(workers, len(chunks)), workers)
    except BaseException as error:  # interrupted while waiting: the runners take no further chunk
        errors.append(error)
        raise
    if errors:
        raise errors[0]
    first = results[0]
    assert first is not None
    with one_torch_thread():  # a copy: no OpenMP team to wake for it (see the module docstring)
        out = first.new_zeros(batch, tokens, first.shape[-1])  # (B, T, D)
        for rows, columns, result in zip(chunks, spans, results):
            assert result is not None
            if rows == list(range(rows[0], rows[0] + len(rows))):  # a run of rows, as plan_chunks cuts them
                out[rows[0]:rows[0] + len(rows), columns] = result
            else:
                index = torch.tensor(rows, device=out.device)[:, None]
                out[index, torch.arange(tokens, device=out.device)[columns]] = result
    return out


class ChunkWorkers:
    """Threads, each running torch on one thread, that run the callables given to :meth:`run`.

    They are started when a call first needs them (as many as the most ``workers`` asked for) and then kept: between
    calls each one waits on the queue. A call from one of these threads runs its callables itself (no thread waits
    for another that waits for it), and a child process made by ``fork`` starts its own threads (the parent's do
    not exist there).

    Example:
        >>> seen = []
        >>> ChunkWorkers().run([lambda: seen.append(torch.get_num_threads())] * 2, workers=2)
        >>> seen
        [1, 1]
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._mine = threading.local()

    @property
    def threads(self) -> int:
        """How many threads are started."""
        return len(self._threads)

    def run(self, runners: list[Callable[[], None]], workers: int) -> None:
        """Call each of ``runners`` on a worker thread (at most ``workers`` threads started for it); returns when all
        returned. An exception that escapes a runner is raised here once all returned."""
        if getattr(self._mine, "worker", False):
            for runner in runners:
                runner()
            return
        self.start(workers)
        left = [len(runners)]
        escaped: list[BaseException] = []
        done = threading.Condition()

        def task(runner: Callable[[], None]) -> Callable[[], None]:
            def call() -> None:
                try:
                    runner()
                except BaseException as error:
                    escaped.append(error)
                finally:
                    with done:
                        left[0] -= 1
                        done.notify()
            return call

        for runner in runners:
            self._tasks.put(task(runner))
        with done:
            while left[0]:
                done.wait()
        if escaped:
            raise escaped[0]

    def start(self, count: int) -> None:
        """Start threads until there are ``count``."""
        with self._lock:
            if len(self._threads) >= count:
                return
            threads_before = torch.get_num_threads()
            while len(self._threads) < count:
                ready = threading.Event()
                name = f"embedkit-chunk-{len(self._threads)}"
                thread = threading.Thread(target=self._serve, args=(ready,), name=name, daemon=True)
                thread.start()
                ready.wait()
                self._threads.append(thread)
            torch.set_num_threads(threads_before)  # the workers changed torch's default for new threads

    def _serve(self, ready: threading.Event) -> None:
        torch.get_num_threads()  # torch's per-thread set-up, which would later take its default over the 1 below
        torch.set_num_threads(1)
        self._mine.worker = True
        ready.set()
        while True:
            self._tasks.get()()


CHUNK_WORKERS = ChunkWorkers()  # the process's chunk threads, shared by every split call
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=CHUNK_WORKERS._reset)

__all__ = ["CHUNK_WORKERS", "CHUNKS_PER_WORKER", "ChunkWorkers", "MAX_CHUNK_TOKENS", "MIN_CHUNK_TOKENS", "OPENMP",
           "one_torch_thread", "plan_chunks", "run_in_chunks"]
