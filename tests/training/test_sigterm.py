"""SIGTERM during training: the current step finishes, a checkpoint at that step is saved, the process then
terminates with SIGTERM, and resuming continues exactly (in-process, in a subprocess, and under 2-rank DDP)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from embedkit.checkpoint import list_checkpoints
from tests.conftest import FIXTURES
from tests.training.helpers import CosineMSE, sts_rows, tiny_model

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

COMMON = dict(max_steps=6, per_device_train_batch_size=4, logging_steps=1, disable_tqdm=True, learning_rate=1e-3,
              save_strategy="steps", save_steps=100)  # no regular checkpoint before the end


class SigtermAt(TrainerCallback):
    """Sends SIGTERM to this process at the end of one step (the loop sees it at that step's end)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def run(out, callbacks=(), resume=None, **kwargs):
    model = tiny_model()  # dropout on: the RNG state must resume exactly too
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(out), **{**COMMON, **kwargs}),
                                         train_dataset=sts_rows(), loss=CosineMSE(model), callbacks=list(callbacks))
    trainer.train(resume_from_checkpoint=resume)
    return model, trainer


@pytest.fixture
def sigterm_calls():
    """SIGTERMs that reach the handler that was installed before train() (instead of ending pytest)."""
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_saves_the_current_step_then_is_delivered_and_resume_is_exact(tmp_path, sigterm_calls):
    full, _ = run(tmp_path / "full")
    _, stopped = run(tmp_path / "stopped", callbacks=[SigtermAt(3)])
    assert stopped.state.global_step == 3, "training stops at the end of the step the signal arrived in"
    assert [p.name for p in list_checkpoints(tmp_path / "stopped")] == ["checkpoint-3"]
    assert sigterm_calls == [signal.SIGTERM], "the signal is passed on to the previous handler once, after saving"
    assert signal.getsignal(signal.SIGTERM) is not stopped._termination._on_signal  # handler restored
    resumed, _ = run(tmp_path / "stopped", resume=True)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())


def test_sigterm_with_save_strategy_no_stops_without_a_checkpoint(tmp_path, sigterm_calls, caplog):
    with caplog.at_level(logging.WARNING):
        _, stopped = run(tmp_path / "nosave", callbacks=[SigtermAt(2)], save_strategy="no")
    assert stopped.state.global_step == 2 and not list_checkpoints(tmp_path / "nosave")
    assert "stopping at step 2 on SIGTERM; save_strategy='no', so no checkpoint is saved" in caplog.text
    assert sigterm_calls == [signal.SIGTERM]


def test_a_checkpoint_saved_at_the_signal_step_is_not_written_twice(tmp_path, sigterm_calls, monkeypatch):
    saves = []
    original = SentenceTransformerTrainer._save_checkpoint
    monkeypatch.setattr(SentenceTransformerTrainer, "_save_checkpoint",
                        lambda self, *a: (saves.append(self.state.global_step), original(self, *a))[1])
    run(tmp_path / "twice", callbacks=[SigtermAt(2)], save_steps=2)
    assert saves == [2] and sigterm_calls == [signal.SIGTERM]


SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
    from tests.training.helpers import CosineMSE, sts_rows, tiny_model

    class Report(TrainerCallback):  # tell the parent each step; at step 3 wait until its SIGTERM has arrived
        def on_step_end(self, args, state, control, **kwargs):
            print("step", state.global_step, flush=True)
            if sys.argv[2] == "fresh" and state.global_step == 3:
                deadline = time.monotonic() + 120
                while trainer._termination.received is None and time.monotonic() < deadline:
                    time.sleep(0.01)

    model = tiny_model()
    args = Args(output_dir=sys.argv[1], max_steps=6, per_device_train_batch_size=4, save_strategy="steps",
                save_steps=100, disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model),
                                         callbacks=[Report()])
    trainer.train(resume_from_checkpoint=sys.argv[2] == "resume")
    model.save(sys.argv[1] + "/final")
""")


def child(script, out, mode):
    return subprocess.Popen([sys.executable, str(script), str(out), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})


@pytest.mark.slow
def test_an_external_sigterm_to_a_training_process_saves_and_resume_is_exact(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(root=str(FIXTURES.parent.parent)))
    killed = child(script, tmp_path / "killed", "fresh")
    for line in killed.stdout:
        if line.strip() == "step 3":
            killed.send_signal(signal.SIGTERM)
            break
    _, err = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGTERM, err  # it still ends as a SIGTERMed process would
    assert [p.name for p in list_checkpoints(tmp_path / "killed")] == ["checkpoint-3"]
    assert not (tmp_path / "killed" / "final").exists()
    steps = {}
    for out, mode in ((tmp_path / "killed", "resume"), (tmp_path / "full", "plain")):
        proc = child(script, out, mode)
        stdout, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        steps[mode] = [line.split()[1] for line in stdout.splitlines() if line.startswith("step ")]
    assert steps == {"resume": ["4", "5", "6"], "plain": ["1", "2", "3", "4", "5", "6"]}
    full = load_file(str(tmp_path / "full" / "final" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "killed" / "final" / "model.safetensors"))
    assert full.keys() == resumed.keys() and all(torch.equal(full[k], resumed[k]) for k in full)


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model = tiny_model()
    callbacks = [SigtermAt(2)] if rank == 1 else []  # only rank 1 gets the signal
    args = Args(output_dir=out_dir, **{**COMMON, "max_steps": 4, "per_device_train_batch_size": 2})
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model),
                               callbacks=callbacks).train()


@pytest.mark.slow
@pytest.mark.distributed
def test_sigterm_on_one_rank_stops_every_rank_after_one_collective_checkpoint(tmp_path):
    # that a DDP checkpoint resumes exactly: test_distributed.py::test_resume_under_ddp_equals_an_uninterrupted_ddp_run
    from tests.training.test_distributed import free_port

    context = mp.start_processes(_ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=False)
    for process in context.processes:
        process.join(timeout=120)  # a generous bound on a hang, not a speed
    for process in context.processes:
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in context.processes] == [-signal.SIGTERM, -signal.SIGTERM]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-2"]
    state = json.loads((tmp_path / "checkpoint-2" / "trainer_state.json").read_text())
    ours = json.loads((tmp_path / "checkpoint-2" / "embedkit_state.json").read_text())
    assert state["global_step"] == 2 and ours["layout"]["world_size"] == 2
    assert (tmp_path / "checkpoint-2" / "rng_state_rank1.json").is_file(), "both ranks' RNG states are saved"
