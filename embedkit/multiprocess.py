"""Encoding on several processes or devices: a pool of spawned workers, each holding a copy of the model.

Each worker loads the model from a temporary folder the pool saves it to. Inputs are cut into chunks that workers
take from one queue; results come back tagged with their chunk number and
are put back in input order. CPU workers use one thread each. A script that starts a pool without the
``if __name__ == "__main__":`` guard would otherwise crash in every spawned child (they re-run the script while
bootstrapping); embedkit detects that and says what to change, and a worker that dies ends the call with an error
instead of a hang.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import queue
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("embedkit.base.model")  # the logger sentence-transformers uses for these messages

_MAIN_GUARD_HELP = (
    "a multi-process pool was started while Python was still importing the main script in a spawned worker. "
    "Put the code that starts the pool (or calls encode(device=[...])) under\n\n    if __name__ == \"__main__\":\n\n"
    "so that worker processes do not run it again."
)


def _worker(device: str, model_class: type, folder: str, inputs: Any, outputs: Any) -> None:
    if str(device).startswith("cpu"):
        torch.set_num_threads(1)
    model = model_class(folder, device=device)
    while True:
        try:
            job = inputs.get()
        except (EOFError, OSError):
            return
        if job is None:
            return
        chunk_id, method, items, kwargs = job
        try:
            result = getattr(model, method)(items, device=device, **kwargs)
            if isinstance(result, torch.Tensor):
                result = result.cpu()
            elif isinstance(result, list):
                result = [r.cpu() if isinstance(r, torch.Tensor) else r for r in result]
            outputs.put((chunk_id, "ok", result))
        except Exception as exc:  # report, keep serving
            outputs.put((chunk_id, "error", f"{type(exc).__name__}: {exc}"))


def start_pool(model: Any, target_devices: list[str] | None = None) -> dict[str, Any]:
    """Start one worker per device (default: every CUDA device, else 4 CPU workers).

    Raises:
        RuntimeError: called from a spawned child that is importing the main script (missing ``__main__`` guard).
    """
    if getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError(_MAIN_GUARD_HELP)
    if target_devices is None:
        count = torch.cuda.device_count()
        target_devices = [f"cuda:{i}" for i in range(count)] if count else ["cpu"] * 4
        if not count:
            logger.info("CUDA/NPU is not available. Starting 4 CPU workers")
    logger.info(f"Starting multi-process pool on devices: {', '.join(map(str, target_devices))}")
    # Workers load the model from a saved folder: pickling the model itself into each spawn can hang the parent
    # forever when a child dies early (CPython writes the payload while holding the pipe's read end).
    folder = tempfile.mkdtemp(prefix="embedkit-pool-")
    model.save(Path(folder) / "model", create_model_card=False)
    ctx = mp.get_context("spawn")
    inputs, outputs = ctx.Queue(), ctx.Queue()
    processes = []
    for device in target_devices:
        process = ctx.Process(target=_worker, args=(device, type(model), str(Path(folder) / "model"), inputs, outputs),
                              daemon=True)
        process.start()
        processes.append(process)
    return {"input": inputs, "output": outputs, "processes": processes, "folder": folder}


def stop_pool(pool: dict[str, Any]) -> None:
    for process in pool["processes"]:
        if process.is_alive():
            pool["input"].put(None)
    for process in pool["processes"]:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    for q in (pool["input"], pool["output"]):
        q.cancel_join_thread()  # never block interpreter exit on undelivered items
        q.close()
    shutil.rmtree(pool.get("folder", ""), ignore_errors=True)


def run_pool(pool: dict[str, Any], method: str, items: list[Any], chunk_size: int | None, kwargs: dict[str, Any]
             ) -> list[Any]:
    """Results of ``model.<method>(chunk, **kwargs)`` for every chunk, concatenated in input order."""
    n_proc = len(pool["processes"])
    if chunk_size is None:
        chunk_size = max(1, min(math.ceil(len(items) / n_proc / 10), 5000))
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    for chunk_id, chunk in enumerate(chunks):
        pool["input"].put((chunk_id, method, chunk, kwargs))
    results: dict[int, Any] = {}
    while len(results) < len(chunks):
        try:
            chunk_id, status, value = pool["output"].get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in pool["processes"] if not p.is_alive()]
            if dead:
                raise RuntimeError(f"{len(dead)} encoding worker(s) died (exit codes "
                                   f"{[p.exitcode for p in dead]}); if the script has no `if __name__ == "
                                   f"\"__main__\":` guard, add one") from None
            continue
        if status == "error":
            raise RuntimeError(f"an encoding worker failed on chunk {chunk_id}: {value}")
        results[chunk_id] = value
    merged: list[Any] = []
    for chunk_id in range(len(chunks)):
        merged.extend(results[chunk_id])
    return merged


def run_on_pool_or_devices(model: Any, method: str, items: list[Any], pool: dict[str, Any] | None, devices: Any,
                           chunk_size: int | None, kwargs: dict[str, Any]) -> list[Any]:
    """``model.<method>`` over ``items`` on ``pool``, or on a pool started (and stopped) for ``devices``."""
    own_pool = pool is None
    pool = pool or start_pool(model, list(devices))
    try:
        return run_pool(pool, method, items, chunk_size, kwargs)
    finally:
        if own_pool:
            stop_pool(pool)
