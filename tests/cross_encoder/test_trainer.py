"""CrossEncoderTrainer end to end: raw-text batches, default losses, listwise and cached losses, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit import CrossEncoderTrainer, CrossEncoderTrainingArguments
from embedkit.cross_encoder import CrossEncoder, losses

FIX = Path(__file__).parent.parent / "fixtures"

PAIRS = {
    "query": ["What are pandas?", "What are pandas?", "Capital of France?", "Capital of France?",
              "Who wrote Hamlet?", "Who wrote Hamlet?"],
    "answer": ["Pandas are bears from China.", "Pandas are a kind of fish.", "Paris is the capital of France.",
               "Berlin is in Germany.", "Shakespeare wrote Hamlet.", "Hamlet is a small village."],
    "label": [1, 0, 1, 0, 1, 0],
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def ce(name: str = "ce_bert1") -> CrossEncoder:
    return CrossEncoder(FIX / name, device="cpu")


def args(tmp_path, **kw) -> CrossEncoderTrainingArguments:
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=6, learning_rate=2e-3, max_steps=10,
                logging_steps=1, save_strategy="no", disable_tqdm=True, warmup_ratio=0.0, seed=1)
    return CrossEncoderTrainingArguments(**{**base, **kw})


def test_bce_training_lowers_the_loss_and_saves_a_loadable_checkpoint(tmp_path):
    # Given a one-label CrossEncoder, labelled pairs and BinaryCrossEntropyLoss
    model = ce()
    loss = losses.BinaryCrossEntropyLoss(model)
    eval_loss = losses.BinaryCrossEntropyLoss(model)
    pairs = list(zip(PAIRS["query"], PAIRS["answer"]))
    labels = torch.tensor(PAIRS["label"])

    def current_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(eval_loss([PAIRS["query"], PAIRS["answer"]], labels))

    before = current_loss()
    trainer = CrossEncoderTrainer(model, args(tmp_path, save_strategy="steps", save_steps=10), train_dataset=PAIRS,
                                  loss=loss)
    # When it trains for 10 steps
    output = trainer.train()
    # Then the loss went down (the random tiny checkpoint gives every pair nearly the same logit, so in 10 steps it
    # mostly learns the bias: from ~0.70 towards log(2)), and a checkpoint was written at step 10
    assert output.global_step == 10
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 10 and logged[-1] < logged[0]
    after = current_loss()
    assert after < before - 0.005, (before, after)
    # And the checkpoint loads as a CrossEncoder that scores exactly like the trained model
    reloaded = CrossEncoder(tmp_path / "checkpoint-10", device="cpu")
    np.testing.assert_allclose(reloaded.predict(pairs), model.predict(pairs), rtol=1e-5, atol=1e-6)
    assert isinstance(reloaded.activation_fn, torch.nn.Sigmoid)


def test_default_loss_follows_the_number_of_labels(tmp_path):
    one = CrossEncoderTrainer(ce("ce_bert1"), args(tmp_path), train_dataset=PAIRS)
    three = CrossEncoderTrainer(ce("ce_bert3"), args(tmp_path), train_dataset={**PAIRS, "label": [0, 1, 2, 0, 1, 2]})
    assert isinstance(next(iter(one.losses.values())), losses.BinaryCrossEntropyLoss)
    assert isinstance(next(iter(three.losses.values())), losses.CrossEntropyLoss)
    assert three.train().global_step == 10


def test_listwise_training_with_ragged_lists(tmp_path):
    # Given (query, [docs...]) rows whose lists and label lists have different lengths
    data = {"query": ["What are pandas?", "Capital of France?", "Who wrote Hamlet?"],
            "docs": [["Pandas are bears.", "Pandas are fish.", "A panda eats bamboo."],
                     ["Paris.", "Berlin."],
                     ["Shakespeare.", "A village.", "Denmark.", "A play."]],
            "labels": [[2, 0, 1], [1, 0], [3, 0, 1, 2]]}
    model = ce()
    trainer = CrossEncoderTrainer(model, args(tmp_path, per_device_train_batch_size=3, max_steps=3),
                                  train_dataset=data, loss=losses.LambdaLoss(model, mini_batch_size=4))
    # When it trains, Then every step has a finite loss
    trainer.train()
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and all(np.isfinite(logged))


def test_cached_mnrl_trains_and_its_eval_loss_needs_no_backward(tmp_path):
    data = {"anchor": PAIRS["query"][::2], "positive": PAIRS["answer"][::2]}
    model = ce()
    loss = losses.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=2)
    trainer = CrossEncoderTrainer(model, args(tmp_path, per_device_train_batch_size=3, max_steps=2),
                                  train_dataset=data, eval_dataset=data, loss=loss)
    trainer.train()
    metrics = trainer.evaluate()
    assert np.isfinite(metrics["eval_loss"])
