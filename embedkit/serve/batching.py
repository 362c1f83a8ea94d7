"""Dynamic batching: inputs of concurrent requests run together on worker threads.

Requests submit a :class:`Job` (its inputs, their token counts and a key: only inputs with the same key, e.g. the
same model and prompt, share a forward pass). The worker waits up to ``max_wait_ms`` after the oldest queued job
(less when the queue already holds ``max_batch_tokens`` tokens), takes every queued job, sorts their inputs by
length (longest first) and cuts them into batches of at most ``max_batch_size`` inputs and ``max_batch_tokens``
padded tokens (inputs x longest input). Each input's result goes back to its job; a job's future is resolved on the
event loop when all its inputs are done. The event loop never runs the model.

With ``workers=2`` (``embedkit serve``'s default) two workers do this at once, each on the jobs it took: while one
tokenizes, pools or hands out results, the other's forward keeps the cores busy. On the 2-core AVX-512 EPYC VM, with
one worker the two cores sat idle 11-14% of the time under ``benchmarks/serve_load.py``'s load (tokenizing and
pooling between forwards, and the end of each forward, where one chunk is left).

The queue is bounded in inputs (queued or running): :meth:`DynamicBatcher.submit` raises :class:`QueueFull`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds too many inputs to take this job."""


@dataclass
class Job:
    """One request's share of work: ``inputs`` (texts or pairs) with their ``tokens`` counts, results by position."""

    key: Hashable
    inputs: list[Any]
    tokens: list[int]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    results: list[Any] = field(default_factory=list)
    remaining: int = 0
    cancelled: bool = False
    enqueued_at: float = 0.0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.inputs)
        self.remaining = len(self.inputs)


def plan_batches(lengths: list[int], max_batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Positions of ``lengths`` cut into batches: longest first, each batch at most ``max_batch_size`` inputs and
    ``max_batch_tokens`` padded tokens (an input longer than the budget runs alone).

    Example:
        >>> plan_batches([3, 10, 4, 9], max_batch_size=8, max_batch_tokens=20)
        [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for position in order:
        longest = lengths[current[0]] if current else lengths[position]
        if current and (len(current) >= max_batch_size or (len(current) + 1) * longest > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


class DynamicBatcher:
    """A bounded queue of jobs and the worker thread that runs them in token-budgeted batches.

    Args:
        run_batch: ``run_batch(key, inputs) -> results`` (one result per input, in order); called on the worker
            threads only.
        max_batch_tokens / max_batch_size: limits of one forward pass.
        max_wait_ms: how long a worker waits for more jobs after the oldest queued one arrived.
        max_queued_inputs: inputs queued or running before :meth:`submit` refuses a job.
        on_batch: ``on_batch(size, padded_tokens)`` after each forward pass.
        after_batches: ``after_batches(idle)`` on a worker after each round of batches, ``idle`` when no job is
            waiting (the server trims the C heap there: :class:`~embedkit.serve.heap.HeapTrimmer`).
        workers: worker threads, each taking the queued jobs and running their batches (``run_batch`` is then
            called from several threads at once).

    Example:
        >>> import asyncio
        >>> async def demo():
        ...     batcher = DynamicBatcher(lambda key, inputs: [len(x) for x in inputs], max_batch_tokens=64,
        ...                              max_batch_size=8, max_wait_ms=1, max_queued_inputs=16)
        ...     batcher.start()
        ...     job = batcher.submit("key", ["a", "bcd"], [1, 3])
        ...     result = await job.future
        ...     batcher.stop()
        ...     return result
        >>> asyncio.run(demo())
        [1, 3]
    """

    def __init__(self, run_batch: Callable[[Hashable, list[Any]], list[Any]], max_batch_tokens: int = 16384,
                 max_batch_size: int = 128, max_wait_ms: float = 2.0, max_queued_inputs: int = 4096,
                 on_batch: Callable[[int, int], None] | None = None,
                 after_batches: Callable[[bool], object] | None = None, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.run_batch = run_batch
        self.max_batch_tokens, self.max_batch_size = max_batch_tokens, max_batch_size
        self.max_wait_s, self.max_queued_inputs = max_wait_ms / 1000.0, max_queued_inputs
        self.on_batch = on_batch
        self.after_batches = after_batches
        self._pending: list[Job] = []
        self._pending_tokens = 0
        self._depth = 0  # inputs queued or running
        self._condition = threading.Condition()
        self._stopping = False
        self.workers = workers
        self._threads: list[threading.Thread] = []

    @property
    def depth(self) -> int:
        """Inputs queued or running."""
        return self._depth

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._work, name=f"embedkit-serve-worker-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the queued jobs, then end the worker threads (``timeout``: for each)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def submit(self, key: Hashable, inputs: list[Any], tokens: list[int]) -> Job:
        """Queue ``inputs`` (called on the event loop); await ``job.future`` for their results.

        Raises:
            QueueFull: the queue cannot take ``len(inputs)`` more inputs.
        """
        loop = asyncio.get_running_loop()
        job = Job(key, list(inputs), list(tokens), loop, loop.create_future(), enqueued_at=time.monotonic())
        with self._condition:
            if self._stopping:
                raise RuntimeError("the batcher is stopped")
            if self._depth + len(inputs) > self.max_queued_inputs:
                raise QueueFull(f"{self._depth} inputs are queued (limit {self.max_queued_inputs})")
            if not inputs:
                job.future.set_result([])
                return job
            self._pending.append(job)
            self._pending_tokens += sum(tokens)
            self._depth += len(inputs)
            self._condition.notify()
        return job

    def _take_jobs(self) -> list[Job] | None:
        """Every queued job once the oldest has waited ``max_wait`` (or the token budget is full); None to stop."""
        with self._condition:
            while not self._pending:
                if self._stopping:
                    return None
                self._condition.wait()
            while not self._stopping and self._pending_tokens < self.max_batch_tokens:
                left = self._pending[0].enqueued_at + self.max_wait_s - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            jobs, self._pending, self._pending_tokens = self._pending, [], 0
        return jobs

    def _work(self) -> None:
        while True:
            jobs = self._take_jobs()
            if jobs is None:
                return
            by_key: dict[Hashable, list[tuple[Job, int]]] = {}
            for job in jobs:
                if job.cancelled:
                    self._finish(job, len(job.inputs))
                    continue
                by_key.setdefault(job.key, []).extend((job, i) for i in range(len(job.inputs)))
            for key, items in by_key.items():
                lengths = [job.tokens[i] for job, i in items]
                for batch in plan_batches(lengths, self.max_batch_size, self.max_batch_tokens):
                    self._run(key, [items[p] for p in batch], max(lengths[p] for p in batch))
            if self.after_batches is not None:
                with self._condition:
                    idle = not self._pending
                self.after_batches(idle)

    def _run(self, key: Hashable, items: list[tuple[Job, int]], longest: int) -> None:
        live = [(job, i) for job, i in items if not job.future.done()]
        dropped = [(job, i) for job, i in items if job.future.done()]
        for job, _ in dropped:
            self._finish(job, 1)
        if not live:
            return
        try:
            results = self.run_batch(key, [job.inputs[i] for job, i in live])
            if len(results) != len(live):
                raise RuntimeError(f"run_batch gave {len(results)} results for {len(live)} inputs")
        except Exception as exc:  # every request of the batch gets the error; the worker goes on
            logger.exception("batch of %d inputs failed", len(live))
            for job, _ in live:
                self._finish(job, 1)
                job.loop.call_soon_threadsafe(_set_exception, job.future, exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(live), len(live) * longest)
        for (job, i), result in zip(live, results):  # the depth drops before the answer goes out
            job.results[i] = result
            job.remaining -= 1
            self._finish(job, 1)
            if job.remaining == 0:
                job.loop.call_soon_threadsafe(_set_result, job.future, job.results)

    def _finish(self, job: Job, count: int) -> None:
        with self._condition:
            self._depth -= count


def _set_result(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
