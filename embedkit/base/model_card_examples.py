"""Examples on a model card: widget and usage examples picked from the training data, non-text examples saved
under ``assets/``, the dataset examples tables and the usage snippet that shows how to run the model.

The functions take the card (:class:`~embedkit.base.model_card.BaseModelCardData`) as first argument; its methods
(``set_widget_examples``, ``_save_asset``, ...) delegate here, and what a subclass may override
(``_set_multimodal_usage_examples``, ``_snippet_header``, ...) is called back through the card.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from textwrap import indent
from typing import TYPE_CHECKING, Any

from embedkit.base.model_card_datasets import (
    _column_modality,
    _is_dataset_dict,
    _is_image,
    _is_iterable_dataset,
    _is_mapping_dataset,
)
from embedkit.base.model_card_format import make_markdown_table

if TYPE_CHECKING:
    from embedkit.base.model_card import BaseModelCardData

logger = logging.getLogger("embedkit.base.model_card")  # the card's logger, as before these functions moved here


def set_widget_examples(card: BaseModelCardData, dataset: Any) -> None:
    """Pick short rows of the dataset(s) as Hub widget inputs and usage examples."""
    if _is_iterable_dataset(dataset):
        return
    if not _is_dataset_dict(dataset):
        dataset = {"dataset": dataset}
    card.widget = []
    names = Counter(random.choices(list(dataset.keys()), k=5))
    for name, count in names.items():
        sub = dataset[name]
        if _is_iterable_dataset(sub) or not _is_mapping_dataset(sub) or len(sub) == 0:
            continue
        size = len(sub)
        indices = random.sample(range(size), k=min(1000, size))
        try:
            rows = [{k: v for k, v in row.items() if isinstance(v, (str, dict))} for row in sub.select(indices)]
        except Exception:  # a transform that fails on plain row access
            continue
        rows = [{k: v for k, v in row.items()
                 if isinstance(v, str) or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))}
                for row in rows]
        rows = [row for row in rows if row]
        lengths = {}
        for idx, row in enumerate(rows):
            values = [v for k, v in row.items() if k != "dataset_name"]
            if any(v == "" or (isinstance(v, dict) and "" in v.values()) for v in values):
                continue
            lengths[idx] = sum(len(v) for v in values)
        if not lengths:
            continue
        order = [idx for idx, _ in sorted(lengths.items(), key=lambda item: item[1])]
        targets, backups = order[:count], list(order[count:][::-1])
        for idx in targets:
            texts = [v for k, v in rows[idx].items() if k != "dataset_name"]
            while len(texts) < 4 and backups:
                backup = [v for k, v in rows[backups.pop()].items() if k != "dataset_name"]
                texts.append(backup[0] if len(backup) == 1 else backup[1])
            if len(texts) < 4:
                continue
            texts = [next(iter(t.values())) if isinstance(t, dict) else t for t in texts]
            if card.pipeline_tag == "sentence-similarity":
                card.widget.append({"source_sentence": texts[0],
                                    "sentences": random.sample(texts[1:], k=len(texts) - 1)})
            else:
                card.widget.append({"text": random.choice(texts)})
            card.usage_examples = texts[:4]
    if card.model is not None and any(m not in ("text", "message")
                                      for m in getattr(card.model, "modalities", None) or ["text"]):
        card._set_multimodal_usage_examples(dataset)



def distinct_values(card: BaseModelCardData, rows: Any, column: str, limit: int = 3, scan: int = 20) -> list[Any]:
    """Up to ``limit`` values of ``column`` from the first ``scan`` rows, repeats skipped (``card._hash_asset``
    tells them apart; values it cannot hash are all kept)."""
    values, seen = [], set()
    for row_idx in range(min(len(rows), scan)):
        item = rows[row_idx][column]
        key = card._hash_asset(item)
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        values.append(item)
        if len(values) >= limit:
            break
    return values

def set_multimodal_usage_examples(card: BaseModelCardData, dataset: Any) -> None:
    """Use non-text columns as usage examples for a model that supports non-text modalities."""
    modalities = [m for m in getattr(card.model, "modalities", None) or [] if m not in ("text", "message")]
    for sub in dataset.values():
        if not _is_mapping_dataset(sub) or len(sub) == 0:
            continue
        first = sub[0]
        for column, value in first.items():
            if _column_modality(value, modalities) in modalities and not isinstance(value, str):
                card.usage_examples = distinct_values(card, sub, column)
                return


def hash_asset(value: Any) -> int | None:
    """A key of an image or audio/video example (None for other values), to save and show each one once."""
    if _is_image(value):
        return hash((value.tobytes(), value.size, value.mode))
    if isinstance(value, dict) and "array" in value:
        array = value["array"]
        if hasattr(array, "cpu"):
            array = array.cpu().numpy()
        if hasattr(array, "tobytes"):
            return hash((array.tobytes(), getattr(array, "shape", None), value.get("sampling_rate")))
    return None


def save_asset(card: BaseModelCardData, value: Any, assets_dir: str, idx: int, prefix: str = "") -> str | None:
    """Write a non-text example (images are supported) under ``assets/``; returns its relative path."""
    key = card._hash_asset(value)
    if key is not None and key in card._asset_cache:
        return card._asset_cache[key]
    if _is_image(value):
        os.makedirs(assets_dir, exist_ok=True)
        filename = f"{prefix}image_{idx}.jpg"
        value.convert("RGB").save(os.path.join(assets_dir, filename))
        rel_path = f"assets/{filename}"
        if key is not None:
            card._asset_cache[key] = rel_path
        return rel_path
    logger.warning(f"Could not save predict example asset of type {type(value).__name__}")
    return None


def save_usage_example_assets(card: BaseModelCardData) -> None:
    """Save non-text usage examples under ``<save_dir>/assets`` and point ``usage_examples_display`` at them."""
    if not card.save_dir or not card.usage_examples:
        return
    if all(isinstance(item, str) or (isinstance(item, list) and all(isinstance(x, str) for x in item))
           for item in card.usage_examples):
        return
    assets_dir = os.path.join(card.save_dir, "assets")
    counter = 0

    def convert(value: Any) -> Any:
        nonlocal counter
        if isinstance(value, str):
            return value
        rel_path = card._save_asset(value, assets_dir, counter)
        if rel_path:
            counter += 1
            return rel_path
        return f"<{type(value).__name__}>"

    display = []
    for item in card.usage_examples:
        if isinstance(item, list):
            display.append([convert(x) for x in item])
        elif isinstance(item, dict) and not card._is_typed_media_dict(item):
            display.append({k: convert(v) for k, v in item.items()})
        else:
            display.append(convert(item))
    card.usage_examples_display = display


def render_examples_table(card: BaseModelCardData, dataset_info: dict[str, Any], asset_counter: int = 0
                          ) -> tuple[str, int]:
    """The markdown table of a dataset's example rows (images saved as assets when the card has a ``save_dir``);
    returns it with the next asset number."""
    columns = dataset_info["_example_columns"]
    examples = dataset_info["examples"]
    if not examples:
        return "", asset_counter
    num_rows = len(examples[list(examples)[0]])
    rows = []
    for idx in range(num_rows):
        row = {}
        for column in columns:
            row[column], asset_counter = card._format_and_save_example(examples[column][idx], asset_counter)
        rows.append(row)
    return indent(make_markdown_table(rows).replace("-:|", "--|"), "  "), asset_counter


def format_and_save_example(card: BaseModelCardData, value: Any, counter: int) -> tuple[str, int]:
    """One cell of the examples table: an image saved as an asset and shown with ``<img>``, else the value as code."""
    if not _is_image(value) or not card.save_dir:
        return f"<code>{card._format_example_value(value)}</code>", counter
    key = card._hash_asset(value)
    if key is not None and key in card._asset_cache:
        return f'<img src="{card._asset_cache[key]}" width="200">', counter
    rel_path = card._save_asset(value, os.path.join(card.save_dir, "assets"), counter, prefix="example_")
    if rel_path:
        return f'<img src="{rel_path}" width="200">', counter + 1
    return f"<code>{card._format_example_value(value)}</code>", counter


def format_example_value(value: Any) -> str:
    """One cell of the dataset examples table (long values are shortened, markdown-breaking characters
    escaped)."""
    if _is_image(value):
        return f"&lt;image {value.width}x{value.height}&gt;"
    if isinstance(value, dict) and "array" in value and "sampling_rate" in value:
        return f"&lt;audio {len(value['array']) / value['sampling_rate']:.2f}s @ {value['sampling_rate']} Hz&gt;"
    if isinstance(value, dict) and "array" in value and "video_metadata" in value:
        return "&lt;video&gt;"
    if isinstance(value, list) and len(value) > 5:
        return str(value[:5])[:-1] + ", ...]"
    if isinstance(value, str) and len(value) > 1000:
        value = value[:1000] + "..."
    return str(value).replace("\n", "<br>").replace("|", "\\|")


def format_snippet_value(card: BaseModelCardData, value: Any) -> str:
    """A value as Python source for the usage snippet (asset paths become Hub URLs when ``model_id`` is set)."""
    if isinstance(value, str) and value.startswith("assets/"):
        return repr(card._asset_path_to_url(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {card._format_snippet_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(card._format_snippet_value(v) for v in value) + "]"
    return repr(value)


def snippet_output_dimensionality(card: BaseModelCardData) -> int | str:
    """The model's embedding dimension for the snippet's shape comments (``"?"`` when unknown)."""
    if card.model is not None:
        try:
            dimension = card.model.get_embedding_dimension()
            if dimension is not None:
                return dimension
        except Exception:
            pass
    return "?"


def generate_usage_snippet(card: BaseModelCardData) -> str:
    """The fenced Python block showing how to load and run the model."""
    display = card.usage_examples_display or card.usage_examples
    if not display:
        return card._generate_text_snippet(None)
    source = card.usage_examples or display
    if any(not isinstance(item, (str, list)) for item in source):
        return card._generate_non_text_snippet(display)
    return card._generate_text_snippet(display)


def generate_text_snippet(card: BaseModelCardData, display: list[str] | None) -> str:
    """The usage snippet for text examples (default sentences when there are none)."""
    examples = display or ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.",
                           "He drove to the stadium."]
    return _encode_snippet(card, "sentences", [repr(text) for text in examples])


def generate_non_text_snippet(card: BaseModelCardData, display: list[Any]) -> str:
    """The usage snippet for non-text examples (asset paths, dicts of modalities)."""
    return _encode_snippet(card, "inputs", [card._format_snippet_value(x) for x in display])


def _encode_snippet(card: BaseModelCardData, name: str, items: list[str]) -> str:
    """Encode the ``items`` (already written as Python source) bound to ``name``, then compare them."""
    lines = card._snippet_header() + [f"{name} = ["] + [f"    {item}," for item in items]
    lines += ["]", f"embeddings = model.encode({name})", "print(embeddings.shape)",
              f"# [{len(items)}, {card._get_snippet_output_dimensionality()}]", "",
              "# Get the similarity scores for the embeddings",
              "similarities = model.similarity(embeddings, embeddings)"]
    lines += card._similarity_tail(len(items), len(items))
    return "```python\n" + "\n".join(lines) + "\n```"

