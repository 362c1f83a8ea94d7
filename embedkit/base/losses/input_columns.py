"""What a loss reads from a dataset: how many input columns, and whether it needs a label column.

As in sentence-transformers, the first column named ``label``, ``labels``, ``score`` or ``scores`` is the label and
every other column is an input, in order. The trainer checks each dataset's columns against its loss before the
first optimizer step, so a mismatch is named at once instead of failing (or, for a pair loss given three columns,
silently training on two of them) after some steps were applied. A loss that is not in the table is not checked;
a custom loss may declare a class attribute ``loss_inputs = LossInputs(...)`` (or ``None`` to opt out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor, nn


@dataclass(frozen=True)
class LossInputs:
    """The dataset shape a loss reads: ``min_columns..max_columns`` inputs (``None``: no upper bound, e.g. any
    number of hard negatives) and a label column when ``needs_label``.

    Example:
        >>> LossInputs(2, 2, True).describe()
        '2 input columns and a label column'
    """

    min_columns: int
    max_columns: int | None
    needs_label: bool

    def describe(self) -> str:
        if self.max_columns == self.min_columns:
            count = f"{self.min_columns} input column{'s' if self.min_columns != 1 else ''}"
        elif self.max_columns is None:
            count = f"at least {self.min_columns} input columns"
        else:
            count = f"{self.min_columns} to {self.max_columns} input columns"
        return count + (" and a label column" if self.needs_label else "")


PAIR_AND_LABEL = LossInputs(2, 2, True)
ONE_AND_LABEL = LossInputs(1, 1, True)
ANCHOR_POSITIVE_NEGATIVES = LossInputs(2, None, False)

# Loss class (module.qualname) -> what it reads; a subclass inherits its parent's entry.
LOSS_INPUTS: dict[str, LossInputs] = {
    # SentenceTransformer losses
    "embedkit.sentence_transformer.losses.cosine_similarity.CosineSimilarityLoss": PAIR_AND_LABEL,
    "embedkit.sentence_transformer.losses.cosent.CoSENTLoss": PAIR_AND_LABEL,
    # pairs with a score, or (anchor, positive, negatives...) without one (the loss refuses unlabelled pairs)
    "embedkit.sentence_transformer.losses.angle.AnglELoss": ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.sentence_transformer.losses.contrastive.ContrastiveLoss": PAIR_AND_LABEL,
    "embedkit.sentence_transformer.losses.online_contrastive.OnlineContrastiveLoss": PAIR_AND_LABEL,
    "embedkit.sentence_transformer.losses.softmax.SoftmaxLoss": PAIR_AND_LABEL,
    "embedkit.sentence_transformer.losses.batch_triplet_base.BatchTripletLossBase": ONE_AND_LABEL,
    "embedkit.sentence_transformer.losses.triplet.TripletLoss": LossInputs(3, 3, False),
    "embedkit.sentence_transformer.losses.multiple_negatives_ranking.MultipleNegativesRankingLoss":
        ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.sentence_transformer.losses.cached_multiple_negatives_ranking.CachedMultipleNegativesRankingLoss":
        ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.sentence_transformer.losses.gist_embed.GISTEmbedLoss": LossInputs(2, 3, False),
    "embedkit.sentence_transformer.losses.cached_gist_embed.CachedGISTEmbedLoss": ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.sentence_transformer.losses.mega_batch_margin.MegaBatchMarginLoss": LossInputs(2, 2, False),
    "embedkit.sentence_transformer.losses.margin_mse.MarginMSELoss": LossInputs(3, None, True),
    "embedkit.sentence_transformer.losses.distill_kl_div.DistillKLDivLoss": LossInputs(3, None, True),
    "embedkit.sentence_transformer.losses.mse.MSELoss": LossInputs(1, None, True),
    "embedkit.sentence_transformer.losses.denoising_auto_encoder.DenoisingAutoEncoderLoss": LossInputs(2, 2, False),
    # CrossEncoder losses
    "embedkit.cross_encoder.losses.pointwise.BinaryCrossEntropyLoss": PAIR_AND_LABEL,
    "embedkit.cross_encoder.losses.pointwise.CrossEntropyLoss": PAIR_AND_LABEL,
    "embedkit.cross_encoder.losses.pointwise.MSELoss": PAIR_AND_LABEL,
    "embedkit.cross_encoder.losses.margin_mse.MarginMSELoss": LossInputs(3, None, True),
    "embedkit.cross_encoder.losses.multiple_negatives_ranking.MultipleNegativesRankingLoss":
        ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.cross_encoder.losses.cached_multiple_negatives_ranking.CachedMultipleNegativesRankingLoss":
        ANCHOR_POSITIVE_NEGATIVES,
    "embedkit.cross_encoder.losses.lambda_loss.LambdaLoss": PAIR_AND_LABEL,  # and RankNetLoss
    "embedkit.cross_encoder.losses.list_net.ListNetLoss": PAIR_AND_LABEL,
    "embedkit.cross_encoder.losses.plist_mle.PListMLELoss": PAIR_AND_LABEL,  # and ListMLELoss
}

# Wrappers (Matryoshka, AdaptiveLayer, Splade, CSR, the sparse versions of dense losses) read what the loss they
# wrap reads; these are the attributes that hold it.
_WRAPPED_LOSS_ATTRIBUTES = ("loss", "inner", "adaptive")


def declared_loss_inputs(loss: Any) -> LossInputs | None:
    """What ``loss``'s own class (or a base class) declares it reads, ignoring any loss it wraps; None if nothing."""
    for cls in type(loss).__mro__:
        if "loss_inputs" in vars(cls):
            return vars(cls)["loss_inputs"]
        found = LOSS_INPUTS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    return None


def wrapped_loss(loss: Any) -> nn.Module | None:
    """The loss that a wrapper loss (Matryoshka, AdaptiveLayer, Splade, ...) delegates to, or None."""
    for attribute in _WRAPPED_LOSS_ATTRIBUTES:
        inner = getattr(loss, attribute, None)
        if isinstance(inner, nn.Module) and inner is not loss:
            return inner
    return None


def loss_inputs(loss: Any) -> LossInputs | None:
    """What ``loss`` reads from a dataset, or None when unknown (then nothing is checked).

    Example:
        >>> from embedkit.sentence_transformer.losses import AnglELoss
        >>> loss_inputs(AnglELoss(None))
        LossInputs(min_columns=2, max_columns=None, needs_label=False)
    """
    declared = declared_loss_inputs(loss)
    if declared is not None:
        return declared
    inner = wrapped_loss(loss)
    return loss_inputs(inner) if inner is not None else None


def check_columns_for_loss(loss: Any, columns: Sequence[str], label_columns: Sequence[str],
                           dataset_name: str) -> None:
    """Raise a ValueError naming the dataset when its columns do not fit what ``loss`` reads.

    ``columns`` are the dataset's columns in order; the first one among ``label_columns`` is the label, the others
    are inputs. A label column the loss does not need is accepted (as in sentence-transformers, it is ignored).

    Example:
        >>> from embedkit.sentence_transformer.losses import CosineSimilarityLoss
        >>> check_columns_for_loss(CosineSimilarityLoss(None), ["a", "b", "score"], ["label", "score"], "train")
        >>> check_columns_for_loss(CosineSimilarityLoss(None), ["a", "score"], ["label", "score"], "train")
        Traceback (most recent call last):
        ...
        ValueError: dataset 'train': CosineSimilarityLoss reads 2 input columns and a label column, but the dataset has 1 input column (['a']) and the label column 'score'
    """  # noqa: E501
    spec = loss_inputs(loss)
    if spec is None:
        return
    label = next((c for c in label_columns if c in columns), None)
    inputs = [c for c in columns if c != label]
    name = type(loss).__name__
    has = f"{len(inputs)} input column{'s' if len(inputs) != 1 else ''} ({inputs})"
    if label or spec.needs_label:
        has += f" and the label column {label!r}" if label else f" and no label column (one of {list(label_columns)})"
    problem = f"dataset {dataset_name!r}: {name} reads {spec.describe()}, but the dataset has {has}"
    if len(inputs) < spec.min_columns or (spec.needs_label and label is None):
        raise ValueError(problem)
    if spec.max_columns is not None and len(inputs) > spec.max_columns:
        keep = inputs[: spec.max_columns] + ([label] if label else [])
        raise ValueError(f"{problem}; {name} would ignore {inputs[spec.max_columns:]}. Remove the extra columns "
                         f"(e.g. dataset.select_columns({keep})) or use a loss that reads them")


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    if isinstance(value, (Tensor, np.ndarray, np.floating)):
        array = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
        return array.dtype.kind in "fc" and bool(np.isnan(array).any())
    return False


def check_row_values(rows: Sequence[dict[str, Any]], row_numbers: Sequence[int], label_columns: Sequence[str],
                     dataset_name: str) -> None:
    """Raise a ValueError naming the dataset row and column of a ``None`` input or label, or of a NaN label.

    Called by the trainer on every batch before its forward pass, so a bad value deep in a dataset stops training
    before that batch trains on garbage (earlier batches trained normally). ``row_numbers`` are the rows' indices in
    their dataset.

    Example:
        >>> check_row_values([{"a": "x", "score": 0.5}, {"a": None, "score": 0.1}], [7, 8], ["score"], "train")
        Traceback (most recent call last):
        ...
        ValueError: dataset 'train' row 8: column 'a' is None; drop or fill such rows before training
    """
    for row, number in zip(rows, row_numbers):
        for column, value in row.items():
            if column == "dataset_name":
                continue
            if value is None:
                raise ValueError(f"dataset {dataset_name!r} row {number}: column {column!r} is None; drop or fill "
                                 "such rows before training")
            if column in label_columns and _has_nan(value):
                raise ValueError(f"dataset {dataset_name!r} row {number}: label column {column!r} holds NaN "
                                 f"({value!r}); a NaN label makes the loss meaningless: drop or fix such rows")
