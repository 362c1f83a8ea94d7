"""Faults during training: kill -9 at random moments then resume (bitwise equal), disk full while saving."""

from __future__ import annotations

import errno
import os
import random
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
    import sys
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
    from tests.training.helpers import CosineMSE, sts_rows, tiny_model
    model = tiny_model()
    args = Args(output_dir=sys.argv[1], max_steps=8, per_device_train_batch_size=4, save_steps=1, logging_steps=1,
                disable_tqdm=True, learning_rate=1e-3)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model)).train(
        resume_from_checkpoint=sys.argv[2] == "resume")
    model.save(sys.argv[1] + "/final")
""")


def train_in_subprocess(script, out, mode, kill_after=None):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, str(script), str(out), mode], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return True
    deadline = time.time() + 120
    while time.time() < deadline and not list_checkpoints(out) and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(kill_after)
    if proc.poll() is not None:
        return False  # finished before the kill: nothing to test with this seed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_9_at_a_random_moment_then_resume_is_bitwise_identical(tmp_path, seed):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(root=str(FIXTURES.parent.parent)))
    train_in_subprocess(script, tmp_path / "full", "fresh")
    killed_dir = tmp_path / "killed"
    if not train_in_subprocess(script, killed_dir, "fresh", kill_after=random.Random(seed).uniform(0.0, 0.6)):
        pytest.skip("training finished before the kill")
    checkpoints = list_checkpoints(killed_dir)
    assert checkpoints, "at least one complete checkpoint must survive the kill"
    SentenceTransformer(str(checkpoints[-1]), device="cpu")  # the newest complete checkpoint loads
    train_in_subprocess(script, killed_dir, "resume")
    full = load_file(str(tmp_path / "full" / "final" / "model.safetensors"))
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
