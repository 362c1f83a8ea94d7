"""Resuming from ``save_only_model`` checkpoints says what is missing and what to do, before any step (the explicit
path case is test_trainer's test_resuming_from_a_save_only_model_checkpoint_says_what_is_missing)."""

from __future__ import annotations

import pytest
import torch

from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


def test_resume_true_over_save_only_model_checkpoints_names_the_missing_state_and_trains_nothing(tmp_path):
    common = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, disable_tqdm=True, save_strategy="steps",
                  save_steps=1, save_only_model=True)
    model = tiny_model()
    SentenceTransformerTrainer(model, Args(max_steps=2, **common), train_dataset=sts_rows(),
                               loss=CosineMSE(model)).train()
    fresh = tiny_model()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    trainer = SentenceTransformerTrainer(fresh, Args(max_steps=4, **common), train_dataset=sts_rows(),
                                         loss=CosineMSE(fresh))
    with pytest.raises(FileNotFoundError, match=r"checkpoint-1 holds the model weights but not the training state "
                                                r"\(optimizer.pt, scheduler.pt missing\).*save_only_model=True.*"
                                                r"start a new run"):
        trainer.train(resume_from_checkpoint=True)  # checkpoint-2 is skipped with a warning, then checkpoint-1
    assert trainer.state.global_step == 0
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())
