"""Data/loss mismatches are refused before the first optimizer step, naming the dataset (and the row for a bad
value); a NaN score is refused by the score losses themselves too."""

from __future__ import annotations

import re

import pytest
import torch

from embedkit.base.losses.input_columns import LossInputs, check_columns_for_loss, loss_inputs
from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from embedkit.sentence_transformer.losses import (
    AnglELoss,
    BatchHardTripletLoss,
    CoSENTLoss,
    CosineSimilarityLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    TripletLoss,
)
from tests.training.helpers import tiny_model

TEXTS = [f"text number {i}" for i in range(8)]


def train(data, make_loss, **kwargs):
    """(trainer, model weights before, error or None); the error is raised by train()."""
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = dict(output_dir="/tmp/ek-data-checks", max_steps=4, per_device_train_batch_size=2, save_strategy="no",
                disable_tqdm=True, learning_rate=1e-2)
    trainer = SentenceTransformerTrainer(model, Args(**{**args, **kwargs}), train_dataset=data,
                                         loss=make_loss(model))
    try:
        trainer.train()
        error = None
    except ValueError as exc:
        error = exc
    return trainer, before, error


def unchanged(trainer, before):
    return all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in before.items())


SCORES = [0.1 * i for i in range(8)]
MISMATCHES = {
    # CosineSimilarityLoss would embed a third column and silently ignore it (as sentence-transformers does)
    "pair loss, three text columns": ({"a": TEXTS, "b": TEXTS, "c": TEXTS, "score": SCORES}, CosineSimilarityLoss,
                                      r"dataset 'train': CosineSimilarityLoss reads 2 input columns and a label "
                                      r"column, but the dataset has 3 input columns \(\['a', 'b', 'c'\]\).*would "
                                      r"ignore \['c'\].*select_columns\(\['a', 'b', 'score'\]\)"),
    "pair loss, no label column": ({"a": TEXTS, "b": TEXTS}, CoSENTLoss,
                                   r"CoSENTLoss reads 2 input columns and a label column, but the dataset has 2 "
                                   r"input columns \(\['a', 'b'\]\) and no label column \(one of \['label'"),
    "pair loss, one text column": ({"a": TEXTS, "score": SCORES}, CosineSimilarityLoss,
                                   r"has 1 input column \(\['a'\]\) and the label column 'score'"),
    "ranking loss, one text column": ({"a": TEXTS}, MultipleNegativesRankingLoss,
                                      r"MultipleNegativesRankingLoss reads at least 2 input columns, but the dataset "
                                      r"has 1 input column \(\['a'\]\)$"),
    "triplet loss, two columns": ({"a": TEXTS, "b": TEXTS}, TripletLoss, r"TripletLoss reads 3 input columns"),
    "wrapped loss": ({"a": TEXTS, "b": TEXTS, "c": TEXTS, "score": SCORES},
                     lambda m: MatryoshkaLoss(m, CoSENTLoss(m), [16, 8]), r"MatryoshkaLoss reads 2 input columns"),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_a_column_mismatch_is_refused_before_any_step(case):
    data, make_loss, message = MISMATCHES[case]
    trainer, before, error = train(data, make_loss)
    assert error is not None and trainer.state.global_step == 0
    assert re.search(message, str(error)), str(error)
    assert unchanged(trainer, before)


def test_the_column_check_names_the_dataset_of_a_dataset_dict():
    data = {"sts": {"a": TEXTS, "b": TEXTS, "score": SCORES}, "nli": {"a": TEXTS, "b": TEXTS, "c": TEXTS}}
    model = tiny_model()
    trainer = SentenceTransformerTrainer(model, Args(output_dir="/tmp/ek-data-checks", max_steps=1,
                                                     save_strategy="no", disable_tqdm=True), train_dataset=data,
                                         loss={"sts": CoSENTLoss(model), "nli": CosineSimilarityLoss(model)})
    with pytest.raises(ValueError, match=r"^dataset 'nli': CosineSimilarityLoss reads 2 input columns and a label"):
        trainer.train()


LEGITIMATE = {
    "pairs and a score": ({"a": TEXTS, "b": TEXTS, "score": SCORES}, CoSENTLoss),
    "ranking loss with hard negatives": ({"a": TEXTS, "b": TEXTS, "c": TEXTS, "d": TEXTS},
                                         MultipleNegativesRankingLoss),
    "ranking loss with an unused label (ignored, as in sentence-transformers)":
        ({"a": TEXTS, "b": TEXTS, "label": [1] * 8}, MultipleNegativesRankingLoss),
    "AnglE with negatives and no label": ({"a": TEXTS, "b": TEXTS, "c": TEXTS}, AnglELoss),
    "batch triplet loss: one column and a class label": ({"a": TEXTS, "label": [0, 1] * 4}, BatchHardTripletLoss),
}


@pytest.mark.parametrize("case", list(LEGITIMATE))
def test_legitimate_datasets_still_train(case):
    data, make_loss = LEGITIMATE[case]
    trainer, before, error = train(data, make_loss, max_steps=1)
    assert error is None and trainer.state.global_step == 1 and not unchanged(trainer, before)


def test_an_unknown_or_opted_out_loss_is_not_checked():
    class Custom(torch.nn.Module):
        loss_inputs = None

    class Declared(torch.nn.Module):
        loss_inputs = LossInputs(1, 1, False)

    assert loss_inputs(torch.nn.Module()) is None and loss_inputs(Custom()) is None
    check_columns_for_loss(Custom(), ["a", "b", "c"], ["label"], "train")
    with pytest.raises(ValueError, match="Declared reads 1 input column, but the dataset has 2"):
        check_columns_for_loss(Declared(), ["a", "b"], ["label"], "train")


def bad_rows(row: int, column: str, value):
    data = {"a": list(TEXTS), "b": list(TEXTS), "score": list(SCORES)}
    data[column][row] = value
    return data


@pytest.mark.parametrize("column,value,what", [("b", None, r"column 'b' is None"),
                                               ("score", None, r"column 'score' is None"),
                                               ("score", float("nan"), r"label column 'score' holds NaN")])
def test_a_bad_value_in_the_first_batch_is_named_before_any_step(column, value, what):
    # per_device_train_batch_size=8: the bad row is in the first (and only) batch, whatever the shuffle
    trainer, before, error = train(bad_rows(5, column, value), CosineSimilarityLoss, per_device_train_batch_size=8)
    assert error is not None and str(error).startswith("dataset 'train' row 5: ")
    assert re.search(what, str(error)), str(error)
    assert trainer.state.global_step == 0 and unchanged(trainer, before)


def test_a_bad_value_deep_in_the_dataset_stops_before_its_batch_trains():
    # 4 batches of 2 rows; the None row's batch comes after some clean ones: those trained, its batch did not
    trainer, _, error = train(bad_rows(7, "a", None), CoSENTLoss, max_steps=4, per_device_train_batch_size=2)
    assert error is not None and str(error).startswith("dataset 'train' row 7: column 'a' is None")
    batches = list(trainer._train_sampler(0, 1))
    position = next(i for i, batch in enumerate(batches) if 7 in batch)
    assert position > 0 and trainer.state.global_step == position  # every batch before it trained, none after


@pytest.mark.parametrize("make_loss", [CoSENTLoss, AnglELoss, CosineSimilarityLoss])
def test_score_losses_refuse_a_nan_score_naming_the_batch_row(make_loss):
    loss = make_loss(None)
    u, v = torch.randn(4, 8), torch.randn(4, 8)
    with pytest.raises(ValueError, match=rf"{make_loss.__name__}: the label of batch row\(s\) \[2\] is NaN"):
        loss.compute_loss_from_embeddings([u, v], torch.tensor([0.1, 0.5, float("nan"), 0.9]))
    assert torch.isfinite(loss.compute_loss_from_embeddings([u, v], torch.tensor([0.1, 0.5, 0.3, 0.9])))
