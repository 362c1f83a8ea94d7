"""sentence-transformers' trainer API on embedkit's loop: streamed datasets, ST-style collators, sampler hooks,
model_init, reserved columns and the eval loss's batching."""

from __future__ import annotations

import pytest
import torch

from embedkit.base.data_collator import BaseDataCollator
from embedkit.base.sampler import GroupByLabelBatchSampler, NoDuplicatesBatchSampler
from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


class Stream:
    """Duck-typed ``datasets.IterableDataset``: rows by iteration only."""

    def __init__(self, rows, column_names=True):
        self.rows = rows
        self.column_names = list(rows[0]) if column_names else None

    def __iter__(self):
        return iter(self.rows)


def rows_of(columns):
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def test_streamed_dataset_trains_in_order_and_featureless_stream_is_refused(tmp_path):
    model = tiny_model()
    data = rows_of(sts_rows(8))
    args = Args(output_dir=str(tmp_path), max_steps=2, save_strategy="no", disable_tqdm=True,
                per_device_train_batch_size=4)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=Stream(data), loss=CosineMSE(model))
    assert list(trainer._train_sampler(0, 1)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert trainer.train().global_step == 2
    with pytest.raises(ValueError, match="must have Features"):
        SentenceTransformerTrainer(model, args, train_dataset=Stream(data, column_names=False), loss=CosineMSE(model))
    with pytest.raises(ValueError, match="DatasetDict containing an IterableDataset"):
        SentenceTransformerTrainer(model, args, train_dataset={"a": Stream(data)}, loss=CosineMSE(model))


def test_st_style_collator_batch_sampler_hooks_and_reserved_columns(tmp_path):
    model = tiny_model()
    data = sts_rows(8)
    collator = BaseDataCollator(model.preprocess)
    args = Args(output_dir=str(tmp_path), max_steps=1, save_strategy="no", disable_tqdm=True,
                batch_sampler=NoDuplicatesBatchSampler)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=data, loss=CosineMSE(model),
                                         data_collator=collator)
    sampler = trainer.get_batch_sampler(trainer.train_datasets[""], 4, False, ["score"], torch.Generator(), 0)
    assert isinstance(sampler, NoDuplicatesBatchSampler)
    assert trainer.train().global_step == 1
    with pytest.raises(ValueError, match=r"invalid in your train dataset: \['dataset_name'\]"):
        SentenceTransformerTrainer(model, args, train_dataset={**data, "dataset_name": data["score"]},
                                   loss=CosineMSE(model))
    with pytest.raises(ValueError, match="GroupByLabelBatchSampler requires at least 2 distinct labels"):
        GroupByLabelBatchSampler(rows_of({"t": ["a", "b"], "label": [0, 0]}), 4, False, ["label"])


def test_model_init_repoints_the_losses_and_evaluate_returns_what_st_returns(tmp_path):
    base = tiny_model()
    trainer = SentenceTransformerTrainer(None, Args(output_dir=str(tmp_path), max_steps=1, save_strategy="no",
                                                    disable_tqdm=True, per_device_eval_batch_size=5),
                                         train_dataset=sts_rows(8), eval_dataset=sts_rows(7),
                                         loss=CosineMSE(base), model_init=tiny_model)
    trainer.train()
    assert trainer.loss.model is trainer.model and trainer.loss.model is not base
    metrics = trainer.evaluate()
    # ST 6.2 after training: no "epoch" in the returned metrics (it is in the logged entry)
    assert set(metrics) == {"eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}
    assert metrics["eval_loss"] >= 0 and trainer.state.log_history[-1]["epoch"] == 1.0


def test_train_output_evaluate_and_their_log_entries_follow_transformers(tmp_path):
    from embedkit.base.trainer import TrainerCallback

    seen = []

    class Logs(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            seen.append(dict(logs))

    model = tiny_model()
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path), max_steps=3, save_strategy="no",
                                                     disable_tqdm=True, logging_steps=2, per_device_train_batch_size=4),
                                         train_dataset=sts_rows(8), eval_dataset=sts_rows(6), loss=CosineMSE(model),
                                         callbacks=[Logs()])
    out = trainer.train()
    assert set(out.metrics) == {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos",
                                "train_loss", "epoch"}
    step_losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(step_losses) == 1  # logged at step 2 only: step 3 is not a logging step (as in transformers)
    assert out.training_loss == out.metrics["train_loss"] > 0
    assert out.metrics["train_samples_per_second"] == pytest.approx(3 * 4 / out.metrics["train_runtime"], rel=1e-2)
    assert trainer.state.log_history[-1]["step"] == 3 and "train_loss" in trainer.state.log_history[-1]
    assert all("step" not in logs for logs in seen) and "train_loss" in seen[-1]
    metrics = trainer.evaluate(metric_key_prefix="test")
    assert set(metrics) == {"test_loss", "test_runtime", "test_samples_per_second", "test_steps_per_second", "epoch"}
    assert "test_loss" in trainer.state.log_history[-1] and "test_loss" in seen[-1]
    bare = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path)), loss=CosineMSE(model))
    with pytest.raises(ValueError, match="Evaluation requires specifying an eval_dataset to the "
                                         "SentenceTransformerTrainer."):
        bare.evaluate()
    with pytest.raises(ValueError, match="Training requires specifying a train_dataset to the "
                                         "SentenceTransformerTrainer."):
        bare.train()


def test_argument_checks_that_transformers_makes_or_that_name_the_argument(tmp_path):
    from embedkit.base.trainer_checkpoints import NoCheckpointError

    with pytest.raises(ValueError, match="evaluation strategy steps requires either non-zero --eval_steps or "
                                         "--logging_steps"):
        Args(output_dir=str(tmp_path), eval_strategy="steps", logging_steps=0)
    assert Args(output_dir=str(tmp_path), eval_strategy="steps", logging_steps=7).eval_steps == 7
    with pytest.raises(TypeError, match="max_steps='10' must be a number"):
        Args(output_dir=str(tmp_path), max_steps="10")
    with pytest.raises(TypeError, match="learning_rate='abc' must be a number"):
        Args(output_dir=str(tmp_path), learning_rate="abc")
    model = tiny_model()
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path / "empty"), max_steps=1,
                                                     disable_tqdm=True), train_dataset=sts_rows(8),
                                         loss=CosineMSE(model))
    with pytest.raises(ValueError, match="No valid checkpoint found in output directory") as caught:
        trainer.train(resume_from_checkpoint=True)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, NoCheckpointError)
