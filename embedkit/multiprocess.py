"""Encoding on several processes or devices: a pool of spawned workers, each holding a copy of the model.

Each worker loads the model from a temporary folder the pool saves it to. Inputs are cut into chunks that workers
take from one queue; results come back tagged with their call and chunk numbers and are put back in input order.
CPU workers use one thread each. The folder's name holds the parent's pid; if the parent dies without stopping the
pool (SIGKILL), its workers remove the folder and exit, and the next pool started on the machine removes any copy
left by a parent that is gone.

Calls on one pool are isolated: a call takes the pool's lock (calls from several threads run one after another,
never mixing rows), and a result tagged with another call's number (left over from a call that failed) is
dropped; a failed call also takes its own unstarted chunks back out of the queue. A call waits at most ``timeout``
seconds for the next result (``pool["timeout"]``, default :data:`DEFAULT_TIMEOUT`), and fails at once when a
worker died or was stopped (SIGSTOP), naming it; a pool with a dead worker is refused afterwards with the advice to
start a new one. A script that starts a pool without the ``if __name__ == "__main__":`` guard would otherwise crash
in every spawned child (they re-run the script while bootstrapping); embedkit detects that and says what to change.
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing as mp
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("embedkit.base.model")  # the logger sentence-transformers uses for these messages

_MAIN_GUARD_HELP = (
    "a multi-process pool was started while Python was still importing the main script in a spawned worker. "
    "Put the code that starts the pool (or calls encode(device=[...])) under\n\n    if __name__ == \"__main__\":\n\n"
    "so that worker processes do not run it again."
)
# Seconds a call waits for the next chunk's result before it gives up (a worker hung in a kernel or a deadlock).
DEFAULT_TIMEOUT = 3600.0
_CALL_NUMBERS = itertools.count(1)  # process-wide, so that no two calls on any pool share a number


def _exit_with_parent(folder: str) -> None:
    """In a worker: when the parent process ends without stopping the pool (SIGKILL, a crash), remove the pool's
    temporary model copy and end this worker too, instead of waiting forever on the queue."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent process is gone
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(0)

    threading.Thread(target=watch, name="embedkit-pool-parent-watch", daemon=True).start()


def _folder_prefix(pid: int | str) -> str:
    return f"embedkit-pool-{pid}-"


def _sweep_stale_copies(tmp_root: str | None = None) -> None:
    """Remove the temporary model copies of pools whose parent process is gone (pid in the folder name), in case
    its workers could not do it (killed with their parent)."""
    root = Path(tmp_root or tempfile.gettempdir())
    if sys.platform == "win32":
        return
    for folder in root.glob(_folder_prefix("*") + "*"):
        pid = folder.name[len("embedkit-pool-"):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, owned by another user
            continue


def _worker(device: str, model_class: type, folder: str, inputs: Any, outputs: Any) -> None:
    _exit_with_parent(str(Path(folder).parent))
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
        call, chunk_id, method, items, kwargs = job
        try:
            result = getattr(model, method)(items, device=device, **kwargs)
            if isinstance(result, torch.Tensor):
                result = result.cpu()
            elif isinstance(result, list):
                result = [r.cpu() if isinstance(r, torch.Tensor) else r for r in result]
            outputs.put((call, chunk_id, "ok", result))
        except Exception as exc:  # report, keep serving
            outputs.put((call, chunk_id, "error", f"{type(exc).__name__}: {exc}"))


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
    _sweep_stale_copies()
    folder = tempfile.mkdtemp(prefix=_folder_prefix(os.getpid()))
    model.save(Path(folder) / "model", create_model_card=False)
    ctx = mp.get_context("spawn")
    inputs, outputs = ctx.Queue(), ctx.Queue()
    processes = []
    for device in target_devices:
        process = ctx.Process(target=_worker, args=(device, type(model), str(Path(folder) / "model"), inputs, outputs),
                              daemon=True)
        process.start()
        processes.append(process)
    return {"input": inputs, "output": outputs, "processes": processes, "folder": folder, "lock": threading.Lock(),
            "timeout": DEFAULT_TIMEOUT}


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


def _stopped(process: Any) -> bool:
    """Whether ``process`` is stopped (SIGSTOP / SIGTSTP): state ``T`` in /proc on Linux, unknown elsewhere."""
    try:
        stat = Path(f"/proc/{process.pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].startswith(("T", "t"))


def _worker_problem(pool: dict[str, Any]) -> str | None:
    """What is wrong with the pool's workers (dead or stopped), or None."""
    for number, process in enumerate(pool["processes"]):
        if not process.is_alive():
            code = process.exitcode
            how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else \
                f"exited with code {code}"
            hint = (" (if this happened while the pool started, the script may lack an `if __name__ == \"__main__\":`"
                    " guard)" if code == 1 else "")
            return (f"encoding worker {number} (pid {process.pid}) {how}{hint}; this pool cannot be used any more: "
                    "stop it with stop_multi_process_pool(pool) and start a new one")
        if _stopped(process):
            return (f"encoding worker {number} (pid {process.pid}) is stopped (SIGSTOP); resume it with "
                    f"`kill -CONT {process.pid}` or stop the pool")
    return None


def _drain(pool: dict[str, Any], call: int) -> None:
    """Take this call's unstarted chunks back out of the input queue (only this call has chunks there: it holds
    the lock)."""
    while True:
        try:
            job = pool["input"].get(timeout=0.05)
        except (queue.Empty, OSError, EOFError):
            return
        if job is None or job[0] != call:  # not ours (a stop signal): put it back and stop draining
            pool["input"].put(job)
            return


def run_pool(pool: dict[str, Any], method: str, items: list[Any], chunk_size: int | None, kwargs: dict[str, Any]
             ) -> list[Any]:
    """Results of ``model.<method>(chunk, **kwargs)`` for every chunk, concatenated in input order.

    Raises:
        RuntimeError: a worker failed on a chunk, died or is stopped, or no result came within the pool's timeout.
    """
    with pool.setdefault("lock", threading.Lock()):
        problem = _worker_problem(pool)
        if problem:
            raise RuntimeError(problem)
        n_proc = len(pool["processes"])
        if chunk_size is None:
            chunk_size = max(1, min(math.ceil(len(items) / n_proc / 10), 5000))
        chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
        call = next(_CALL_NUMBERS)
        for chunk_id, chunk in enumerate(chunks):
            pool["input"].put((call, chunk_id, method, chunk, kwargs))
        try:
            results = _collect(pool, call, len(chunks))
        except BaseException:
            _drain(pool, call)
            raise
    merged: list[Any] = []
    for chunk_id in range(len(chunks)):
        merged.extend(results[chunk_id])
    return merged


def _collect(pool: dict[str, Any], call: int, n_chunks: int) -> dict[int, Any]:
    timeout = pool.get("timeout", DEFAULT_TIMEOUT)
    results: dict[int, Any] = {}
    last_result = time.monotonic()
    while len(results) < n_chunks:
        try:
            result_call, chunk_id, status, value = pool["output"].get(timeout=1.0)
        except queue.Empty:
            problem = _worker_problem(pool)
            if problem:
                raise RuntimeError(problem) from None
            if timeout is not None and time.monotonic() - last_result > timeout:
                raise RuntimeError(f"no encoding result for {timeout:g} s ({len(results)} of {n_chunks} chunks "
                                   "done); a worker may be hung: stop the pool and start a new one") from None
            continue
        if result_call != call:
            continue  # left over from an earlier call that failed
        last_result = time.monotonic()
        if status == "error":
            raise RuntimeError(f"an encoding worker failed on chunk {chunk_id}: {value}")
        results[chunk_id] = value
    return results


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
