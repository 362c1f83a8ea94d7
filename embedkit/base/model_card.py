"""Model cards: the README.md that ``save`` writes next to the weights, built from ``model.model_card_data``.

:class:`BaseModelCardData` collects what a card reports (base model, datasets with statistics and examples, losses,
hyperparameters, training logs, evaluation results, a usage snippet). The trainer fills it when it is created
(:meth:`BaseModelCardData.trainer_init`) and when it finishes; :func:`generate_model_card` renders it to markdown
with YAML front matter in the layout of sentence-transformers' cards. The text is built with plain Python (no
template engine). ``get_model_info`` / ``get_dataset_info`` are the Hub look-ups the card uses (skipped when
``local_files_only`` is set).

``training_card_section`` renders the compact summary the trainer stores as ``model.training_summary``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from copy import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from platform import python_version
from pprint import pformat
from textwrap import indent
from typing import Any

from huggingface_hub import CardData
from huggingface_hub import dataset_info as get_dataset_info
from huggingface_hub import model_info as get_model_info

logger = logging.getLogger(__name__)

__all__ = ["BaseModelCardData", "generate_model_card", "get_dataset_info", "get_model_info", "make_markdown_table",
           "training_card_section", "write_model_card"]

YAML_FIELDS = ["language", "license", "library_name", "tags", "datasets", "metrics", "pipeline_tag", "widget",
               "model-index", "co2_eq_emissions", "base_model"]
IGNORED_FIELDS = ["model", "trainer", "eval_results_dict", "save_dir", "usage_examples_display", "_asset_cache",
                  "_cached_dict", "_training_start_time", "evaluation_duration"]
_MEDIA_EXTENSIONS = {
    "image": (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
    "video": (".mp4", ".avi", ".mov", ".mkv", ".webm"),
}
_IGNORED_ARGUMENTS = {
    "output_dir", "logging_dir", "logging_strategy", "logging_first_step", "logging_steps", "evaluation_strategy",
    "eval_strategy", "eval_steps", "eval_delay", "save_strategy", "save_steps", "save_total_limit",
    "metric_for_best_model", "greater_is_better", "report_to", "samples_per_label", "show_progress_bar", "do_train",
    "do_eval", "do_test", "run_name", "hub_token", "push_to_hub_token",
}
_SENTENCE_TRANSFORMERS_CITATION = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""


# ---------------------------------------------------------------------------------------------------- helpers
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def training_card_section(summary: dict[str, Any] | None) -> str:
    """Markdown for a ``training_summary`` dict (empty string when the model was not trained here).

    Example:
        >>> print(training_card_section({"datasets": {"train": {"rows": 2, "columns": ["a", "b"]}},
        ...                              "losses": {}, "arguments": {}, "log_history": []}).splitlines()[3])
        ### Datasets
    """
    if not summary:
        return ""
    lines = ["", "## Training", "", "### Datasets", ""]
    for name, info in summary.get("datasets", {}).items():
        lines.append(f"- `{name}`: {info['rows']} rows, columns {', '.join(f'`{c}`' for c in info['columns'])}")
    lines += ["", "### Losses", ""]
    for name, info in summary.get("losses", {}).items():
        config = json.dumps(info.get("config", {}), default=str)
        lines.append(f"- `{name}`: `{info['class']}` with `{config}`")
    arguments = summary.get("arguments", {})
    if arguments:
        lines += ["", "### Non-default hyperparameters", ""]
        lines += [f"- `{k}`: `{_fmt(v)}`" for k, v in sorted(arguments.items())]
    history = summary.get("log_history", [])
    evals = [h for h in history if any(k.startswith("eval_") for k in h)]
    if evals:
        lines += ["", "### Final evaluation", ""]
        lines += [f"- `{k}`: {_fmt(v)}" for k, v in evals[-1].items() if k.startswith("eval_")]
    train_rows = [h for h in history if "loss" in h]
    if train_rows:
        lines += ["", "### Training log", "", "| step | epoch | loss | learning rate |", "|---|---|---|---|"]
        stride = max(1, len(train_rows) // 20)
        for h in train_rows[::stride]:
            lines.append(f"| {h['step']} | {_fmt(h.get('epoch'))} | {_fmt(h['loss'])} | {_fmt(h.get('learning_rate'))} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = str(value)
        if "." in text and len(text.split(".")[1]) > 4:
            return f"{value:.4f}"
    return str(value)


def make_markdown_table(rows: list[dict[str, Any]]) -> str:
    """A padded markdown table from a list of same-keyed dicts (floats shown with at most 4 decimals).

    Example:
        >>> print(make_markdown_table([{"a": 1, "bb": 0.123456}]), end="")
        | a | bb     |
        |:-:|:------:|
        | 1 | 0.1235 |
    """
    if not rows:
        return ""
    keys = list(rows[0])
    widths = {key: len(str(key)) for key in keys}
    for row in rows:
        for key in keys:
            widths[key] = max(widths[key], len(_cell(row.get(key, ""))))

    def line(values: list[str]) -> str:
        return "".join(f"| {v}" + " " * (widths[k] - len(v) + 1) for k, v in zip(keys, values)) + "|\n"

    table = line([str(k) for k in keys])
    table += "".join("|:" + "-" * widths[k] + ":" for k in keys) + "|\n"
    for row in rows:
        table += line([_cell(row.get(k, "")) for k in keys])
    return table


def fullname(obj: Any) -> str:
    """Dotted class path of ``obj`` (builtins give the bare name)."""
    cls = obj if isinstance(obj, type) else type(obj)
    module = cls.__module__
    if module is None or module == "builtins":
        return cls.__name__
    return f"{module}.{cls.__name__}"


def _is_library_path(name: str) -> bool:
    return name.startswith(("sentence_transformers.", "embedkit."))


def format_duration(seconds: float) -> str:
    """A readable duration, e.g. ``"23.0 minutes"``.

    Example:
        >>> format_duration(90)
        '1.5 minutes'
    """
    if seconds < 60:
        return f"{seconds:.1f} seconds"
    if seconds < 3600:
        return f"{seconds / 60:.1f} minutes"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def format_log(value: Any) -> Any:
    """Round floats to 4 decimals for the card's tables."""
    return round(value, 4) if isinstance(value, float) else value


def get_versions() -> dict[str, Any]:
    """Versions of the libraries a card reports (embedkit fills the Sentence Transformers slot)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        from embedkit import __version__ as embedkit_version
    except Exception:  # pragma: no cover - partial installs
        embedkit_version = installed("embedkit")
    try:  # the sentence-transformers version whose folder format embedkit writes
        from embedkit.model_folder import ST_VERSION_WRITTEN as sentence_transformers_version
    except Exception:  # pragma: no cover - partial installs
        sentence_transformers_version = None
    return {
        "python": python_version(),
        "embedkit": embedkit_version,
        "sentence_transformers": sentence_transformers_version,
        "transformers": installed("transformers"),
        "torch": installed("torch"),
        "accelerate": installed("accelerate"),
        "datasets": installed("datasets"),
        "tokenizers": installed("tokenizers"),
    }


def get_losses(loss: Any) -> list[Any]:
    """The losses of a trainer, including the ones wrapped inside others (``loss.loss``, SPLADE regularizers)."""
    losses = list(loss.values()) if isinstance(loss, dict) else [loss]
    idx = 0
    while idx < len(losses):
        current = losses[idx]
        for attribute in ("loss", "document_regularizer", "query_regularizer"):
            inner = getattr(current, attribute, None)
            if inner is not None and not isinstance(inner, (str, int, float)) and inner not in losses:
                losses.append(inner)
        idx += 1
    return losses


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


def _join_names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


class _Revision(str):
    """A resolved Hub revision: the string is the resolved commit, ``initial`` what the caller asked for."""

    def __new__(cls, resolved: str, initial: str | None) -> _Revision:
        obj = super().__new__(cls, resolved)
        obj.resolved = resolved  # type: ignore[attr-defined]
        obj.initial = initial  # type: ignore[attr-defined]
        return obj


def note_base_model(card: Any, model_name_or_path: Any, folder: Path | None, revision: str | None = None,
                    local_files_only: bool = False) -> None:
    """Record a Hub model id (and its commit) as the card's base model; local folders are not recorded.

    Example:
        >>> card = BaseModelCardData()
        >>> note_base_model(card, "org/model", Path("snapshots") / ("a" * 40))
        >>> card.base_model, card.base_model_revision == "a" * 40
        ('org/model', True)
    """
    if card is None or model_name_or_path is None or local_files_only:
        return
    name = os.fspath(model_name_or_path)
    if Path(name).expanduser().is_dir():
        return
    repo_id = name
    if folder is not None:
        parts = Path(folder).parts
        if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
            repo_id = parts[-3][len("models--"):].replace("--", "/")
    resolved = Path(folder).name if folder is not None else None
    if resolved and re.fullmatch(r"[0-9a-f]{40}", resolved):
        setter = getattr(card, "set_base_model", None)
        if callable(setter):
            setter(repo_id, revision=_Revision(resolved, revision))


# ---------------------------------------------------------------------------------------------------- card data
@dataclass
class BaseModelCardData(CardData):
    """What a model card reports; ``model.model_card_data`` holds one and ``save`` renders it to README.md.

    Args:
        language: model language(s), e.g. ``"en"`` or ``["en", "de"]``.
        license: e.g. ``"apache-2.0"``.
        model_name: pretty name (default: "<ModelClass> based on <base model>").
        model_id: Hub id used in the usage snippet, e.g. ``"user/my-model"`` (must contain one ``/``).
        train_datasets / eval_datasets: ``[{"name": ..., "id": ...}, ...]`` (filled by the trainer if empty).
        task_name: what the model is for, used in the card's first paragraph.
        tags: Hub tags.
        local_files_only: never query the Hub for base model or dataset information.
        generate_widget_examples: run the model on the usage examples to show real outputs in the snippet.

    Example:
        >>> data = BaseModelCardData(language="en", license="apache-2.0")
        >>> data.language, data.tags[0]
        (['en'], 'sentence-transformers')
    """

    language: str | list[str] | None = field(default_factory=list)
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    train_datasets: list[dict[str, Any]] = field(default_factory=list)
    eval_datasets: list[dict[str, Any]] = field(default_factory=list)
    task_name: str | None = "retrieval"
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "sentence-similarity",
                                                     "feature-extraction"])
    local_files_only: bool = False
    generate_widget_examples: bool = True

    base_model: str | None = field(default=None, init=False)
    base_model_revision: str | None = field(default=None, init=False)
    non_default_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    all_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    eval_results_dict: dict[Any, dict[str, Any]] | None = field(default_factory=dict, init=False)
    training_logs: list[dict[str, float]] = field(default_factory=list, init=False)
    widget: list[dict[str, Any]] = field(default_factory=list, init=False)
    usage_examples: list | None = field(default=None, init=False)
    usage_examples_display: list | None = field(default=None, init=False, repr=False)
    label_example_list: list[dict[str, str]] = field(default_factory=list, init=False)
    code_carbon_callback: Any = field(default=None, init=False)
    _training_start_time: float | None = field(default=None, init=False)
    evaluation_duration: float = field(default=0.0, init=False)
    citations: dict[str, str] = field(default_factory=dict, init=False)
    best_model_step: int | None = field(default=None, init=False)
    ir_model: bool | None = field(default=None, init=False, repr=False)
    datasets: list[str] = field(default_factory=list, init=False, repr=False)
    similarities: str | None = field(default=None, init=False, repr=False)

    first_save: bool = field(default=True, init=False)
    widget_step: int = field(default=-1, init=False)
    save_dir: str | None = field(default=None, init=False, repr=False)
    _asset_cache: dict = field(default_factory=dict, init=False, repr=False)
    _cached_dict: dict | None = field(default=None, init=False, repr=False)

    pipeline_tag: str | None = field(default="sentence-similarity", init=False)
    library_name: str = field(default="sentence-transformers", init=False)
    version: dict[str, Any] = field(default_factory=get_versions, init=False)

    model: Any = field(default=None, init=False, repr=False)

    # How the rendered card names things; the subclasses override these.
    _snippet_model_class = "SentenceTransformer"
    _snippet_default_model_id = "sentence_transformers_model_id"
    _docs_section = "sentence_transformer"

    def __post_init__(self) -> None:
        if isinstance(self.language, str):
            self.language = [self.language]
        self.train_datasets = self.validate_datasets(self.train_datasets)
        self.eval_datasets = self.validate_datasets(self.eval_datasets)
        if self.model_id and self.model_id.count("/") != 1:
            logger.warning(
                f"The provided {self.model_id!r} model ID should include the organization or user,"
                ' such as "tomaarsen/mpnet-base-nli-matryoshka". Setting `model_id` to None.'
            )
            self.model_id = None

    # ------------------------------------------------------------------ simple setters
    def validate_datasets(self, dataset_list: list[dict[str, Any]], infer_languages: bool | None = None
                          ) -> list[dict[str, Any]]:
        """Fill missing names from ids and, unless ``local_files_only``, check the ids on the Hub (dropping unknown
        ones) and pick up their languages."""
        if infer_languages is None:
            infer_languages = not self.language
        output = []
        for dataset in dataset_list:
            if "name" not in dataset and "id" in dataset:
                dataset["name"] = dataset["id"]
            if "id" in dataset and not self.local_files_only:
                try:
                    info = get_dataset_info(dataset["id"])
                except Exception:
                    logger.warning(f"The dataset `id` {dataset['id']!r} does not exist on the Hub. Setting the `id` "
                                   "to None.")
                    del dataset["id"]
                else:
                    card_data = getattr(info, "cardData", None) or getattr(info, "card_data", None)
                    if card_data and infer_languages and "language" in card_data:
                        languages = card_data.get("language")
                        if languages is not None:
                            for language in [languages] if isinstance(languages, str) else languages:
                                if language not in self.language:
                                    self.language.append(language)
                    if info.id not in self.datasets:
                        self.datasets.append(info.id)
            output.append(dataset)
        return output

    def set_losses(self, losses: list[Any]) -> None:
        """Record the citations of the losses and add ``loss:<Name>`` tags."""
        citations = {"Sentence Transformers": _SENTENCE_TRANSFORMERS_CITATION}
        for loss in losses:
            citation = getattr(loss, "citation", None)
            if isinstance(citation, str):
                citations[type(loss).__name__] = citation
        by_citation: dict[str, list[str]] = defaultdict(list)
        for name, citation in citations.items():
            by_citation[citation].append(name)
        self.citations = {_join_names(names): citation for citation, names in by_citation.items()}
        self.add_tags([f"loss:{name}" for name in {type(loss).__name__: None for loss in losses}])

    def set_best_model_step(self, step: int) -> None:
        self.best_model_step = step

    def set_model_id(self, model_id: str) -> None:
        self.model_id = model_id

    def set_language(self, language: str | list[str]) -> None:
        self.language = [language] if isinstance(language, str) else language

    def set_license(self, license: str) -> None:
        self.license = license

    def add_tags(self, tags: str | Iterable[str]) -> None:
        if isinstance(tags, str):
            tags = [tags]
        for tag in tags:
            if tag not in self.tags:
                self.tags.append(tag)

    def set_base_model(self, model_id: str, revision: str | None = None) -> bool:
        """Record ``model_id`` as the base model if the Hub knows it (or it was just resolved there)."""
        if self.local_files_only:
            return False
        resolved = getattr(revision, "resolved", None)
        if resolved:
            initial = getattr(revision, "initial", None)
            self.base_model = model_id
            self.base_model_revision = resolved if initial is None or initial == "main" else initial
            return True
        try:
            info = get_model_info(model_id)
        except Exception:
            return False
        self.base_model = info.id
        self.base_model_revision = info.sha if revision is None or revision == "main" else revision
        return True

    def try_to_set_base_model(self) -> None:
        """Guess the base model from the backbone's ``name_or_path`` when the model was not loaded from the Hub."""
        name = None
        for module in getattr(self.model, "modules", lambda: [])():
            config = getattr(module, "config", None)
            name = getattr(config, "_name_or_path", None) or getattr(config, "name_or_path", None)
            if isinstance(name, str) and name:
                break
            name = None
        if not name:
            return
        path = Path(name)
        candidates = ["/".join(path.parts[-2:])]
        splits = path.name.split("_")
        candidates += ["_".join(splits[:i]) + "/" + "_".join(splits[i:]) for i in range(1, len(splits))]
        for candidate in candidates:
            if self.set_base_model(candidate):
                break

    def register_model(self, model: Any) -> None:
        """Attach the model this card describes (IR models are detected from a Router or query/document prompts)."""
        self.model = model
        if self.ir_model is not None:
            return
        if any(type(module).__name__ == "Router" for module in getattr(model, "children", lambda: [])()):
            self.ir_model = True
            return
        prompts = getattr(model, "prompts", None) or {}
        for name in ("query", "document", "passage", "corpus"):
            if prompts.get(name):
                self.ir_model = True
                return

    def try_to_set_ir_model_from_evaluators(self) -> None:
        """Mark the model as an IR model when it was evaluated with an information-retrieval evaluator.

        Evaluators are recognised by class name (the card sits below the evaluators and does not import them); a
        SequentialEvaluator is looked into.
        """
        ir_names = {"InformationRetrievalEvaluator", "NanoBEIREvaluator", "SparseInformationRetrievalEvaluator",
                    "SparseNanoBEIREvaluator"}
        for evaluator in self.eval_results_dict or {}:
            subs = getattr(evaluator, "evaluators", None) or [evaluator]
            if any(type(sub).__name__ in ir_names for sub in subs):
                self.ir_model = True
                return

    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: float = 0, step: int = 0
                               ) -> None:
        """Store an evaluator's results; its primary metric also goes into the training log."""
        self.eval_results_dict[evaluator] = copy(metrics)
        primary = getattr(evaluator, "primary_metric", None)
        if not primary:
            return
        if getattr(evaluator, "evaluators", None):  # a SequentialEvaluator: the primary metric of each
            primary = [getattr(sub, "primary_metric", None) for sub in evaluator.evaluators]
        elif isinstance(primary, str):
            primary = [primary]
        logged = {key: value for key, value in metrics.items() if key in primary}
        if self.training_logs and self.training_logs[-1]["Step"] == step:
            self.training_logs[-1].update(logged)
        else:
            self.training_logs.append({"Epoch": epoch, "Step": step, **logged})

    def set_label_examples(self, dataset: Any) -> None:
        """Up to 3 example texts per label (for classification cards)."""
        examples: dict[Any, list[str]] = defaultdict(list)
        for sample in dataset:
            if len(examples[sample["label"]]) < 3:
                examples[sample["label"]].append(f"<li>{sample['text']!r}</li>")
        labels = getattr(self.model, "labels", None)
        self.label_example_list = [
            {"Label": labels[label] if labels and isinstance(label, int) else label,
             "Examples": "<ul>" + "".join(items) + "</ul>"}
            for label, items in examples.items()
        ]

    # ------------------------------------------------------------------ trainer hooks
    def trainer_init(self, trainer: Any) -> None:
        """Called when a trainer is created for the model: record datasets (statistics, examples), losses and
        usage examples, and tag the card ``generated_from_trainer``. A failure here is logged, never raised: the
        card must not stop training."""
        self.add_tags("generated_from_trainer")
        try:
            self._record_trainer(trainer)
        except Exception as exc:
            logger.warning(f"Could not record the training setup for the model card: {exc!r}")

    def _record_trainer(self, trainer: Any) -> None:
        self._trainer_args = getattr(trainer, "args", None)  # read for the hyperparameters once trained
        hub_model_id = getattr(self._trainer_args, "hub_model_id", None)
        if hub_model_id and not self.model_id:
            self.set_model_id(hub_model_id)
        train = _trainer_datasets(trainer, "train")
        evaluation = _trainer_datasets(trainer, "eval")
        loss = _trainer_loss(trainer)
        router_mapping = getattr(getattr(trainer, "args", None), "router_mapping", None) or {}
        if train is not None:
            self.train_datasets = self.extract_dataset_metadata(train, self.train_datasets, loss, "train",
                                                                router_mapping)
        if evaluation is not None:
            self.eval_datasets = self.extract_dataset_metadata(evaluation, self.eval_datasets, loss, "eval",
                                                               router_mapping)
        self.set_losses(get_losses(loss) if loss is not None else [])
        if not self.widget and (evaluation is not None or train is not None):
            self.set_widget_examples(evaluation if evaluation is not None else train)

    def trainer_train_begin(self, args: Any, default_args: dict[str, Any] | None = None) -> None:
        """Record the training arguments (all, and those that differ from the defaults)."""
        try:
            values = args.to_dict()
        except Exception:
            values = dict(vars(args))
        self.all_hyperparameters = {k: v for k, v in values.items() if k not in _IGNORED_ARGUMENTS}
        if default_args is not None:
            self.non_default_hyperparameters = {k: v for k, v in self.all_hyperparameters.items()
                                                if k in default_args and v != default_args[k]}
        self._training_start_time = time.time()

    def trainer_log(self, logs: dict[str, Any], step: int, epoch: float | None) -> None:
        """Add a training-loss or evaluation-loss entry to the training log."""
        entry: dict[str, Any] = {}
        if "loss" in logs:
            entry["Training Loss"] = logs["loss"]
        losses = {" ".join(k.split("_")[1:]): v for k, v in logs.items() if k.startswith("eval_") and
                  k.endswith("_loss")}
        if len(losses) == 1 and "loss" in losses:
            losses = {"Validation Loss": losses["loss"]}
        entry.update(losses)
        if "eval_runtime" in logs:
            self.evaluation_duration += logs["eval_runtime"]
        if not entry:
            return
        if self.training_logs and self.training_logs[-1]["Step"] == step:
            self.training_logs[-1].update(entry)
        else:
            self.training_logs.append({"Epoch": epoch, "Step": step, **entry})

    # ------------------------------------------------------------------ datasets
    def infer_datasets(self, dataset: Any, dataset_name: str | None = None) -> list[dict[str, Any]]:
        """Name, split, size and (for Hub datasets) id and revision of each dataset."""
        if _is_dataset_dict(dataset):
            return [info for name, sub in dataset.items() for info in self.infer_datasets(sub, dataset_name=name)]
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

    def _compute_column_stats(self, dataset: Any, column: str, task: str | None = None) -> dict[str, Any]:
        """Statistics of one column over the first 100 rows (read in chunks of 8)."""
        n_total = min(len(dataset), 100)
        first = dataset[0][column]
        modality = _column_modality(first, getattr(self.model, "modalities", None))

        def chunks() -> Iterable[list[Any]]:
            for start in range(0, n_total, 8):
                yield dataset[start:start + 8][column]

        if isinstance(first, str):
            if modality in ("image", "audio", "video"):
                return {"dtype": "string", "modality": modality, "data": {}}
            stats, suffix = _MinMeanMax(), "characters"
            for chunk in chunks():
                lengths = self._token_lengths(list(chunk), task)
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

    def _token_lengths(self, texts: list[str], task: str | None) -> list[int] | None:
        """Token counts of ``texts`` with the model's tokenizer (None when the model cannot tokenize them)."""
        model = self.model
        if model is None:
            return None
        attempts = []
        if task is not None:
            attempts.append(lambda: model.preprocess(texts, task=task))
        attempts.append(lambda: model.preprocess(texts))
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None:
            max_length = getattr(model, "max_length", None)
            attempts.append(lambda: tokenizer(texts, max_length=max_length) if max_length else tokenizer(texts))
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

    def compute_dataset_metrics(self, dataset: Any, dataset_info: dict[str, Any], loss: Any,
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
                dataset_info["stats"][column] = self._compute_column_stats(
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
            dataset_info["examples_table"], _ = self._render_examples_table(dataset_info)
        dataset_info["loss"] = {"fullname": fullname(loss)}
        get_config = getattr(loss, "get_config_dict", None)
        if callable(get_config):
            config = {}
            for key, value in get_config().items():
                inner = getattr(loss, key, None)  # a sub-loss reported by its class name: describe the module
                if isinstance(value, str) and inner is not None and type(inner).__name__ == value:
                    value = inner
                config[key] = self._format_config_value(value)
            try:
                text = json.dumps(config, indent=4)
            except TypeError:
                text = pformat(config, indent=4)
            dataset_info["loss"]["config_code"] = indent(f"```json\n{text}\n```", "  ")
        return dataset_info

    @staticmethod
    def _format_config_value(value: Any) -> Any:
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

    def extract_dataset_metadata(self, dataset: Any, dataset_metadata: list[dict[str, Any]], loss: Any,
                                 dataset_type: str, router_mapping: dict[str, Any] | None = None
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
                dataset_metadata = self.infer_datasets(dataset)
            if is_dict:
                per_dataset = isinstance(next(iter(router_mapping.values()), None), dict)
                dataset_metadata = [
                    self.compute_dataset_metrics(
                        value, info, loss[name] if isinstance(loss, dict) else loss,
                        router_mapping=router_mapping.get(name, {}) if per_dataset else router_mapping)
                    for name, value, info in zip(dataset.keys(), dataset.values(), dataset_metadata)
                ]
            else:
                dataset_metadata = [self.compute_dataset_metrics(dataset, dataset_metadata[0], loss,
                                                                 router_mapping=router_mapping)]
        if dataset_type == "train":
            size = sum(info.get("size", 0) or 0 for info in dataset_metadata)
            if size:
                self.add_tags(f"dataset_size:{size}")
        if dataset and dataset_type == "train" and self.ir_model is None:
            if _is_dataset_dict(dataset):
                names = {c for sub in dataset.values() for c in (getattr(sub, "column_names", None) or [])}
            else:
                names = set(getattr(dataset, "column_names", None) or [])
            if {"query", "question"} & names:
                self.ir_model = True
        return self.validate_datasets(dataset_metadata)

    # ------------------------------------------------------------------ examples
    def set_widget_examples(self, dataset: Any) -> None:
        """Pick short rows of the dataset(s) as Hub widget inputs and usage examples."""
        if _is_iterable_dataset(dataset):
            return
        if not _is_dataset_dict(dataset):
            dataset = {"dataset": dataset}
        self.widget = []
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
                if self.pipeline_tag == "sentence-similarity":
                    self.widget.append({"source_sentence": texts[0],
                                        "sentences": random.sample(texts[1:], k=len(texts) - 1)})
                else:
                    self.widget.append({"text": random.choice(texts)})
                self.usage_examples = texts[:4]
        if self.model is not None and any(m not in ("text", "message")
                                          for m in getattr(self.model, "modalities", None) or ["text"]):
            self._set_multimodal_usage_examples(dataset)

    def _set_multimodal_usage_examples(self, dataset: Any) -> None:
        """Use non-text columns as usage examples for a model that supports non-text modalities."""
        modalities = [m for m in getattr(self.model, "modalities", None) or [] if m not in ("text", "message")]
        for sub in dataset.values():
            if not _is_mapping_dataset(sub) or len(sub) == 0:
                continue
            first = sub[0]
            for column, value in first.items():
                if _column_modality(value, modalities) in modalities and not isinstance(value, str):
                    examples, seen = [], set()
                    for row_idx in range(min(len(sub), 20)):
                        item = sub[row_idx][column]
                        key = self._hash_asset(item)
                        if key is not None and key in seen:
                            continue
                        if key is not None:
                            seen.add(key)
                        examples.append(item)
                        if len(examples) >= 3:
                            break
                    self.usage_examples = examples
                    return

    @staticmethod
    def _is_typed_media_dict(item: Any) -> bool:
        """An audio dict (``array`` + ``sampling_rate``) or video dict (``array`` + ``video_metadata``)."""
        return isinstance(item, dict) and "array" in item and ("sampling_rate" in item or "video_metadata" in item)

    @staticmethod
    def _hash_asset(value: Any) -> int | None:
        if _is_image(value):
            return hash((value.tobytes(), value.size, value.mode))
        if isinstance(value, dict) and "array" in value:
            array = value["array"]
            if hasattr(array, "cpu"):
                array = array.cpu().numpy()
            if hasattr(array, "tobytes"):
                return hash((array.tobytes(), getattr(array, "shape", None), value.get("sampling_rate")))
        return None

    def _save_asset(self, value: Any, assets_dir: str, idx: int, prefix: str = "") -> str | None:
        """Write a non-text example (images are supported) under ``assets/``; returns its relative path."""
        key = self._hash_asset(value)
        if key is not None and key in self._asset_cache:
            return self._asset_cache[key]
        if _is_image(value):
            os.makedirs(assets_dir, exist_ok=True)
            filename = f"{prefix}image_{idx}.jpg"
            value.convert("RGB").save(os.path.join(assets_dir, filename))
            rel_path = f"assets/{filename}"
            if key is not None:
                self._asset_cache[key] = rel_path
            return rel_path
        logger.warning(f"Could not save predict example asset of type {type(value).__name__}")
        return None

    def save_usage_example_assets(self) -> None:
        """Save non-text usage examples under ``<save_dir>/assets`` and point ``usage_examples_display`` at them."""
        if not self.save_dir or not self.usage_examples:
            return
        if all(isinstance(item, str) or (isinstance(item, list) and all(isinstance(x, str) for x in item))
               for item in self.usage_examples):
            return
        assets_dir = os.path.join(self.save_dir, "assets")
        counter = 0

        def convert(value: Any) -> Any:
            nonlocal counter
            if isinstance(value, str):
                return value
            rel_path = self._save_asset(value, assets_dir, counter)
            if rel_path:
                counter += 1
                return rel_path
            return f"<{type(value).__name__}>"

        display = []
        for item in self.usage_examples:
            if isinstance(item, list):
                display.append([convert(x) for x in item])
            elif isinstance(item, dict) and not self._is_typed_media_dict(item):
                display.append({k: convert(v) for k, v in item.items()})
            else:
                display.append(convert(item))
        self.usage_examples_display = display

    @staticmethod
    def _prepare_for_inference(value: Any) -> Any:
        """The value as the model's encode accepts it (nested dicts are converted item by item)."""
        if isinstance(value, dict):
            return {k: BaseModelCardData._prepare_for_inference(v) for k, v in value.items()}
        return value

    def _render_examples_table(self, dataset_info: dict[str, Any], asset_counter: int = 0) -> tuple[str, int]:
        columns = dataset_info["_example_columns"]
        examples = dataset_info["examples"]
        if not examples:
            return "", asset_counter
        num_rows = len(examples[list(examples)[0]])
        rows = []
        for idx in range(num_rows):
            row = {}
            for column in columns:
                row[column], asset_counter = self._format_and_save_example(examples[column][idx], asset_counter)
            rows.append(row)
        return indent(make_markdown_table(rows).replace("-:|", "--|"), "  "), asset_counter

    def _format_and_save_example(self, value: Any, counter: int) -> tuple[str, int]:
        if not _is_image(value) or not self.save_dir:
            return f"<code>{self._format_example_value(value)}</code>", counter
        key = self._hash_asset(value)
        if key is not None and key in self._asset_cache:
            return f'<img src="{self._asset_cache[key]}" width="200">', counter
        rel_path = self._save_asset(value, os.path.join(self.save_dir, "assets"), counter, prefix="example_")
        if rel_path:
            return f'<img src="{rel_path}" width="200">', counter + 1
        return f"<code>{self._format_example_value(value)}</code>", counter

    @staticmethod
    def _format_example_value(value: Any) -> str:
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

    def _asset_path_to_url(self, relative_path: str) -> str:
        if self.model_id:
            return f"https://huggingface.co/{self.model_id}/resolve/main/{relative_path}"
        return relative_path

    def _format_snippet_value(self, value: Any) -> str:
        """A value as Python source for the usage snippet (asset paths become Hub URLs when ``model_id`` is set)."""
        if isinstance(value, str) and value.startswith("assets/"):
            return repr(self._asset_path_to_url(value))
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self._format_snippet_value(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self._format_snippet_value(v) for v in value) + "]"
        return repr(value)

    def _get_snippet_output_dimensionality(self) -> int | str:
        if self.model is not None:
            try:
                dimension = self.model.get_embedding_dimension()
                if dimension is not None:
                    return dimension
            except Exception:
                pass
        return "?"

    # ------------------------------------------------------------------ usage snippet
    def run_usage_snippet(self) -> None:
        """Fill default usage examples (subclasses also run the model on them)."""
        if self.usage_examples is None:
            self.usage_examples = ["The weather is lovely today.", "It's so sunny outside!",
                                   "He drove to the stadium."]

    def generate_usage_snippet(self) -> str:
        """The fenced Python block showing how to load and run the model."""
        display = self.usage_examples_display or self.usage_examples
        if not display:
            return self._generate_text_snippet(None)
        source = self.usage_examples or display
        if any(not isinstance(item, (str, list)) for item in source):
            return self._generate_non_text_snippet(display)
        return self._generate_text_snippet(display)

    def _snippet_header(self, comment: str = "# Run inference") -> list[str]:
        model_id = self.model_id or self._snippet_default_model_id
        return [f"from sentence_transformers import {self._snippet_model_class}", "", "# Download from the 🤗 Hub",
                f'model = {self._snippet_model_class}("{model_id}")', comment]

    def _similarity_tail(self, n_rows: int, n_cols: int) -> list[str]:
        if self.similarities:
            return ["print(similarities)", self.similarities]
        return ["print(similarities.shape)", f"# [{n_rows}, {n_cols}]"]

    def _generate_text_snippet(self, display: list[str] | None) -> str:
        examples = display or ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.",
                               "He drove to the stadium."]
        lines = self._snippet_header() + ["sentences = ["] + [f"    {text!r}," for text in examples]
        lines += ["]", "embeddings = model.encode(sentences)", "print(embeddings.shape)",
                  f"# [{len(examples)}, {self._get_snippet_output_dimensionality()}]", "",
                  "# Get the similarity scores for the embeddings",
                  "similarities = model.similarity(embeddings, embeddings)"]
        lines += self._similarity_tail(len(examples), len(examples))
        return "```python\n" + "\n".join(lines) + "\n```"

    def _generate_non_text_snippet(self, display: list[Any]) -> str:
        lines = self._snippet_header() + ["inputs = ["] + [f"    {self._format_snippet_value(x)}," for x in display]
        lines += ["]", "embeddings = model.encode(inputs)", "print(embeddings.shape)",
                  f"# [{len(display)}, {self._get_snippet_output_dimensionality()}]", "",
                  "# Get the similarity scores for the embeddings",
                  "similarities = model.similarity(embeddings, embeddings)"]
        lines += self._similarity_tail(len(display), len(display))
        return "```python\n" + "\n".join(lines) + "\n```"

    # ------------------------------------------------------------------ formatting
    def format_eval_metrics(self) -> dict[str, Any]:
        """Evaluation results as tables (grouped per evaluator class), metric names and the Hub ``model-index``."""
        from huggingface_hub.repocard_data import (
            EvalResult,
            eval_results_to_model_index,
        )

        eval_metrics, all_metrics, eval_results = [], {}, []
        for evaluator, metrics in self.eval_results_dict.items():
            name = getattr(evaluator, "name", None)
            primary = getattr(evaluator, "primary_metric", None)
            if name and all(key.startswith(name + "_") for key in metrics):
                metrics = {key[len(name) + 1:]: value for key, value in metrics.items()}
                if primary and primary.startswith(name + "_"):
                    primary = primary[len(name) + 1:]
            metrics = {key: _to_python(value) for key, value in metrics.items()}
            rows = [{"Metric": f"**{key}**" if key == primary else key,
                     "Value": f"**{format_log(value)}**" if key == primary else format_log(value)}
                    for key, value in metrics.items()]
            description = getattr(evaluator, "description", type(evaluator).__name__)
            config_code = ""
            get_config = getattr(evaluator, "get_config_dict", None)
            config = get_config() if callable(get_config) else None
            if config:
                try:
                    text = json.dumps(config, indent=4)
                except TypeError:
                    text = str(config)
                config_code = indent(f"```json\n{text}\n```", "  ")
            eval_metrics.append({"class_name": fullname(evaluator), "description": description,
                                 "dataset_name": name, "table_lines": rows, "config_code": config_code})
            for key, value in metrics.items():
                number = _to_float(value)
                if number is None:
                    continue
                eval_results.append(EvalResult(
                    task_name=description, task_type=description.lower().replace(" ", "-"),
                    dataset_type=name or "unknown",
                    dataset_name=name.replace("_", " ").replace("-", " ") if name else "Unknown",
                    metric_name=key.replace("_", " ").title(), metric_type=key, metric_value=number))
            all_metrics.update(metrics)

        grouped: list[dict[str, Any]] = []
        for entry in eval_metrics:
            mapping = {row["Metric"]: row["Value"] for row in entry["table_lines"]}
            for group in grouped:
                if (entry["class_name"] == group["class_name"]
                        and set(mapping) == {row["Metric"] for row in group["table_lines"]}
                        and entry["dataset_name"] != group["dataset_name"]
                        and entry["config_code"] == group["config_code"]):
                    for row in group["table_lines"]:
                        if "Value" in row:
                            row[group["dataset_name"]] = row.pop("Value")
                        row[entry["dataset_name"]] = mapping[row["Metric"]]
                    if not isinstance(group["dataset_name"], list):
                        group["dataset_name"] = [group["dataset_name"]]
                    group["dataset_name"].append(entry["dataset_name"])
                    break
            else:
                grouped.append(entry)
        for group in grouped:
            group["table"] = make_markdown_table(group.pop("table_lines")).replace("-:|", "--|")
        return {"eval_metrics": grouped, "metrics": list(all_metrics),
                "model-index": eval_results_to_model_index(self.model_name, eval_results)}

    def format_training_logs(self) -> dict[str, Any]:
        """The training log as a markdown table (the best checkpoint's row in bold)."""
        keys: list[str] = []
        for line in self.training_logs:
            for key in line:
                if key not in keys:
                    keys.append(key)
        fixed = {"Epoch": 0, "Step": 1, "Training Loss": 2, "Validation Loss": 3}

        def order(key: str) -> int:
            if key in fixed:
                return fixed[key]
            return 4 if key.endswith("loss") else keys.index(key) + 5

        keys = sorted(keys, key=order)
        rows = [{key: f"**{format_log(line[key]) if key in line else '-'}**" if line["Step"] == self.best_model_step
                 else line.get(key, "-") for key in keys} for line in self.training_logs]
        table = make_markdown_table(rows)
        return {"eval_lines": table, "explain_bold_in_eval": "**" in table}

    def get_training_duration_data(self) -> dict[str, str | None]:
        if self._training_start_time is None:
            return {"training_time": None, "evaluation_time": None, "total_time": None}
        total = time.time() - self._training_start_time
        return {
            "training_time": format_duration(total - self.evaluation_duration),
            "evaluation_time": format_duration(self.evaluation_duration) if self.evaluation_duration else None,
            "total_time": format_duration(total) if self.evaluation_duration else None,
        }

    def get_codecarbon_data(self) -> dict[str, Any]:
        data = self.code_carbon_callback.tracker._prepare_emissions_data()
        emissions = {"emissions": float(data.emissions) * 1000, "energy_consumed": float(data.energy_consumed),
                     "source": "codecarbon", "training_type": "fine-tuning", "on_cloud": data.on_cloud == "Y",
                     "cpu_model": data.cpu_model, "ram_total_size": data.ram_total_size}
        if data.gpu_model:
            emissions["hardware_used"] = data.gpu_model
        return {"co2_eq_emissions": emissions}

    def get_model_specific_metadata(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        modalities = getattr(self.model, "modalities", None) or ["text"]
        transformer = next((m for m in getattr(self.model, "modules", lambda: [])()
                            if hasattr(m, "query_length") or hasattr(m, "document_length")), None)
        max_length = getattr(self.model, "max_seq_length", None)
        if max_length is None:
            max_length = getattr(self.model, "max_length", None)
        return {
            "model_max_length": max_length,
            "model_string": str(self.model),
            "supported_modalities": [_modality_title(m) for m in modalities],
            "query_length": getattr(transformer, "query_length", None),
            "document_length": getattr(transformer, "document_length", None),
        }

    def get_default_model_name(self) -> str:
        name = type(self.model).__name__ if self.model is not None else self._snippet_model_class
        return f"{name} based on {self.base_model}" if self.base_model else name

    def _apply_training_summary(self) -> None:
        """Fill the hyperparameters and the training log from the trainer's ``model.training_summary``."""
        summary = getattr(self.model, "training_summary", None)
        if not isinstance(summary, dict):
            return
        arguments = {k: v for k, v in (summary.get("arguments") or {}).items() if k not in _IGNORED_ARGUMENTS}
        if arguments and not self.non_default_hyperparameters:
            self.non_default_hyperparameters = dict(arguments)
        if not self.all_hyperparameters:
            args = getattr(self, "_trainer_args", None)
            try:
                every = args.to_dict() if args is not None else dict(arguments)
            except Exception:
                every = dict(arguments)
            self.all_hyperparameters = {k: getattr(v, "value", v) for k, v in every.items()
                                        if k not in _IGNORED_ARGUMENTS}
        by_step = {line["Step"]: line for line in self.training_logs}
        for entry in summary.get("log_history") or []:
            if "step" not in entry:
                continue
            values: dict[str, Any] = {}
            if "loss" in entry:
                values["Training Loss"] = entry["loss"]
            losses = {" ".join(k.split("_")[1:]): v for k, v in entry.items()
                      if k.startswith("eval_") and k.endswith("_loss")}
            values.update({"Validation Loss": losses["loss"]} if list(losses) == ["loss"] else losses)
            if not values:
                continue
            line = by_step.setdefault(entry["step"], {"Epoch": entry.get("epoch"), "Step": entry["step"]})
            line.update(values)
        self.training_logs = sorted(by_step.values(), key=lambda line: line["Step"])

    def to_dict(self) -> dict[str, Any]:
        """Everything the card renders (also what ``to_yaml`` draws the front matter from)."""
        if self.first_save and not self.base_model:
            try:
                self.try_to_set_base_model()
            except Exception:
                pass
        if not self.model_name:
            self.model_name = self.get_default_model_name()
        if self.ir_model is None and self.eval_results_dict:
            try:
                self.try_to_set_ir_model_from_evaluators()
            except Exception as exc:
                logger.warning(f"Error while inferring ir_model from evaluators: {exc}")
        try:
            self._apply_training_summary()
        except Exception as exc:
            logger.warning(f"Error while reading the training summary: {exc}")
        try:
            self.run_usage_snippet()
        except Exception as exc:
            logger.warning(f"Error while computing usage snippet output: {exc}")
        self._asset_cache = {}
        try:
            self.save_usage_example_assets()
        except Exception as exc:
            logger.warning(f"Error while saving usage example assets: {exc}")
        if self.save_dir:
            counter = 0
            for dataset_list in (self.train_datasets, self.eval_datasets):
                for info in dataset_list:
                    if "examples" in info and "_example_columns" in info:
                        try:
                            info["examples_table"], counter = self._render_examples_table(info, counter)
                        except Exception as exc:
                            logger.warning(f"Error while re-rendering examples table: {exc}")
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        try:
            data["usage_snippet"] = self.generate_usage_snippet()
        except Exception as exc:
            logger.warning(f"Error while generating usage snippet: {exc}")
            data["usage_snippet"] = ""
        if self.eval_results_dict:
            try:
                data.update(self.format_eval_metrics())
            except Exception as exc:
                logger.warning(f"Error while formatting evaluation metrics: {exc}")
        if self.training_logs:
            try:
                data.update(self.format_training_logs())
            except Exception as exc:
                logger.warning(f"Error while formatting training logs: {exc}")
        data["hide_eval_lines"] = len(self.training_logs) > 100
        tracker = getattr(self.code_carbon_callback, "tracker", None)
        if tracker is not None and getattr(tracker, "_start_time", None) is not None:
            data.update(self.get_codecarbon_data())
        data.update(self.get_training_duration_data())
        data.update(self.get_model_specific_metadata())
        self.first_save = False
        for key in IGNORED_FIELDS:
            data.pop(key, None)
        self._cached_dict = data
        return data

    def to_yaml(self, line_break: str | None = None) -> str:
        """The YAML front matter (language, license, library_name, tags, base_model, datasets, metrics, ...)."""
        from huggingface_hub.utils import yaml_dump

        data = self._cached_dict if self._cached_dict is not None else self.to_dict()
        self._cached_dict = None
        return yaml_dump({k: v for k, v in data.items() if k in YAML_FIELDS and v not in (None, [])},
                         sort_keys=False, line_break=line_break).strip()

    # ------------------------------------------------------------------ rendering
    def _card_title(self, data: dict[str, Any]) -> str:
        return data.get("model_name") or "Sentence Transformer model"

    def _card_intro(self, data: dict[str, Any], finetuned: str, datasets_text: str) -> str:
        return (f"This is a [sentence-transformers](https://www.SBERT.net) model{finetuned}{datasets_text}. It maps "
                f"inputs to a {data.get('output_dimensionality')}-dimensional dense vector space and can be used for "
                f"{data.get('task_name')}.")

    def _card_model_type(self, data: dict[str, Any]) -> str:
        return "Sentence Transformer"

    def _card_details_lines(self, data: dict[str, Any]) -> list[str]:
        lines = [f"- **Maximum Sequence Length:** {data.get('model_max_length')} tokens"]
        if data.get("query_length"):
            lines.append(f"    - **Maximum Query Length:** {data['query_length']} tokens")
        if data.get("document_length"):
            lines.append(f"    - **Maximum Document Length:** {data['document_length']} tokens")
        lines.append(f"- **Output Dimensionality:** {data.get('output_dimensionality')} dimensions")
        lines.append(f"- **Similarity Function:** {data.get('similarity_fn_name')}")
        return lines

    def _card_sources(self) -> list[str]:
        return ["- **Documentation:** [Sentence Transformers Documentation](https://sbert.net)",
                "- **Repository:** [Sentence Transformers on GitHub](https://github.com/huggingface/sentence-transformers)",
                "- **Hugging Face:** [Sentence Transformers on Hugging Face](https://huggingface.co/models?library="
                "sentence-transformers)"]

    def _card_resources(self) -> list[str]:
        return ["- [Training and Finetuning Embedding Models with Sentence Transformers](https://huggingface.co/blog/"
                "train-sentence-transformers): the end-to-end guide for training or finetuning Sentence Transformer "
                "models.",
                "- [Introduction to Matryoshka Embedding Models](https://huggingface.co/blog/matryoshka): "
                "variable-size embeddings that can be truncated with minimal quality loss.",
                "- [Binary and Scalar Embedding Quantization for Significantly Faster & Cheaper Retrieval]"
                "(https://huggingface.co/blog/embedding-quantization): post-training compression of embedding "
                "vectors."]

    def render(self) -> str:
        """The full README.md text (front matter + body)."""
        data = self.to_dict()
        yaml_text = self.to_yaml()
        return _render_card(self, data, yaml_text)


def _to_python(value: Any) -> Any:
    try:
        if hasattr(value, "dtype") and hasattr(value, "item"):
            return value.item()
    except Exception:
        pass
    return value


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except Exception:
        pass
    if isinstance(value, str) and " " in value:
        return _to_float(value.split()[0])
    return None


def _modality_title(modality: Any) -> str:
    if isinstance(modality, tuple):
        return " + ".join(str(m) for m in modality).title()
    return str(modality).title()


def _named_datasets(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dataset for dataset in datasets if dataset.get("name")]


def _dataset_link(dataset: dict[str, Any]) -> str:
    if dataset.get("id"):
        return f"[{dataset.get('name') or dataset['id']}](https://huggingface.co/datasets/{dataset['id']})"
    return str(dataset["name"])


def _columns_text(columns: list[str]) -> str:
    if len(columns) == 1:
        return columns[0]
    if len(columns) == 2:
        return f"{columns[0]} and {columns[1]}"
    return ", ".join(columns[:-1]) + ", and " + columns[-1]


def _render_card(card: BaseModelCardData, data: dict[str, Any], yaml_text: str) -> str:
    """Assemble the markdown body; blocks are joined so that no two blank lines follow each other."""
    named = _named_datasets(data.get("train_datasets") or [])
    finetuned = (f" finetuned from [{data['base_model']}](https://huggingface.co/{data['base_model']})"
                 if data.get("base_model") else " trained")
    datasets_text = ""
    if named:
        if len(", ".join(str(d["name"]) for d in named)) > 200:
            datasets_text = f" on {len(data.get('train_datasets') or [])}"
        else:
            datasets_text = " on the " + _join_names([_dataset_link(d) for d in named])
        datasets_text += " datasets" if len(named) > 1 else " dataset"

    out: list[str] = [
        "---",
        "# For reference on model card metadata, see the spec: https://github.com/huggingface/hub-docs/blob/main/"
        "modelcard.md?plain=1",
        "# Doc / guide: https://huggingface.co/docs/hub/model-cards",
        yaml_text,
        "---",
        "",
        f"# {card._card_title(data)}",
        "",
        card._card_intro(data, finetuned, datasets_text),
        "",
        "## Model Details",
        "",
        "### Model Description",
        f"- **Model Type:** {card._card_model_type(data)}",
    ]
    if data.get("base_model"):
        line = f"- **Base model:** [{data['base_model']}](https://huggingface.co/{data['base_model']})"
        if data.get("base_model_revision"):
            line += f" <!-- at revision {data['base_model_revision']} -->"
        out.append(line)
    else:
        out.append("<!-- - **Base model:** [Unknown](https://huggingface.co/unknown) -->")
    out += card._card_details_lines(data)
    modalities = data.get("supported_modalities")
    if modalities:
        out.append(f"- **Supported Modalit{'ies' if len(modalities) > 1 else 'y'}:** {', '.join(modalities)}")
    if named:
        out.append(f"- **Training Dataset{'s' if len(named) > 1 else ''}:**")
        out += [f"    - {_dataset_link(d)}" for d in named]
    else:
        out.append("<!-- - **Training Dataset:** Unknown -->")
    language = data.get("language")
    if language:
        languages = [language] if isinstance(language, str) else list(language)
        out.append(f"- **Language{'s' if len(languages) > 1 else ''}:** {', '.join(languages)}")
    else:
        out.append("<!-- - **Language:** Unknown -->")
    out.append(f"- **License:** {data['license']}" if data.get("license") else "<!-- - **License:** Unknown -->")
    out += ["", "### Model Sources", ""] + card._card_sources()
    out += ["", "### Full Model Architecture", "", "```", str(data.get("model_string")), "```", "", "## Usage", "",
            "### Direct Usage (Sentence Transformers)", "", "First install the Sentence Transformers library:", "",
            "```bash", "pip install -U sentence-transformers", "```", "",
            "Then you can load this model and run inference.", data.get("usage_snippet") or "", ""]
    out += ["<!--", "### Direct Usage (Transformers)", "",
            "<details><summary>Click to see the direct usage in Transformers</summary>", "", "</details>", "-->", "",
            "<!--", "### Downstream Usage (Sentence Transformers)", "",
            "You can finetune this model on your own dataset.", "", "<details><summary>Click to expand</summary>", "",
            "</details>", "-->", "", "<!--", "### Out-of-Scope Use", "",
            "*List how the model may foreseeably be misused and address what users ought not to do with the "
            "model.*", "-->", ""]

    if data.get("eval_metrics"):
        out += ["## Evaluation", "", "### Metrics"]
        for metrics in data["eval_metrics"]:
            out += ["", f"#### {metrics['description']}", ""]
            names = metrics.get("dataset_name")
            if names:
                if isinstance(names, str):
                    out.append(f"* Dataset: `{names}`")
                else:
                    out.append(f"* Datasets: {_join_names([f'`{n}`' for n in names])}"
                               if len(names) > 1 else f"* Dataset: `{names[0]}`")
            class_name = metrics["class_name"]
            short = class_name.split(".")[-1]
            if _is_library_path(class_name):
                evaluated = (f"[<code>{short}</code>](https://sbert.net/docs/package_reference/{card._docs_section}/"
                             f"evaluation.html#sentence_transformers.{card._docs_section}.evaluation.{short})")
            else:
                evaluated = f"<code>{class_name}</code>"
            line = f"* Evaluated with {evaluated}"
            if metrics.get("config_code"):
                out += [line + " with these parameters:", metrics["config_code"]]
            else:
                out.append(line)
            out += ["", metrics["table"].rstrip("\n")]
        out.append("")

    out += ["<!--", "## Bias, Risks and Limitations", "",
            "*What are the known or foreseeable issues stemming from this model? You could also flag here known "
            "failure cases or weaknesses of the model.*", "-->", "", "<!--", "### Recommendations", "",
            "*What are recommendations with respect to the foreseeable issues? For example, filtering explicit "
            "content.*", "-->", "", "## Training Details"]

    for dataset_type, dataset_list in (("training", data.get("train_datasets") or []),
                                       ("evaluation", data.get("eval_datasets") or [])):
        if not dataset_list:
            continue
        many = len(dataset_list) > 3
        out += ["", f"### {dataset_type.title()} Dataset{'s' if len(dataset_list) > 1 else ''}"]
        for position, dataset in enumerate(dataset_list):
            title = dataset.get("name") or "Unnamed Dataset"
            if many:
                out.append(("</details>\n" if position else "") + f"<details><summary>{title}</summary>")
            out += ["", f"#### {title}", ""]
            if dataset.get("name"):
                line = f"* Dataset: {_dataset_link(dataset) if 'id' in dataset else dataset['name']}"
                if "revision" in dataset and "id" in dataset:
                    line += (f" at [{dataset['revision'][:7]}](https://huggingface.co/datasets/{dataset['id']}/tree/"
                             f"{dataset['revision']})")
                out.append(line)
            if dataset.get("size"):
                out.append(f"* Size: {dataset['size']:,} {dataset_type} samples")
            if dataset.get("columns"):
                out.append(f"* Columns: {_columns_text(dataset['columns'])}")
            if dataset.get("stats_table"):
                out.append(f"* Approximate statistics based on the first {min(dataset.get('size') or 100, 100)} "
                           "samples:")
                out.append(dataset["stats_table"].rstrip("\n"))
            if dataset.get("examples_table"):
                out.append("* Samples:")
                out.append(dataset["examples_table"].rstrip("\n"))
            loss = dataset.get("loss") or {}
            if loss.get("fullname"):
                loss_name = loss["fullname"]
                short = loss_name.split(".")[-1]
                if _is_library_path(loss_name):
                    text = (f"* Loss: [<code>{short}</code>](https://sbert.net/docs/package_reference/"
                            f"{card._docs_section}/losses.html#{short.lower()})")
                else:
                    text = f"* Loss: <code>{loss_name}</code>"
                if "config_code" in loss:
                    out += [text + " with these parameters:", loss["config_code"]]
                else:
                    out.append(text)
        if many:
            out.append("</details>")

    if data.get("all_hyperparameters") or data.get("non_default_hyperparameters"):
        out += ["", "### Training Hyperparameters"]
        if data.get("non_default_hyperparameters"):
            out += ["#### Non-Default Hyperparameters", ""]
            out += [f"- `{k}`: {v}" for k, v in data["non_default_hyperparameters"].items()]
            out.append("")
        if data.get("all_hyperparameters"):
            out += ["#### All Hyperparameters", "<details><summary>Click to expand</summary>", ""]
            out += [f"- `{k}`: {v}" for k, v in data["all_hyperparameters"].items()]
            out += ["", "</details>"]

    if data.get("eval_lines"):
        out += ["", "### Training Logs"]
        if data.get("hide_eval_lines"):
            out += ["<details><summary>Click to expand</summary>", ""]
        out.append(data["eval_lines"].rstrip("\n"))
        if data.get("explain_bold_in_eval"):
            out.append("* The bold row denotes the saved checkpoint.")
        if data.get("hide_eval_lines"):
            out.append("</details>")

    emissions = data.get("co2_eq_emissions")
    if emissions:
        out += ["", "### Environmental Impact",
                "Carbon emissions were measured using [CodeCarbon](https://github.com/mlco2/codecarbon).",
                f"- **Energy Consumed**: {emissions['energy_consumed']:.3f} kWh",
                f"- **Carbon Emitted**: {emissions['emissions'] / 1000:.3f} kg of CO2", "", "### Training Hardware",
                f"- **On Cloud**: {'Yes' if emissions['on_cloud'] else 'No'}",
                f"- **GPU Model**: {emissions.get('hardware_used') or 'No GPU used'}",
                f"- **CPU Model**: {emissions['cpu_model']}",
                f"- **RAM Size**: {emissions['ram_total_size']:.2f} GB"]
    if data.get("training_time") is not None:
        out += ["", "### Training Time", f"- **Training**: {data['training_time']}"]
        if data.get("evaluation_time") is not None:
            out += [f"- **Evaluation**: {data['evaluation_time']}", f"- **Total**: {data['total_time']}"]

    version = data.get("version") or {}
    out += ["", "### Framework Versions", f"- Python: {version.get('python')}", f"- embedkit: {version.get('embedkit')}",
            f"- Sentence Transformers: {version.get('sentence_transformers')}",
            f"- Transformers: {version.get('transformers')}", f"- PyTorch: {version.get('torch')}",
            f"- Accelerate: {version.get('accelerate')}", f"- Datasets: {version.get('datasets')}",
            f"- Tokenizers: {version.get('tokenizers')}", "", "## Additional Resources", ""]
    out += card._card_resources()
    out += ["", "## Citation", "", "### BibTeX"]
    for loss_name, citation in (data.get("citations") or {}).items():
        out += ["", f"#### {loss_name}", "```bibtex", citation.strip(), "```"]
    out += ["", "<!--", "## Glossary", "", "*Clearly define terms in order to be accessible across audiences.*", "-->",
            "", "<!--", "## Model Card Authors", "",
            "*Lists the people who create the model card, providing recognition and accountability for the detailed "
            "work that goes into its construction.*", "-->", "", "<!--", "## Model Card Contact", "",
            "*Provides a way for people who have updates to the Model Card, suggestions, or questions, to contact the "
            "Model Card authors.*", "-->"]
    text = "\n".join(out) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


# ---------------------------------------------------------------------------------------------------- trainer glue
def _trainer_datasets(trainer: Any, kind: str) -> Any:
    """The trainer's train/eval dataset as the user gave it: one dataset, or a dict of named datasets."""
    datasets = getattr(trainer, f"{kind}_datasets", None)
    if isinstance(datasets, dict):
        if not datasets:
            return None
        if list(datasets) == [""] or (len(datasets) == 1 and not getattr(trainer, "multi_dataset", True)):
            return next(iter(datasets.values()))
        return dict(datasets)
    return getattr(trainer, f"{kind}_dataset", None)


def _trainer_loss(trainer: Any) -> Any:
    losses = getattr(trainer, "losses", None)
    if isinstance(losses, dict):
        if not losses:
            return None
        if list(losses) == [""]:
            return losses[""]
        return dict(losses)
    return getattr(trainer, "loss", None)


# ---------------------------------------------------------------------------------------------------- entry points
def generate_model_card(model: Any) -> str:
    """The README.md text of ``model`` from its ``model_card_data`` (asset paths become Hub URLs when the card has
    a ``model_id``).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path())
        >>> model.model_card_data.local_files_only = True
        >>> model.model_card_data.generate_widget_examples = False
        >>> card = generate_model_card(model)
        >>> card.startswith("---") and "library_name: sentence-transformers" in card
        True
    """
    card = model.model_card_data
    if getattr(card, "model", None) is None and hasattr(card, "register_model"):
        card.register_model(model)
    content = card.render()
    model_id = getattr(card, "model_id", None)
    if model_id:
        content = content.replace('src="assets/', f'src="https://huggingface.co/{model_id}/resolve/main/assets/')
    return content


def write_model_card(model: Any, path: str | os.PathLike, model_name: str | None = None) -> None:
    """Write ``README.md`` into ``path``: the card the model was loaded with when it was not trained since,
    otherwise a freshly generated one (``model_name`` that is not a local path becomes the card's ``model_id``)."""
    card = getattr(model, "model_card_data", None)
    if card is None:
        return
    if model_name and not Path(model_name).exists() and not card.model_id:
        card.model_id = model_name
    card.save_dir = os.fspath(path)
    previous = getattr(model, "_model_card_text", None)
    if previous and "generated_from_trainer" not in card.tags:
        text = previous
        if card.model_id:
            cls = type(model).__name__
            text = text.replace(f'model = {cls}("{card._snippet_default_model_id}"', f'model = {cls}("{card.model_id}"')
    else:
        try:
            text = generate_model_card(model)
        except Exception:
            logger.exception("Error while generating model card; skipping model card creation.")
            return
    Path(path, "README.md").write_text(text, encoding="utf-8")


MAX_README_BYTES = 16 << 20  # a model card is kilobytes; a larger README is not read (the card is regenerated)


def read_model_card_text(folder: Path) -> str | None:
    """The README.md of a loaded model folder (kept so an untrained model re-saves its original card)."""
    from embedkit.model_files import read_model_text

    try:  # a FIFO, a device, a link out of the folder or a huge file is not read: the card is then regenerated
        return read_model_text(Path(folder) / "README.md", MAX_README_BYTES)
    except (OSError, ValueError) as exc:
        if os.path.lexists(Path(folder) / "README.md"):
            logger.warning("not reading the model card: %s", exc)
        return None
