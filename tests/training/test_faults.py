"""Faults during training: kill -9 at any moment then resume (bitwise equal), disk full while saving."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from safetensors.torch import load_file

from embedkit import SentenceTransformer
from embedkit.checkpoint import list_checkpoints
from tests.conftest import FIXTURES
from tests.training.helpers import CosineMSE, sts_rows, tiny_model

SCRIPT = textwrap.dedent("""
    import os, sys, types
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    import embedkit.checkpoint as checkpoint
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
    from tests.training.helpers import CosineMSE, sts_rows, tiny_model
    if sys.argv[3] == "kill_in_first_save":  # SIGKILL itself between writing checkpoint-1 and renaming it into place
        def die(src, dst):
            os.kill(os.getpid(), 9)
        checkpoint.os = types.SimpleNamespace(**{{**{{n: getattr(os, n) for n in dir(os) if not n.startswith("__")}},
                                                 "replace": die}})
    model = tiny_model()
    args = Args(output_dir=sys.argv[1], max_steps=8, per_device_train_batch_size=4, save_steps=1, logging_steps=1,
                disable_tqdm=True, learning_rate=1e-3)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model)).train(
        resume_from_checkpoint=sys.argv[2] == "resume")
    model.save(sys.argv[1] + "/final")
""")


def start_training(script, out, mode, kill="none"):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, str(script), str(out), mode, kill], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def train_to_the_end(script, out, mode):
    proc = start_training(script, out, mode)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(script, the final weights of an uninterrupted run, its wall time from start to exit)."""
    folder = tmp_path_factory.mktemp("faults")
    script = folder / "train.py"
    script.write_text(SCRIPT.format(root=str(FIXTURES.parent.parent)))
    start = time.monotonic()
    train_to_the_end(script, folder / "full", "fresh")
    return script, load_file(str(folder / "full" / "final" / "model.safetensors")), time.monotonic() - start


# The moments of the kill: at a random moment of the whole run (imports and model building included, so before,
# during or after the first checkpoint), for three seeds; and inside the first checkpoint's write, after its files
# were written and before the folder is renamed into place.
MOMENTS = ["random_0", "random_1", "random_2", "in_first_checkpoint_write"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS)
def test_kill_9_at_any_moment_then_resume_is_bitwise_identical(tmp_path, uninterrupted, moment):
    script, full, duration = uninterrupted
    killed_dir = tmp_path / "killed"
    if moment == "in_first_checkpoint_write":
        proc = start_training(script, killed_dir, "fresh", kill="kill_in_first_save")
        proc.wait(timeout=300)
        assert proc.returncode == -signal.SIGKILL
        assert list(killed_dir.glob(".checkpoint-1.tmp-*")), "killed while writing: the partial folder is there"
        assert not list_checkpoints(killed_dir)
    else:
        fraction = random.Random(moment).uniform(0.0, 1.0)
        for _ in range(8):  # never skip: a run that finished first is redone with an earlier kill
            proc = start_training(script, killed_dir, "fresh")
            try:
                proc.wait(timeout=fraction * duration)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            shutil.rmtree(killed_dir, ignore_errors=True)
            fraction /= 2
        else:
            pytest.fail("training always finished before the kill")
    checkpoints = list_checkpoints(killed_dir)
    if checkpoints:
        SentenceTransformer(str(checkpoints[-1]), device="cpu")  # the newest complete checkpoint loads
    train_to_the_end(script, killed_dir, "resume" if checkpoints else "fresh")  # no checkpoint yet: start again
    resumed = load_file(str(killed_dir / "final" / "model.safetensors"))
    assert full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert not list(killed_dir.glob(".checkpoint-*")), "partial checkpoint folders are cleaned up"


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args

    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=4, save_steps=2,
                disable_tqdm=True)
    original = torch.save

    def full_disk(obj, f, *a, **k):
        if str(f).endswith("optimizer.pt") and "checkpoint-4" in str(f):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model))
    with pytest.raises(OSError, match=r"checkpoint-4.*No space left.*earlier checkpoints were left intact"):
        trainer.train()
    assert [p.name for p in list_checkpoints(tmp_path / "out")] == ["checkpoint-2"]
    SentenceTransformer(str(tmp_path / "out" / "checkpoint-2"), device="cpu")
    assert not list((tmp_path / "out").glob(".checkpoint-*"))
