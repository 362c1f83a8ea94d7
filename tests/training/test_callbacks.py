"""Callbacks see transformers' events in transformers' order, and ``control`` flags steer the loop as they do there
(the event lists are recorded from sentence-transformers 6.2 / transformers 5.25 by
``tests/generate_callback_fixtures.py``)."""

from __future__ import annotations

import json

import pytest

from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.conftest import FIXTURES
from tests.generate_callback_fixtures import BASE, RUNS, recording_callback
from tests.training.helpers import CosineMSE, sts_rows, tiny_model

RECORDED = json.loads((FIXTURES / "callback_events.json").read_text())


def _recorder(flags: dict[str, list[str]]) -> TrainerCallback:
    return recording_callback(TrainerCallback, flags)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_callback_events_match_sentence_transformers(tmp_path, run):
    extra, flags = RUNS[run]
    recorder = _recorder(flags)
    model = tiny_model()
    args = Args(output_dir=str(tmp_path), **{k: v for k, v in BASE.items() if k != "report_to"}, **extra)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(16), eval_dataset=sts_rows(4),
                                         loss=CosineMSE(model), callbacks=[recorder])
    trainer.train()
    assert recorder.events == RECORDED[run]
    assert [sorted(entry) for entry in trainer.state.log_history] == RECORDED["log_keys"][run]  # what each log holds


def test_control_flags_act_and_the_final_step_saves(tmp_path):
    _, flags = RUNS["control_flags"]
    model = tiny_model()
    args = Args(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=2, disable_tqdm=True,
                eval_strategy="no", save_strategy="no", logging_steps=100)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(16), eval_dataset=sts_rows(4),
                                         loss=CosineMSE(model), callbacks=[_recorder(flags)])
    trainer.train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1"]  # should_save at step 1
    assert [h["step"] for h in trainer.state.log_history if "eval_loss" in h] == [1]
    assert [h["step"] for h in trainer.state.log_history if "loss" in h] == [1]
    assert trainer.state.global_step == 6  # should_epoch_stop after step 3 (of 4), should_training_stop at 6
    args = Args(output_dir=str(tmp_path / "steps"), per_device_train_batch_size=4, max_steps=5, save_steps=2,
                disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(16), loss=CosineMSE(model)).train()
    assert sorted(p.name for p in (tmp_path / "steps").glob("checkpoint-*")) == [
        "checkpoint-2", "checkpoint-4", "checkpoint-5"]  # the last step is saved too, as in transformers
