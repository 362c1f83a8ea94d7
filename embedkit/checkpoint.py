"""Training checkpoints: everything needed to continue exactly where a run stopped, written atomically.

``output_dir/checkpoint-<step>/`` holds the model as a loadable sentence-transformers folder, trainable loss
parameters (``loss_params.safetensors``), optimizer / scheduler / grad-scaler states (tensors and numbers only,
read back with ``torch.load(weights_only=True)``), the RNG states of python, numpy, torch and CUDA of every rank
(``rng_state[_rankN].safetensors`` + ``.json``, no pickle), ``trainer_state.json`` (transformers' keys: step,
epoch, best metric, log history) and ``embedkit_state.json`` (what embedkit resumes from: the state with the
position in the epoch's batches, the arguments, the batch layout). It is written to a temporary folder and renamed,
so a kill at any moment leaves the previous checkpoint intact and loadable. A checkpoint that sentence-transformers
(transformers' Trainer) wrote resumes too: its ``trainer_state.json`` gives the step, and ``rng_state[_N].pth``
the RNG states.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first (temporary folders are ignored)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and
             (p / "trainer_state.json").is_file()]
    return [p for _, p in sorted(found)]


def remove_partial_checkpoints(output_dir: str | os.PathLike) -> None:
    """Delete temporary folders left by a run killed while writing a checkpoint."""
    folder = Path(output_dir)
    if folder.is_dir():
        for path in folder.glob(".checkpoint-*.tmp-*"):
            shutil.rmtree(path, ignore_errors=True)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
        if states:
            torch.cuda.set_rng_state_all(states)
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def _rng_file(rank: int) -> str:
    return "rng_state" if rank == 0 else f"rng_state_rank{rank}"


def save_checkpoint(path: Path, model: nn.Module, loss_params: dict[str, torch.Tensor], optimizer: Any,
                    scheduler: Any, scaler: Any, trainer_state: dict[str, Any], resume_state: dict[str, Any],
                    model_only: bool = False,
                    rng_states: list[tuple[dict[str, torch.Tensor], dict[str, Any]]] | None = None) -> None:
    """Write a complete checkpoint at ``path`` (temporary sibling folder, then rename).

    Raises:
        OSError: the checkpoint could not be written (e.g. disk full); the message says the previous checkpoints
            were left intact.
    """
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        model.save(tmp / "model_tmp", create_model_card=False)
        for entry in (tmp / "model_tmp").iterdir():  # the model folder *is* the checkpoint folder (ST layout)
            entry.rename(tmp / entry.name)
        (tmp / "model_tmp").rmdir()
        if loss_params:
            save_file({k: v.detach().contiguous().cpu() for k, v in loss_params.items()},
                      str(tmp / "loss_params.safetensors"))
        if not model_only:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            if scaler is not None:
                torch.save(scaler.state_dict(), tmp / "scaler.pt")
            for rank, (tensors, meta) in enumerate(rng_states or [rng_state()]):  # one per rank under DDP
                save_file(tensors, str(tmp / f"{_rng_file(rank)}.safetensors"))
                (tmp / f"{_rng_file(rank)}.json").write_text(json.dumps(meta))
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
        (tmp / "embedkit_state.json").write_text(json.dumps(resume_state, indent=2))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(f"could not write checkpoint {path} ({exc}); earlier checkpoints were left intact") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class DamagedCheckpointError(ValueError):
    """A checkpoint file that cannot be read back (empty, truncated, garbage); the message names it."""


def _read(path: Path, what: str) -> Any:
    """One file of a checkpoint, or a ValueError naming it when it is damaged (empty, truncated, garbage)."""
    from safetensors.torch import load_file

    file = path / what
    try:
        if what.endswith((".pt", ".pth")):
            return torch.load(file, map_location="cpu", weights_only=True)
        if what.endswith(".safetensors"):
            return load_file(str(file))
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DamagedCheckpointError(f"checkpoint file {file} is damaged ({reason}): resume from an earlier "
                                     "checkpoint or start a new run") from exc


def read_training_state(path: Path, rank: int = 0) -> dict[str, Any]:
    """Every training-state file of the checkpoint at ``path``, read and checked before anything is applied.

    Raises:
        FileNotFoundError: the checkpoint has the model only (``save_only_model``) or is incomplete.
        DamagedCheckpointError: a file is damaged (named in the message), or ``trainer_state.json`` lacks the
            run's state.
    """
    missing = [name for name in ("optimizer.pt", "scheduler.pt") if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{path} holds the model weights but not the training state ({', '.join(missing)} missing): it was saved "
            "with save_only_model=True, or copied incompletely, so training cannot resume from it exactly. Load "
            "the model from this folder and start a new run, or save checkpoints without save_only_model to resume")
    state = {
        "optimizer": _read(path, "optimizer.pt"),
        "scheduler": _read(path, "scheduler.pt"),
        "scaler": _read(path, "scaler.pt") if (path / "scaler.pt").is_file() else None,
        "rng": _read_rng(path, rank),
        "trainer_state": _read(path, "trainer_state.json"),
    }
    trainer_state, source = state["trainer_state"], "trainer_state.json"
    if (path / "embedkit_state.json").is_file():
        trainer_state, source = _read(path, "embedkit_state.json"), "embedkit_state.json"
    elif isinstance(trainer_state, dict) and isinstance(trainer_state.get("embedkit"), dict):
        trainer_state = trainer_state["embedkit"]  # embedkit 0.1's checkpoints: inside transformers' keys
    elif isinstance(trainer_state, dict) and isinstance(trainer_state.get("global_step"), int):
        trainer_state = {"transformers": trainer_state}  # sentence-transformers' (the trainer places it)
    state["trainer_state"] = trainer_state
    ours = isinstance(trainer_state, dict) and isinstance(trainer_state.get("state"), dict) and isinstance(
        trainer_state["state"].get("global_step"), int)
    if not ours and not (isinstance(trainer_state, dict) and "transformers" in trainer_state):
        raise DamagedCheckpointError(f"checkpoint file {path / source} is damaged (no state.global_step): resume "
                                     "from an earlier checkpoint or start a new run")
    return state


def _read_rng(path: Path, rank: int) -> Any:
    """This rank's RNG states: embedkit's files, else those transformers' Trainer writes (``rng_state_<rank>.pth``
    under DDP, ``rng_state.pth`` alone), read with ``weights_only=True``; None when there are none (transformers
    resumes without them too)."""
    for name in (_rng_file(rank), _rng_file(0)):
        if (path / f"{name}.json").is_file():
            return _read(path, f"{name}.safetensors"), _read(path, f"{name}.json")
    for name in (f"rng_state_{rank}.pth", "rng_state.pth"):
        if (path / name).is_file():
            np_core = np._core if hasattr(np, "_core") else np.core  # numpy 2 / 1
            numpy_types = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), np_core.multiarray._reconstruct]
            with torch.serialization.safe_globals(numpy_types):
                return _read(path, name)
    return None


def apply_training_state(state: dict[str, Any], optimizer: Any, scheduler: Any, scaler: Any) -> dict[str, Any]:
    """Restore optimizer, scheduler, scaler and RNG states read by :func:`read_training_state`; returns the trainer
    state."""
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    rng = state["rng"]
    if isinstance(rng, dict):  # transformers' rng_state.pth
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["cpu"])
        cuda = rng.get("cuda")  # one device's state under DDP, every device's otherwise
        if cuda is not None and torch.cuda.is_available():
            (torch.cuda.set_rng_state_all if isinstance(cuda, list) else torch.cuda.set_rng_state)(cuda)
    elif rng is not None:
        set_rng_state(*rng)
    return state["trainer_state"]


def rotate_checkpoints(output_dir: Path, limit: int | None, keep: Path | None) -> None:
    """Delete the oldest checkpoints beyond ``limit``, never ``keep`` (the best one) nor the newest (to resume).

    With ``limit=1`` and an older best checkpoint, two remain (as in transformers).
    """
    if not limit or limit < 1:
        return
    checkpoints = list_checkpoints(output_dir)
    protected = {p.resolve() for p in ([keep] if keep is not None else []) + checkpoints[-1:]}
    deletable = [p for p in checkpoints if p.resolve() not in protected]
    excess = len(checkpoints) - limit
    for path in deletable[: max(0, excess)]:
        shutil.rmtree(path, ignore_errors=True)
