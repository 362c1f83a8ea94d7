"""The trainer methods scripts call around train(), with transformers' names and outputs."""

from __future__ import annotations

import json
import logging

import torch

from embedkit import SentenceTransformer
from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


class Seen(TrainerCallback):
    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(logs)


def _trainer(tmp_path, **kwargs):
    model = tiny_model()
    args = Args(output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=1, save_strategy="no",
                disable_tqdm=True, **kwargs)
    return SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model))


def test_callbacks_are_added_popped_and_removed(tmp_path, caplog):
    trainer = _trainer(tmp_path)
    trainer.add_callback(Seen)
    assert isinstance(trainer.callbacks[-1], Seen)
    with caplog.at_level(logging.WARNING):
        trainer.add_callback(Seen())
    assert "there is already one" in caplog.text
    first = trainer.pop_callback(Seen)
    assert isinstance(first, Seen) and sum(isinstance(c, Seen) for c in trainer.callbacks) == 1
    second = next(c for c in trainer.callbacks if isinstance(c, Seen))
    trainer.remove_callback(second)
    assert not any(isinstance(c, Seen) for c in trainer.callbacks) and trainer.pop_callback(Seen) is None


def test_save_model_log_and_state(tmp_path):
    trainer = _trainer(tmp_path)
    seen = Seen()
    trainer.add_callback(seen)
    output = trainer.train()
    assert trainer.is_world_process_zero() and trainer.is_local_process_zero()
    assert trainer.get_num_trainable_parameters() == sum(p.numel() for p in trainer.model.parameters())
    trainer.save_model(str(tmp_path / "final"))
    reloaded = SentenceTransformer(str(tmp_path / "final"), device="cpu")
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in trainer.model.state_dict().items())
    trainer.log({"custom": 1.5})
    assert trainer.state.log_history[-1] == {"custom": 1.5, "epoch": 1.0, "step": 1}
    assert seen.logs[-1] == {"custom": 1.5, "epoch": 1.0}
    trainer.save_metrics("train", output.metrics)
    trainer.save_metrics("eval", {"eval_loss": 0.5})
    assert json.loads((tmp_path / "train_results.json").read_text())["train_loss"] == output.metrics["train_loss"]
    assert json.loads((tmp_path / "all_results.json").read_text())["eval_loss"] == 0.5
    trainer.save_state()
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 1 and state["log_history"][-1]["custom"] == 1.5


def test_log_metrics_prints_as_transformers(tmp_path, capsys):
    """The same text as transformers 5.25's Trainer.log_metrics for these metrics (compared by hand)."""
    _trainer(tmp_path).log_metrics("train", {"train_loss": 0.123456, "train_runtime": 3725.129, "epoch": 2.0,
                                             "total_flos": 5.5e12, "train_samples_per_second": 12.34567,
                                             "train_steps": 7, "peak_mem_gpu": 123456789})
    assert capsys.readouterr().out == (
        "***** train metrics *****\n"
        "  epoch                    =        2.0\n"
        "  peak_mem_gpu             =      117MB\n"
        "  total_flos               =     5122GF\n"
        "  train_loss               =     0.1235\n"
        "  train_runtime            = 1:02:05.12\n"
        "  train_samples_per_second =    12.3457\n"
        "  train_steps              =          7\n")


def test_push_to_hub_saves_then_uploads_the_model(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, hub_model_id="me/tiny", hub_token="secret", hub_private_repo=True)
    calls = []
    monkeypatch.setattr(type(trainer.model), "push_to_hub",
                        lambda self, repo_id, **kwargs: calls.append((repo_id, kwargs)) or "https://hub/commit")
    assert trainer.push_to_hub() == "https://hub/commit"
    assert (tmp_path / "model.safetensors").is_file()  # saved to output_dir first
    repo_id, kwargs = calls[0]
    assert repo_id == "me/tiny" and kwargs["token"] == "secret" and kwargs["private"] is True
    assert kwargs["commit_message"] == "End of training" and kwargs["exist_ok"] is True


def test_create_optimizer_and_scheduler_overrides_are_used(tmp_path):
    """transformers' hooks: a subclass's create_optimizer / create_scheduler build what train() uses."""
    used = {}

    class Custom(SentenceTransformerTrainer):
        def create_optimizer(self):
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.5)
            used["optimizer"] = self.optimizer
            return self.optimizer

        def create_scheduler(self, num_training_steps, optimizer=None):
            used["steps"] = num_training_steps
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.1)
            return self.scheduler

    model = tiny_model()
    args = Args(output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=2, save_strategy="no",
                disable_tqdm=True, logging_steps=1)
    trainer = Custom(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model))
    trainer.train()
    assert isinstance(used["optimizer"], torch.optim.SGD) and used["steps"] == 2
    assert [h["learning_rate"] for h in trainer.state.log_history if "loss" in h] == [0.05, 0.05]
    plain = _trainer(tmp_path / "plain")
    assert isinstance(plain.create_optimizer(), torch.optim.AdamW) and plain.optimizer is not None
    assert plain.create_scheduler(10).get_last_lr()[0] == plain.args.learning_rate
