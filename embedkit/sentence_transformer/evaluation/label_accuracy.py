"""LabelAccuracyEvaluator: classification accuracy of a SoftmaxLoss-style head over a labelled DataLoader.

The DataLoader yields ``InputExample`` objects (or row dicts with text columns and a ``label``); every batch is
tokenised with the model, passed through ``softmax_model(features, labels=None) -> (embeddings, logits)``, and the
argmax of the logits is compared with the labels. Key ``accuracy`` and the CSV file
``accuracy_evaluation[_{name}]_results.csv`` as in sentence-transformers.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text

logger = logging.getLogger(__name__)


def _to_device(features: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


class LabelAccuracyEvaluator(SentenceEvaluator):
    """Accuracy of ``softmax_model``'s classifier; primary ``accuracy``.

    Args:
        dataloader: yields lists of ``InputExample`` (``texts`` + integer ``label``) or of row dicts whose
            ``label`` key is the class and whose other values are the texts, in column order.
        name: prefix of the metric key and suffix of the CSV file.
        softmax_model: a module called as ``softmax_model(features, labels=None)`` returning
            ``(embeddings, logits)``, such as :class:`embedkit.sentence_transformer.losses.SoftmaxLoss`.
        write_csv: append a row to the CSV file when called with an ``output_path``.

    Example:
        >>> import torch
        >>> from embedkit import SentenceTransformer, InputExample
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.losses import SoftmaxLoss
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=2)
        >>> data = [InputExample(texts=["a cat", "a kitten"], label=1),
        ...         InputExample(texts=["a cat", "a car"], label=0)]
        >>> loader = torch.utils.data.DataLoader(data, batch_size=2)
        >>> 0.0 <= LabelAccuracyEvaluator(loader, softmax_model=loss)(model)["accuracy"] <= 1.0
        True
    """

    def __init__(self, dataloader: Any, name: str = "", softmax_model: Any = None, write_csv: bool = True) -> None:
        super().__init__()
        if softmax_model is None:
            raise ValueError("LabelAccuracyEvaluator needs softmax_model (e.g. a SoftmaxLoss with a classifier)")
        self.dataloader = dataloader
        self.name = name
        self.softmax_model = softmax_model
        self.write_csv = write_csv
        self.csv_file = "accuracy_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "accuracy"]
        self.primary_metric = "accuracy"

    @staticmethod
    def collate(model: Any, batch: list[Any]) -> tuple[list[dict[str, Any]], torch.Tensor]:
        """Examples -> (one tokenised feature dict per text column, label tensor)."""
        if batch and isinstance(batch[0], dict):
            columns = [c for c in batch[0] if c != "label"]
            texts = [[row[c] for c in columns] for row in batch]
            labels = [row["label"] for row in batch]
        else:
            texts = [example.texts for example in batch]
            labels = [example.label for example in batch]
        features = [model.preprocess(list(column)) for column in zip(*texts)]
        return features, torch.tensor(labels)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        model.eval()
        logger.info("Evaluation on the %s dataset%s:", self.name, epoch_text(epoch, steps))
        self.dataloader.collate_fn = lambda batch: self.collate(model, batch)
        total = correct = 0
        for features, label_ids in self.dataloader:
            features = [_to_device(f, model.device) for f in features]
            label_ids = label_ids.to(model.device)
            with torch.no_grad():
                _, logits = self.softmax_model(features, labels=None)
            total += logits.size(0)
            correct += torch.argmax(logits, dim=1).eq(label_ids).sum().item()
        if total == 0:
            raise ValueError("LabelAccuracyEvaluator: the dataloader yielded no examples")
        accuracy = correct / total
        logger.info("Accuracy: %.4f (%d/%d)", accuracy, correct, total)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, accuracy])
        metrics = self.prefix_name_to_metrics({"accuracy": accuracy}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
