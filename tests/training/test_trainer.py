"""The training loop: accumulation vs large batch, bitwise resume, determinism, checkpoints, errors."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from embedkit import SentenceTransformer
from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


def run(tmp_path, name, model=None, callbacks=None, resume=None, **kwargs):
    model = model or tiny_model()
    defaults = dict(output_dir=str(tmp_path / name), per_device_train_batch_size=4, logging_steps=1,
                    save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, Args(**{**defaults, **kwargs}), train_dataset=sts_rows(),
                                         loss=CosineMSE(model), callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return model, trainer


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def step_losses(trainer):
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


def test_accumulation_equals_one_large_batch(tmp_path):
    # adam_epsilon=1 makes the update linear in the gradient, so equal gradients <=> equal weights (AdamW's first
    # steps are otherwise sign-like and amplify rounding noise in near-zero gradients).
    linear = dict(max_steps=2, adam_epsilon=1.0, learning_rate=0.5)
    small, _ = run(tmp_path, "acc", model=tiny_model(dropout=False), per_device_train_batch_size=4,
                   gradient_accumulation_steps=2, **linear)
    large, _ = run(tmp_path, "big", model=tiny_model(dropout=False), per_device_train_batch_size=8, **linear)
    before = tiny_model().state_dict()
    a, b = weights(small), weights(large)
    assert any(not torch.equal(a[k], before[k]) for k in a), "training must move the weights"
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-6, rtol=1e-5, msg=key)


def test_same_seed_is_identical_and_other_seed_differs(tmp_path):
    first, t1 = run(tmp_path, "a", max_steps=3)
    second, t2 = run(tmp_path, "b", max_steps=3)
    third, _ = run(tmp_path, "c", max_steps=3, seed=7)
    assert step_losses(t1) == step_losses(t2)
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert any(not torch.equal(v, third.state_dict()[k]) for k, v in first.state_dict().items())


class Crash(TrainerCallback):
    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt("simulated kill")


@pytest.mark.parametrize("accum", [1, 2])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, accum):
    # Dropout stays on: the RNG state must be restored exactly for the replayed steps to match.
    common = dict(max_steps=7, save_strategy="steps", save_steps=3, gradient_accumulation_steps=accum,
                  num_train_epochs=1)
    full, t_full = run(tmp_path, "full", **common)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "killed", callbacks=[Crash(5)], **common)
    assert sorted(p.name for p in (tmp_path / "killed").glob("checkpoint-*")) == ["checkpoint-3"]
    resumed, t_res = run(tmp_path, "killed", resume=True, **common)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())
    full_losses, res_losses = step_losses(t_full), step_losses(t_res)
    assert {s: full_losses[s] for s in range(4, 8)} == {s: res_losses[s] for s in range(4, 8)}


def test_checkpoint_is_a_loadable_model_folder(tmp_path):
    model, _ = run(tmp_path, "ck", max_steps=2, save_strategy="steps", save_steps=2)
    folder = tmp_path / "ck" / "checkpoint-2"
    reloaded = SentenceTransformer(str(folder), device="cpu")
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and not list((tmp_path / "ck").glob(".checkpoint*"))
    # transformers' TrainerState keys only (what tools read, and what sentence-transformers' TrainerState takes to
    # resume), embedkit's resume state in its own file
    assert set(state) == {"best_global_step", "best_metric", "best_model_checkpoint", "epoch", "eval_steps",
                          "global_step", "is_hyper_param_search", "is_local_process_zero", "is_world_process_zero",
                          "log_history", "logging_steps", "max_steps", "num_input_tokens_seen", "num_train_epochs",
                          "save_steps", "stateful_callbacks", "total_flos", "train_batch_size", "trial_name",
                          "trial_params"}
    ours = json.loads((folder / "embedkit_state.json").read_text())
    assert ours["state"]["global_step"] == 2 and state["log_history"][-1]["step"] == 2


class Scores:
    """An evaluator whose metric is best at step 2, then worse."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        self.calls += 1
        return {"dev_score": {2: 0.9}.get(steps, 0.1 * self.calls / 10)}


def test_rotation_keeps_best_and_load_best_model_at_end(tmp_path):
    model = tiny_model()
    args = Args(output_dir=str(tmp_path / "rot"), max_steps=6, per_device_train_batch_size=4, save_steps=2,
                eval_strategy="steps", eval_steps=2, save_total_limit=1, load_best_model_at_end=True,
                metric_for_best_model="dev_score", disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model),
                                         evaluator=Scores())
    trainer.train()
    kept = sorted(p.name for p in (tmp_path / "rot").glob("checkpoint-*"))
    assert kept == ["checkpoint-2", "checkpoint-6"]
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2") and trainer.state.best_metric == 0.9
    best = SentenceTransformer(str(tmp_path / "rot" / "checkpoint-2"), device="cpu")
    assert all(torch.equal(v, best.state_dict()[k]) for k, v in model.state_dict().items())
    assert any(k == "eval_dev_score" for h in trainer.state.log_history for k in h)


def test_non_finite_loss_raises_naming_the_step_and_weights_stay_finite(tmp_path):
    class NaNAfterTwo(CosineMSE):
        calls = 0

        def forward(self, features, labels):
            NaNAfterTwo.calls += 1
            loss = super().forward(features, labels)
            return loss * float("nan") if NaNAfterTwo.calls == 3 else loss

    model = tiny_model()
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path / "nan"), max_steps=5,
                                                     per_device_train_batch_size=4, save_strategy="no",
                                                     disable_tqdm=True), train_dataset=sts_rows(),
                                         loss=NaNAfterTwo(model))
    with pytest.raises(FloatingPointError, match="step 3"):
        trainer.train()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_skip_nonfinite_loss_continues(tmp_path):
    class AlwaysNaN(CosineMSE):
        def forward(self, features, labels):
            return super().forward(features, labels) * float("nan")

    model = tiny_model()
    before = weights(model)
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path / "skip"), max_steps=2,
                                                     save_strategy="no", disable_tqdm=True, skip_nonfinite_loss=True),
                                         train_dataset=sts_rows(), loss=AlwaysNaN(model))
    assert trainer.train().global_step == 2
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("form", ["dict", "rows", "dataset", "duck"])
def test_every_dataset_form_trains_identically(tmp_path, form):
    from embedkit.data import Dataset

    data = sts_rows()
    rows = [dict(zip(data, values)) for values in zip(*data.values())]

    class Duck:  # what a datasets.Dataset looks like to the trainer
        column_names = list(data)

        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    given = {"dict": data, "rows": rows, "dataset": Dataset.from_dict(data), "duck": Duck()}[form]
    model = tiny_model()
    SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path / form), max_steps=2, save_strategy="no",
                                           disable_tqdm=True, per_device_train_batch_size=4),
                               train_dataset=given, loss=CosineMSE(model)).train()
    reference = tiny_model()
    SentenceTransformerTrainer(reference, Args(output_dir=str(tmp_path / "ref"), max_steps=2, save_strategy="no",
                                               disable_tqdm=True, per_device_train_batch_size=4),
                               train_dataset=data, loss=CosineMSE(reference)).train()
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())


def test_multi_dataset_with_a_loss_per_dataset(tmp_path):
    model = tiny_model()
    calls = {"a": 0, "b": 0}

    class Counting(CosineMSE):
        def __init__(self, model, name):
            super().__init__(model)
            self.name = name

        def forward(self, features, labels):
            calls[self.name] += 1
            return super().forward(features, labels)

    trainer = SentenceTransformerTrainer(
        model, Args(output_dir=str(tmp_path / "multi"), num_train_epochs=1, save_strategy="no", disable_tqdm=True,
                    per_device_train_batch_size=4, multi_dataset_batch_sampler="round_robin"),
        train_dataset={"a": sts_rows(8), "b": sts_rows(16)},
        loss={"a": Counting(model, "a"), "b": Counting(model, "b")})
    assert trainer.train().global_step == 4  # round robin: min(2, 4) batches per dataset, alternating
    assert calls == {"a": 2, "b": 2}


def test_bad_arguments_and_data_fail_before_training(tmp_path):
    model = tiny_model()
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rte'"):
        Args(output_dir="x", learning_rte=1e-5)
    with pytest.raises(ValueError, match="fp16 and bf16"):
        Args(output_dir="x", fp16=True, bf16=True)
    with pytest.raises(ValueError, match="load_best_model_at_end needs eval_strategy"):
        Args(output_dir="x", load_best_model_at_end=True)
    with pytest.raises(ValueError, match="didn.t provide an `eval_dataset` or an `evaluator`"):
        SentenceTransformerTrainer(model, Args(output_dir="x", eval_strategy="steps", eval_steps=5),
                                   train_dataset=sts_rows(), loss=CosineMSE(model))
    with pytest.raises(ValueError, match="is empty"):
        SentenceTransformerTrainer(model, Args(output_dir="x"), train_dataset={"a": [], "b": []},
                                   loss=CosineMSE(model))
    with pytest.raises(ValueError, match="must be a `DatasetDict`"):
        SentenceTransformerTrainer(model, Args(output_dir="x"), train_dataset=sts_rows(), loss={"x": CosineMSE(model)})


def test_wrong_label_type_names_the_column_and_row(tmp_path):
    model = tiny_model()
    data = sts_rows(8)
    data["score"][3] = "high"
    trainer = SentenceTransformerTrainer(model, Args(output_dir=str(tmp_path / "lab"), max_steps=1,
                                                     save_strategy="no", disable_tqdm=True,
                                                     per_device_train_batch_size=8),
                                         train_dataset=data, loss=CosineMSE(model))
    with pytest.raises(TypeError, match=r"label column 'score': row \d+ holds 'high'"):
        trainer.train()


def test_legacy_fit_with_input_examples_and_model_card(tmp_path):
    from embedkit import InputExample

    model = tiny_model()
    before = weights(model)
    data = sts_rows(8)
    examples = [InputExample(texts=[a, b], label=s) for a, b, s in zip(data["sentence1"], data["sentence2"],
                                                                     data["score"])]
    model.fit([(examples, CosineMSE(model))], epochs=2, warmup_steps=0, optimizer_params={"lr": 1e-3},
              output_path=str(tmp_path / "fitted"), show_progress_bar=False)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    card = (tmp_path / "fitted" / "README.md").read_text()
    assert "## Training" in card and "CosineMSE" in card and "sentence_0" in card
    reloaded = SentenceTransformer(str(tmp_path / "fitted"), device="cpu")
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_legacy_fit_evaluates_every_epoch_into_output_path_and_takes_any_optimizer(tmp_path):
    """As sentence-transformers' fit: the evaluator runs at every epoch's end with its CSV under output_path/eval
    (and every evaluation_steps), callback(score, epoch, steps) follows each, the best model is saved to
    output_path, and optimizer_class / optimizer_params build the optimizer."""
    from embedkit import InputExample
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    model = tiny_model()
    data = sts_rows(16)
    examples = [InputExample(texts=[a, b], label=s) for a, b, s in zip(data["sentence1"], data["sentence2"],
                                                                     data["score"])]
    evaluator = EmbeddingSimilarityEvaluator(data["sentence1"][:8], data["sentence2"][:8], data["score"][:8],
                                             name="dev")
    seen = []
    optimizers = []
    original = torch.optim.SGD

    class RecordingSGD(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimizers.append(self)

    model.fit([(examples, CosineMSE(model))], evaluator=evaluator, epochs=2, evaluation_steps=3, warmup_steps=0,
              optimizer_class=RecordingSGD, optimizer_params={"lr": 0.05, "momentum": 0.9},
              output_path=str(tmp_path / "fitted"), show_progress_bar=False,
              callback=lambda score, epoch, steps: seen.append((round(epoch, 2), steps)))
    # 16 examples, batch 16 by default: one step an epoch; evaluation_steps=3 never comes, epoch ends do, and the
    # last step is evaluated too (transformers 5): sentence-transformers 6.2 calls back the same three times
    assert seen == [(1.0, 1), (2.0, 2), (2.0, 2)]
    rows = (tmp_path / "fitted" / "eval" / "similarity_evaluation_dev_results.csv").read_text().splitlines()
    assert len(rows) == 4  # the header and one row per evaluation (ST writes the step one under checkpoints/model)
    assert len(optimizers) == 1 and optimizers[0].defaults["momentum"] == 0.9
    assert (tmp_path / "fitted" / "model.safetensors").is_file()  # the best model


def test_resuming_from_a_save_only_model_checkpoint_says_what_is_missing(tmp_path):
    run(tmp_path, "only", max_steps=2, save_strategy="steps", save_steps=2, save_only_model=True)
    folder = tmp_path / "only" / "checkpoint-2"
    assert (folder / "trainer_state.json").is_file() and not (folder / "optimizer.pt").exists()
    with pytest.raises(FileNotFoundError, match=r"checkpoint-2 holds the model weights but not the training state "
                                                r"\(optimizer.pt, scheduler.pt missing\).*save_only_model"):
        run(tmp_path, "only", max_steps=4, save_strategy="no", resume=str(folder))
    SentenceTransformer(str(folder), device="cpu")  # the weights themselves load


def test_resuming_with_another_batch_layout_is_refused(tmp_path):
    common = dict(max_steps=4, save_strategy="steps", save_steps=2)
    run(tmp_path, "layout", **common)
    checkpoint = tmp_path / "layout" / "checkpoint-2"
    for change in ({"per_device_train_batch_size": 8}, {"gradient_accumulation_steps": 2}):
        with pytest.raises(ValueError, match=f"another batch layout.*{next(iter(change))}.*skip or repeat rows"):
            run(tmp_path, "layout", resume=str(checkpoint), **{**common, **change})
    run(tmp_path, "layout", resume=str(checkpoint), **common)  # the same layout resumes


def test_resuming_beyond_max_steps_is_refused(tmp_path):
    run(tmp_path, "ahead", max_steps=4, save_strategy="steps", save_steps=4)
    with pytest.raises(ValueError, match="at step 4, beyond this run's max_steps 2"):
        run(tmp_path, "ahead", max_steps=2, resume=str(tmp_path / "ahead" / "checkpoint-4"))


# Each way a checkpoint file can be damaged on disk: file -> bytes written over it.
DAMAGE = {
    "optimizer.pt/empty": ("optimizer.pt", b""),
    "optimizer.pt/garbage": ("optimizer.pt", b"not a torch file at all"),
    "scheduler.pt/truncated": ("scheduler.pt", None),  # None: the first half of the real file
    "rng_state.safetensors/truncated": ("rng_state.safetensors", None),
    "rng_state.json/garbage": ("rng_state.json", b"{"),
    "trainer_state.json/garbage": ("trainer_state.json", b"{"),
    "embedkit_state.json/no_state": ("embedkit_state.json", b"{}"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_checkpoint_is_named_and_true_falls_back_to_the_previous_one(tmp_path, case, caplog):
    file, data = DAMAGE[case]
    common = dict(max_steps=4, save_strategy="steps", save_steps=2)
    run(tmp_path, "damaged", **common)
    latest = tmp_path / "damaged" / "checkpoint-4"
    target = latest / file
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2] if data is None else data)
    with pytest.raises(ValueError, match=f"{file} is damaged"):
        run(tmp_path, "damaged", resume=str(latest), **{**common, "max_steps": 6})
    with caplog.at_level(logging.INFO):
        run(tmp_path, "damaged", resume=True, **{**common, "max_steps": 6})
    assert f"skipping {latest}: checkpoint file {target} is damaged" in caplog.text
    assert f"resumed from {tmp_path / 'damaged' / 'checkpoint-2'} at step 2" in caplog.text


@pytest.mark.parametrize("layout", ["embedkit-at-top", "under-embedkit-key", "transformers"])
def test_checkpoints_of_other_layouts_resume_exactly(tmp_path, layout):
    """Checkpoints of embedkit's former layouts (its state as trainer_state.json; then under its "embedkit" key) and
    of transformers' Trainer (sentence-transformers: trainer_state.json with transformers' keys, RNG states pickled
    in rng_state.pth, no embedkit_state.json) resume to the uninterrupted run's weights."""
    common = dict(max_steps=4, save_strategy="steps", save_steps=2)
    full, _ = run(tmp_path, "full", **common)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "old", callbacks=[Crash(3)], **common)
    checkpoint = tmp_path / "old" / "checkpoint-2"
    ours = json.loads((checkpoint / "embedkit_state.json").read_text())
    (checkpoint / "embedkit_state.json").unlink()
    hf_state = json.loads((checkpoint / "trainer_state.json").read_text())
    if layout == "embedkit-at-top":
        (checkpoint / "trainer_state.json").write_text(json.dumps(ours))
    elif layout == "under-embedkit-key":
        (checkpoint / "trainer_state.json").write_text(json.dumps({**hf_state, "embedkit": ours}))
    else:  # the files transformers' Trainer writes: its RNG states as one pickled dict
        from embedkit.checkpoint import set_rng_state

        tensors = load_file(str(checkpoint / "rng_state.safetensors"))
        meta = json.loads((checkpoint / "rng_state.json").read_text())
        set_rng_state(tensors, meta)
        torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()},
                   checkpoint / "rng_state.pth")
        (checkpoint / "rng_state.safetensors").unlink()
        (checkpoint / "rng_state.json").unlink()
        random.seed(123), np.random.seed(123), torch.manual_seed(123)  # the resume must restore them, not find them
    resumed, _ = run(tmp_path, "old", resume=True, **common)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())
