"""Where the trainer's flow follows transformers 5 / sentence-transformers 6.2 as measured against them (the
behaviours each test names were recorded with ST 6.2 and transformers 5.25 on the same setups): the last step's
evaluation, fp16 on CPU, a best checkpoint that cannot be loaded, epochs of a no-duplicates sampler, datasets with a
transform, and the eval loss over uneven batches."""

from __future__ import annotations

import ast
import logging

import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss
from tests.training.helpers import CosineMSE, sts_rows, tiny_model
from tests.training.test_trainer import Scores, run


class BreakCheckpoint(TrainerCallback):
    """Removes a checkpoint's weights once training is over, so load_best_model_at_end cannot load them."""

    def __init__(self, folder) -> None:
        self.folder = folder

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == args.max_steps:
            (self.folder / "model.safetensors").unlink()


def test_a_best_checkpoint_that_cannot_be_loaded_leaves_the_last_weights_and_logs(tmp_path, caplog):
    """As sentence-transformers 6.2: an error is logged and training ends with the model of the last step (it used
    to raise, losing the trained model held in memory)."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "rot"), max_steps=4, per_device_train_batch_size=4, save_steps=2,
                eval_strategy="steps", eval_steps=2, load_best_model_at_end=True, metric_for_best_model="dev_score",
                disable_tqdm=True, learning_rate=1e-3)
    breaker = BreakCheckpoint(tmp_path / "rot" / "checkpoint-2")
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model),
                                         evaluator=Scores(), callbacks=[breaker])
    with caplog.at_level(logging.ERROR):
        trainer.train()
    assert "Could not load the best model from" in caplog.text and "checkpoint-2" in caplog.text
    last = SentenceTransformer(str(tmp_path / "rot" / "checkpoint-4"), device="cpu")
    assert all(torch.equal(v, last.state_dict()[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("max_steps", "evaluated"), [(3, [2, 3]), (4, [2, 4]), (5, [2, 4, 5])])
def test_step_evaluation_also_runs_at_the_last_step(tmp_path, max_steps, evaluated):
    """transformers 5's DefaultFlowCallback evaluates at the end of training when the last step was not due."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "e"), max_steps=max_steps, per_device_train_batch_size=4,
                eval_strategy="steps", eval_steps=2, save_strategy="no", disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), eval_dataset=sts_rows(8),
                                         loss=CosineMSE(model))
    trainer.train()
    assert [h["step"] for h in trainer.state.log_history if "eval_loss" in h] == evaluated


def test_fp16_on_cpu_trains_in_float32_as_transformers_does(tmp_path, caplog):
    """transformers / accelerate apply fp16 autocast on CUDA only; on CPU fp16=True trains in float32 (it used to
    raise): the weights equal an fp32 run's bitwise, and a warning says so."""
    with caplog.at_level(logging.WARNING):
        half, _ = run(tmp_path, "fp16", fp16=True, max_steps=2)
    assert "float16 mixed precision is applied on CUDA devices only" in caplog.text
    full, _ = run(tmp_path, "fp32", max_steps=2)
    assert all(torch.equal(v, full.state_dict()[k]) for k, v in half.state_dict().items())


def test_a_no_duplicates_epoch_is_len_of_the_sampler_batches(tmp_path):
    """12 rows, 6 of them sharing the positive "dup", batch 4: the sampler's pass yields more batches than its
    len() (3); transformers takes len(dataloader) batches per epoch, so ST 6.2 logs epochs 1/3, 2/3, 1 and starts a
    second epoch (reshuffled) after 3 steps. embedkit used to run the whole pass as the first epoch."""
    model = tiny_model()
    data = {"anchor": [f"query {i}" for i in range(12)], "positive": ["dup"] * 6 + [f"answer {i}" for i in range(6)]}
    for epochs, logged in ((1, [0.3333, 0.6667, 1.0]), (2, [0.3333, 0.6667, 1.0, 1.3333, 1.6667, 2.0])):
        args = Args(output_dir=str(tmp_path / f"e{epochs}"), num_train_epochs=epochs, logging_steps=1,
                    per_device_train_batch_size=4, save_strategy="no", batch_sampler="no_duplicates",
                    disable_tqdm=True)
        trainer = SentenceTransformerTrainer(model, args, train_dataset=data, loss=MultipleNegativesRankingLoss(model))
        trainer.train()
        assert [h["epoch"] for h in trainer.state.log_history if "loss" in h] == logged


class TransformedRows:
    """What ``datasets.Dataset.set_transform`` gives: ``column_names`` lists the stored columns, while rows (and
    columns read by name) hold what the transform returns (TSDAE's examples add a "noisy" column this way)."""

    format = {"type": "custom", "columns": ["text"], "output_all_columns": True}

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.column_names = ["text"]

    def _transform(self, text: str) -> dict[str, str]:
        return {"noisy": " ".join(text.split()[::2]), "text": text}

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index):
        if isinstance(index, str):
            return [self._transform(t)[index] for t in self.texts]
        if isinstance(index, slice):
            rows = [self._transform(t) for t in self.texts[index]]
            return {key: [row[key] for row in rows] for key in ("noisy", "text")}
        return self._transform(self.texts[index])


def test_a_dataset_with_a_transform_trains_on_the_columns_its_rows_hold(tmp_path):
    """The trainer checked ``column_names`` (one column) against the loss (two) and refused; ST 6.2 trains. The
    transformed dataset trains exactly as the same rows given as plain columns."""
    texts = [f"sentence number {i} is here about {w}" for i, w in enumerate("abcdefgh")]
    plain = {"noisy": [" ".join(t.split()[::2]) for t in texts], "text": texts}
    trained = []
    for data in (TransformedRows(texts), plain):
        model = tiny_model(dropout=False)
        args = Args(output_dir=str(tmp_path / str(len(trained))), max_steps=2, per_device_train_batch_size=4,
                    save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
        SentenceTransformerTrainer(model, args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)).train()
        trained.append(model.state_dict())
    assert all(torch.equal(v, trained[1][k]) for k, v in trained[0].items())


class PartsLoss(CosineMSE):
    """CosineMSE split into two named components (their sum is the loss)."""

    def forward(self, features, labels):
        loss = super().forward(features, labels)
        return {"half": loss / 2, "other_half": loss / 2}


def test_eval_loss_is_the_mean_over_batches_and_components_are_logged(tmp_path):
    """ST 6.2 (transformers' evaluation loop) weighs every eval batch once, whatever its rows (10 rows, batch 4:
    4 + 4 + 2), logs each loss component as eval_<name> beside eval_loss but does not return it, and logs the epoch
    (0 before training) without returning it when the eval loss is there."""
    model = tiny_model()
    losses_seen = []

    class Recording(PartsLoss):
        def forward(self, features, labels):
            parts = super().forward(features, labels)
            losses_seen.append((len(labels), float(parts["half"] + parts["other_half"])))
            return parts

    args = Args(output_dir=str(tmp_path / "ev"), per_device_eval_batch_size=4, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), eval_dataset=sts_rows(10),
                                         loss=Recording(model))
    metrics = trainer.evaluate()
    assert [rows for rows, _ in losses_seen] == [4, 4, 2]
    batch_mean = sum(loss for _, loss in losses_seen) / 3
    assert metrics["eval_loss"] == pytest.approx(batch_mean, rel=1e-6)
    assert "eval_half" not in metrics and "epoch" not in metrics
    logged = trainer.state.log_history[-1]
    assert logged["eval_half"] == logged["eval_other_half"] == round(batch_mean / 2, 4)
    assert logged["epoch"] == 0 and logged["step"] == 0


def test_train_loss_components_are_logged_as_their_mean_rounded_to_4_decimals(tmp_path):
    """ST 6.2 logs each training loss component beside the loss: its mean over the steps since the last log,
    rounded to 4 decimals (the loss itself is rounded the same way by transformers)."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "tr"), per_device_train_batch_size=2, logging_steps=2, max_steps=4,
                disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=PartsLoss(model))
    trainer.train()
    entries = [e for e in trainer.state.log_history if "loss" in e and "train_runtime" not in e]
    assert [e["step"] for e in entries] == [2, 4]
    for entry in entries:
        for key in ("half", "other_half"):
            assert entry[key] == round(entry[key], 4) and entry[key] > 0
        assert entry["half"] + entry["other_half"] == pytest.approx(entry["loss"], abs=2e-4)


def test_get_train_dataloader_gives_the_collated_training_batches(tmp_path):
    model = tiny_model()
    args = Args(output_dir=str(tmp_path), per_device_train_batch_size=4, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(10), loss=CosineMSE(model))
    batches = list(trainer.get_train_dataloader())
    assert [b.num_rows for b in batches] == [4, 4, 2] and len(batches[0].features) == 2
    with pytest.raises(ValueError, match="requires a train_dataset"):
        SentenceTransformerTrainer(model, args, loss=CosineMSE(model)).get_train_dataloader()


def test_a_trained_models_card_reports_its_training_time(tmp_path):
    """ST 6.2's card has "### Training Time" after a trainer run (training, evaluation and total); embedkit's card
    never had it (the start time was never recorded)."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, eval_strategy="steps",
                eval_steps=1, save_strategy="no", disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), eval_dataset=sts_rows(4),
                               loss=CosineMSE(model)).train()
    model.save(str(tmp_path / "final"))
    card = (tmp_path / "final" / "README.md").read_text()
    section = card[card.index("### Training Time"):].split("\n\n")[0]
    assert "- **Training**:" in section and "- **Evaluation**:" in section and "- **Total**:" in section


def test_reduce_lr_on_plateau_steps_after_each_evaluation_with_the_best_model_metric(tmp_path):
    """lr_scheduler_type="reduce_lr_on_plateau" (transformers' scheduler): torch's ReduceLROnPlateau with
    lr_scheduler_kwargs, stepped after each evaluation with metric_for_best_model (default "loss" -> eval_loss), never
    after an optimizer step. The logged learning rates are what torch's scheduler gives for the logged eval losses.
    (By hand against ST 6.2 on the same tiny model and STS-B rows, eval every step, factor 0.5, patience 0: the same
    eight learning rates, 0.05 0.05 0.025 ... 0.00078125.)"""
    kwargs = {"factor": 0.5, "patience": 0}
    args = Args(output_dir=str(tmp_path / "pl"), per_device_train_batch_size=4, max_steps=6, learning_rate=0.05,
                eval_strategy="steps", eval_steps=1, logging_steps=1, disable_tqdm=True,
                lr_scheduler_type="reduce_lr_on_plateau", lr_scheduler_kwargs=kwargs)
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False
    model = tiny_model()
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(24), eval_dataset=sts_rows(8),
                                         loss=CosineMSE(model))
    trainer.train()
    history = trainer.state.log_history
    logged_lrs = [e["learning_rate"] for e in history if "learning_rate" in e]
    eval_losses = [e["eval_loss"] for e in history if "eval_loss" in e]
    assert len(logged_lrs) == len(eval_losses) == 6
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05), **kwargs)
    expected = []
    for eval_loss in eval_losses:  # step k trains with the rate set after evaluation k - 1
        expected.append(reference.optimizer.param_groups[0]["lr"])
        reference.step(eval_loss)
    assert logged_lrs == pytest.approx(expected, rel=1e-12)
    assert len(set(logged_lrs)) > 1  # the run did reduce the rate: the comparison above is not vacuous
    assert isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_reduce_lr_on_plateau_needs_an_eval_strategy():
    with pytest.raises(ValueError, match="reduce_lr_on_plateau requires an eval strategy"):
        Args(output_dir="unused", lr_scheduler_type="reduce_lr_on_plateau")


def test_dataloader_drop_last_is_forced_under_ddp_with_st_warning(monkeypatch, caplog):
    """ST sets dataloader_drop_last=True (with a warning) when training distributed: the uneven last batch is
    dropped there, so a run has ST's number of steps."""
    assert Args(output_dir="x").dataloader_drop_last is False
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun's environment
    with caplog.at_level(logging.WARNING):
        args = Args(output_dir="x")
    assert args.dataloader_drop_last is True and "Setting `dataloader_drop_last=True`" in caplog.text


def test_train_loss_and_speed_count_only_this_calls_steps_after_a_resume(tmp_path):
    """transformers 5.25: train_loss is the mean of the step losses run in this call, and the speed metrics count
    this call's share of the samples and steps (a resumed run used to divide by every step of the schedule)."""
    from tests.training.test_trainer import Crash, run

    common = dict(max_steps=6, save_strategy="steps", save_steps=2)
    _, full = run(tmp_path, "full", **common)
    losses = [e["loss"] for e in full.state.log_history if "loss" in e and "train_loss" not in e]
    summary = full.state.log_history[-1]
    assert summary["train_loss"] == pytest.approx(sum(losses) / 6, rel=1e-6)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "cut", callbacks=[Crash(3)], **common)
    _, resumed = run(tmp_path, "cut", resume=True, **common)
    summary = resumed.state.log_history[-1]
    assert summary["train_loss"] == pytest.approx(sum(losses[2:]) / 4, rel=1e-6)  # steps 3-6 ran in this call
    runtime = summary["train_runtime"]
    assert summary["train_steps_per_second"] == pytest.approx(4 / runtime, rel=0.05, abs=2e-3)
    assert summary["train_samples_per_second"] == pytest.approx(4 * 4 / runtime, rel=0.05, abs=2e-3)


def test_evaluating_with_evaluators_only_reports_the_runtime_keys_as_st(tmp_path):
    """ST runs evaluators inside transformers' (empty) evaluation loop, which still reports runtime keys."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "ev"), disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model),
                                         evaluator=Scores())
    metrics = trainer.evaluate()
    assert {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_dev_score"} <= set(metrics)
    assert metrics["eval_samples_per_second"] == metrics["eval_steps_per_second"] == 0.0


def test_logs_are_printed_as_transformers_prints_them(tmp_path, capsys):
    """transformers' printer / progress callbacks print every log dict (floats to 4 significant digits, without
    total_flos) on stdout; sentence-transformers users read their training curves there."""
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "pr"), per_device_train_batch_size=4, max_steps=2, logging_steps=1,
                disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model)).train()
    printed = [ast.literal_eval(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [sorted(p) for p in printed] == [["epoch", "grad_norm", "learning_rate", "loss"]] * 2 + [
        ["epoch", "train_loss", "train_runtime", "train_samples_per_second", "train_steps_per_second"]]
    assert all(isinstance(v, str) and float(v) == float(f"{float(v):.4g}") for p in printed for v in p.values())


def test_callbacks_get_transformers_keywords_with_the_running_optimizer_and_scheduler(tmp_path):
    """transformers' callback handler passes model, processing_class, optimizer, lr_scheduler, train_dataloader and
    eval_dataloader to every event (plus the event's own, e.g. logs); LR-logging callbacks read the scheduler."""
    seen = {}

    class Reader(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            seen["keys"] = set(kwargs)
            seen["lr"] = kwargs["lr_scheduler"].get_last_lr()[0]
            seen["optimizer_lr"] = kwargs["optimizer"].param_groups[0]["lr"]
            seen["tokenizer"] = kwargs["processing_class"]

    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "cb"), per_device_train_batch_size=4, max_steps=2, disable_tqdm=True,
                learning_rate=1e-3, warmup_steps=1)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model),
                                         callbacks=[Reader()])
    trainer.train()
    assert seen["keys"] == {"model", "processing_class", "optimizer", "lr_scheduler", "train_dataloader",
                            "eval_dataloader"}
    assert seen["lr"] == seen["optimizer_lr"] == pytest.approx(0.0)  # linear decay reached 0 after step 2
    assert seen["tokenizer"] is model.tokenizer and trainer.lr_scheduler is not None
