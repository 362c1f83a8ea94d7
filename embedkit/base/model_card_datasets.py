"""What a model card reports about the training and evaluation datasets: names, Hub ids and sizes, per-column
statistics (with the model's tokenizer for texts), example rows and the loss with its configuration.

The functions take the card (:class:`~embedkit.base.model_card.BaseModelCardData`) as first argument; its methods
(``compute_dataset_metrics``, ``_compute_column_stats``, ...) delegate here, and what a subclass may override is
called back through the card. The duck-typed value and dataset checks (``_is_image``, ``_column_modality``, ...)
live here too and are re-exported by :mod:`embedkit.base.model_card`.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pprint import pformat
from textwrap import indent
from typing import TYPE_CHECKING, Any

from embedkit.base.model_card_format import fullname, make_markdown_table

if TYPE_CHECKING:
    from embedkit.base.model_card import BaseModelCardData

logger = logging.getLogger("embedkit.base.model_card")  # the card's logger, as before these functions moved here


_MEDIA_EXTENSIONS = {
    "image": (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
    "video": (".mp4", ".avi", ".mov", ".mkv", ".webm"),
}


class _MinMeanMax:
    def __init__(self) -> None:
        self.min: float = float("inf")
        self.max: float = float("-inf")
        self.total: float = 0.0
        self.count = 0

    def add_many(self, values: Iterable[float]) -> None:
        for value in values:
            self.min = min(self.min, value)
            self.max = max(self.max, value)
            self.total += value
            self.count += 1

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


def _is_image(value: Any) -> bool:
    """Duck-typed PIL image."""
    return all(hasattr(value, a) for a in ("tobytes", "size", "mode", "convert", "save")) and hasattr(value, "width")


def _is_mapping_dataset(dataset: Any) -> bool:
    """A ``datasets.Dataset`` (or alike): sized, row-indexable, with ``column_names``."""
    return hasattr(dataset, "column_names") and hasattr(dataset, "__len__") and hasattr(dataset, "select")


def _is_iterable_dataset(dataset: Any) -> bool:
    return type(dataset).__name__ in ("IterableDataset", "IterableDatasetDict")


def _is_dataset_dict(dataset: Any) -> bool:
    return isinstance(dataset, dict)


def _column_modality(value: Any, supported: list[str] | None = None) -> str:
    if isinstance(value, str):
        lowered = value.lower().split("?")[0]
        for modality, extensions in _MEDIA_EXTENSIONS.items():
            if lowered.endswith(extensions) and (supported is None or modality in supported):
                return modality
        return "text"
    if _is_image(value):
        return "image"
    if isinstance(value, dict) and "array" in value:
        return "audio" if "sampling_rate" in value else ("video" if "video_metadata" in value else "")
    shape = getattr(value, "shape", None)
    if shape is not None and supported:
        ndim = len(shape)
        guess = {1: "audio", 3: "image", 4: "video"}.get(ndim)
        if guess in supported:
            return guess
    return ""


def infer_datasets(card: BaseModelCardData, dataset: Any, dataset_name: str | None = None) -> list[dict[str, Any]]:
    """Name, split, size and (for Hub datasets) id and revision of each dataset."""
    if _is_dataset_dict(dataset):
        return [info for name, sub in dataset.items() for info in card.infer_datasets(sub, dataset_name=name)]
    if dataset_name and re.match(r"_dataset_\d+", dataset_name):
        dataset_name = None
    info = getattr(dataset, "info", None)
    split = getattr(dataset, "split", None)
    output: dict[str, Any] = {"name": dataset_name or getattr(info, "dataset_name", None), "split": str(split)}
    splits = getattr(info, "splits", None)
    if splits and split in splits:
        output["size"] = splits[split].num_examples
    checksums = getattr(dataset, "download_checksums", None)
    if checksums:
        source = list(checksums)[0]
        if source.startswith("hf://datasets/") and "@" in source:
            repo, rest = source[len("hf://datasets/"):].split("@", 1)
            output["id"] = repo
            revision = rest.split("/")[0]
            if len(revision) == 40:
                output["revision"] = revision
    return [output]


def compute_column_stats(card: BaseModelCardData, dataset: Any, column: str, task: str | None = None) -> dict[str, Any]:
    """Statistics of one column over the first 100 rows (read in chunks of 8)."""
    n_total = min(len(dataset), 100)
    first = dataset[0][column]
    modality = _column_modality(first, getattr(card.model, "modalities", None))

    def chunks() -> Iterable[list[Any]]:
        for start in range(0, n_total, 8):
            yield dataset[start:start + 8][column]

    if isinstance(first, str):
        if modality in ("image", "audio", "video"):
            return {"dtype": "string", "modality": modality, "data": {}}
        stats, suffix = _MinMeanMax(), "characters"
        for chunk in chunks():
            lengths = card._token_lengths(list(chunk), task)
            if lengths is not None:
                stats.add_many(lengths)
                suffix = "tokens"
            else:
                stats.add_many(len(text) for text in chunk)
        return {"dtype": "string", "modality": modality, "data": {
            "min": f"{round(stats.min, 2)} {suffix}", "mean": f"{round(stats.mean, 2)} {suffix}",
            "max": f"{round(stats.max, 2)} {suffix}"}}
    if isinstance(first, (bool, int)):
        counter: Counter = Counter()
        seen = 0
        for chunk in chunks():
            counter.update(chunk)
            seen += len(chunk)
        approx = "~" if len(counter) > 1 else ""
        return {"dtype": type(first).__name__, "modality": modality,
                "data": {key: f"{approx}{counter[key] / seen:.2%}" for key in sorted(counter)}}
    if isinstance(first, float):
        stats = _MinMeanMax()
        for chunk in chunks():
            stats.add_many(chunk)
        return {"dtype": "float", "modality": modality,
                "data": {"min": round(stats.min, 2), "mean": round(stats.mean, 2), "max": round(stats.max, 2)}}
    if isinstance(first, list):
        stats = _MinMeanMax()
        for chunk in chunks():
            stats.add_many(len(item) for item in chunk)
        if stats.min == stats.max:
            return {"dtype": "list", "modality": modality, "data": {"size": f"{int(stats.min)} elements"}}
        return {"dtype": "list", "modality": modality, "data": {
            "min": f"{int(stats.min)} elements", "mean": f"{stats.mean:.2f} elements",
            "max": f"{int(stats.max)} elements"}}
    if _is_image(first):
        widths, heights = _MinMeanMax(), _MinMeanMax()
        for chunk in chunks():
            images = [image for image in chunk if _is_image(image)]
            widths.add_many(image.width for image in images)
            heights.add_many(image.height for image in images)
        return {"dtype": "image", "modality": modality, "data": {
            "min": f"{int(widths.min)}x{int(heights.min)} px", "mean": f"{int(widths.mean)}x{int(heights.mean)} px",
            "max": f"{int(widths.max)}x{int(heights.max)} px"}}
    if isinstance(first, dict) and "array" in first and "sampling_rate" in first:
        durations = _MinMeanMax()
        for chunk in chunks():
            durations.add_many(len(d["array"]) / d["sampling_rate"] for d in chunk
                               if isinstance(d, dict) and "array" in d and "sampling_rate" in d)
        data: dict[str, Any] = {}
        if durations.count:
            data.update(min=f"{durations.min:.2f}s", mean=f"{durations.mean:.2f}s", max=f"{durations.max:.2f}s")
        data["sampling_rate"] = f"{first['sampling_rate']} Hz"
        return {"dtype": "audio", "modality": modality, "data": data}
    return {"dtype": fullname(first), "modality": modality, "data": {}}


def token_lengths(card: BaseModelCardData, texts: list[str], task: str | None) -> list[int] | None:
    """Token counts of ``texts`` with the model's tokenizer (None when the model cannot tokenize them)."""
    model = card.model
    if model is None:
        return None
    attempts = []
    if task is not None:
        attempts.append(lambda: model.preprocess(texts, task=task))
    attempts.append(lambda: model.preprocess(texts))
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        max_length = getattr(model, "max_seq_length", None)
        batch = getattr(tokenizer, "batch_features", tokenizer)  # embedkit's: padded tensors
        attempts.append(lambda: batch(texts, max_length=max_length) if max_length else batch(texts))
    for attempt in attempts:
        try:
            features = attempt()
        except Exception:
            continue
        mask = features.get("attention_mask") if hasattr(features, "get") else None
        if mask is not None:
            if hasattr(mask, "sum"):
                return [int(v) for v in mask.sum(-1).tolist()]
            return [int(sum(row)) for row in mask]
    return None


def compute_dataset_metrics(card: BaseModelCardData, dataset: Any, dataset_info: dict[str, Any], loss: Any,
                            router_mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """Size, columns, per-column statistics, 3 example rows and the loss (with its configuration)."""
    if not dataset:
        return {}
    mapping = _is_mapping_dataset(dataset)
    if mapping:
        dataset_info["size"] = len(dataset)
        columns = [column for column in dataset[0].keys() if column != "dataset_name"]
    else:
        columns = list(getattr(dataset, "column_names", None) or [])
    dataset_info["columns"] = [f"<code>{column}</code>" for column in columns]
    dataset_info["stats"] = {}
    if mapping:
        for column in columns:
            dataset_info["stats"][column] = card._compute_column_stats(
                dataset, column, task=(router_mapping or {}).get(column))

        def html_list(data: dict) -> str:
            if not data:
                return ""
            return "<ul><li>" + "</li><li>".join(f"{k}: {v}" for k, v in data.items()) + "</li></ul>"

        stats = dataset_info["stats"]
        rows = [
            {"": "type", **{k: v["dtype"] for k, v in stats.items()}},
            {"": "modality", **{k: v.get("modality", "") for k, v in stats.items()}},
            {"": "details", **{k: html_list(v["data"]) for k, v in stats.items()}},
        ]
        dataset_info["stats_table"] = indent(make_markdown_table(rows).replace("-:|", "--|"), "  ")
        dataset_info["examples"] = dataset[:3]
        dataset_info["_example_columns"] = columns
        dataset_info["examples_table"], _ = card._render_examples_table(dataset_info)
    dataset_info["loss"] = {"fullname": fullname(loss)}
    get_config = getattr(loss, "get_config_dict", None)
    if callable(get_config):
        config = {}
        for key, value in get_config().items():
            inner = getattr(loss, key, None)  # a sub-loss reported by its class name: describe the module
            if isinstance(value, str) and inner is not None and type(inner).__name__ == value:
                value = inner
            config[key] = card._format_config_value(value)
        try:
            text = json.dumps(config, indent=4)
        except TypeError:
            text = pformat(config, indent=4)
        dataset_info["loss"]["config_code"] = indent(f"```json\n{text}\n```", "  ")
    return dataset_info


def format_config_value(value: Any) -> Any:
    """A loss argument for the card: a module (e.g. a wrapped loss or a guide model) as ``Name(arguments)``."""
    import torch.nn as nn

    if not isinstance(value, nn.Module):
        return value
    arguments = []
    card = getattr(value, "model_card_data", None)
    if card is not None and hasattr(card, "base_model"):
        arguments.append(repr(card.base_model))
    if getattr(value, "trust_remote_code", False):
        arguments.append("trust_remote_code=True")
    get_config = getattr(value, "get_config_dict", None)
    if callable(get_config):
        arguments += [f"{k}={v!r}" for k, v in get_config().items()]
    name = type(value).__name__
    return f"{name}({', '.join(arguments)})" if arguments else name


def extract_dataset_metadata(card: BaseModelCardData, dataset: Any, dataset_metadata: list[dict[str, Any]],
                             loss: Any, dataset_type: str, router_mapping: dict[str, Any] | None = None
                             ) -> list[dict[str, Any]]:
    """The card entries of a trainer's dataset (or dict of datasets), with statistics."""
    router_mapping = router_mapping or {}
    if dataset:
        is_dict = _is_dataset_dict(dataset)
        expected = len(dataset) if is_dict else 1
        if dataset_metadata and len(dataset_metadata) != expected:
            logger.warning(
                f"The number of `{dataset_type}_datasets` in the model card data does not match the number of "
                f"{dataset_type} datasets in the Trainer. Removing the provided `{dataset_type}_datasets` from "
                "the model card data."
            )
            dataset_metadata = []
        if not dataset_metadata:
            dataset_metadata = card.infer_datasets(dataset)
        if is_dict:
            per_dataset = isinstance(next(iter(router_mapping.values()), None), dict)
            dataset_metadata = [
                card.compute_dataset_metrics(
                    value, info, loss[name] if isinstance(loss, dict) else loss,
                    router_mapping=router_mapping.get(name, {}) if per_dataset else router_mapping)
                for name, value, info in zip(dataset.keys(), dataset.values(), dataset_metadata)
            ]
        else:
            dataset_metadata = [card.compute_dataset_metrics(dataset, dataset_metadata[0], loss,
                                                             router_mapping=router_mapping)]
    if dataset_type == "train":
        size = sum(info.get("size", 0) or 0 for info in dataset_metadata)
        if size:
            card.add_tags(f"dataset_size:{size}")
    if dataset and dataset_type == "train" and card.ir_model is None:
        if _is_dataset_dict(dataset):
            names = {c for sub in dataset.values() for c in (getattr(sub, "column_names", None) or [])}
        else:
            names = set(getattr(dataset, "column_names", None) or [])
        if {"query", "question"} & names:
            card.ir_model = True
    return card.validate_datasets(dataset_metadata)
