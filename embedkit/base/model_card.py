"""Model cards: the README.md that ``save`` writes next to the weights, built from ``model.model_card_data``.

:class:`BaseModelCardData` collects what a card reports (base model, datasets with statistics and examples, losses,
hyperparameters, training logs, evaluation results, a usage snippet). The trainer fills it when it is created
(:meth:`BaseModelCardData.trainer_init`) and when it finishes; :func:`generate_model_card` renders it to markdown
with YAML front matter in the layout of sentence-transformers' cards. The text is built with plain Python (no
template engine). ``get_model_info`` / ``get_dataset_info`` are the Hub look-ups the card uses (skipped when
``local_files_only`` is set).

``training_card_section`` renders the compact summary the trainer stores as ``model.training_summary``.

The card's parts live in sibling modules, and every name they define stays importable from here:
:mod:`~embedkit.base.model_card_datasets` (dataset statistics), :mod:`~embedkit.base.model_card_examples` (widget
and usage examples, saved assets, the usage snippet), :mod:`~embedkit.base.model_card_training` (what the trainer
records: hyperparameters, logs, evaluation results), :mod:`~embedkit.base.model_card_render` (the markdown layout)
and :mod:`~embedkit.base.model_card_format` (text helpers). The methods of :class:`BaseModelCardData` delegate to
them, so subclasses override the methods as before.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from huggingface_hub import CardData
from huggingface_hub import dataset_info as get_dataset_info
from huggingface_hub import model_info as get_model_info

from embedkit.base import model_card_datasets, model_card_examples, model_card_training
from embedkit.base.model_card_datasets import (  # noqa: F401  (re-exported: importable from here as before)
    _MEDIA_EXTENSIONS,
    _column_modality,
    _is_dataset_dict,
    _is_image,
    _is_iterable_dataset,
    _is_mapping_dataset,
    _MinMeanMax,
)
from embedkit.base.model_card_format import (  # noqa: F401  (re-exported: importable from here as before)
    _cell,
    _fmt,
    _is_library_path,
    _join_names,
    _modality_title,
    _to_float,
    _to_python,
    format_duration,
    format_log,
    fullname,
    get_versions,
    make_markdown_table,
    training_card_section,
)
from embedkit.base.model_card_render import (  # noqa: F401  (re-exported: importable from here as before)
    _columns_text,
    _dataset_link,
    _named_datasets,
    _render_card,
)
from embedkit.base.model_card_training import (  # noqa: F401  (re-exported: importable from here as before)
    _IGNORED_ARGUMENTS,
    _trainer_datasets,
    _trainer_loss,
    get_losses,
)

logger = logging.getLogger(__name__)

__all__ = ["BaseModelCardData", "generate_model_card", "get_dataset_info", "get_model_info", "make_markdown_table",
           "training_card_section", "write_model_card"]

YAML_FIELDS = ["language", "license", "library_name", "tags", "datasets", "metrics", "pipeline_tag", "widget",
               "model-index", "co2_eq_emissions", "base_model"]
IGNORED_FIELDS = ["model", "trainer", "eval_results_dict", "save_dir", "usage_examples_display", "_asset_cache",
                  "_cached_dict", "_training_start_time", "evaluation_duration"]
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


# ---------------------------------------------------------------------------------------------------- base model
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
        model_card_training.set_evaluation_metrics(self, evaluator, metrics, epoch, step)

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
        model_card_training.record_trainer(self, trainer)

    def trainer_train_begin(self, args: Any, default_args: dict[str, Any] | None = None) -> None:
        """Record the training arguments (all, and those that differ from the defaults)."""
        model_card_training.trainer_train_begin(self, args, default_args)

    def trainer_log(self, logs: dict[str, Any], step: int, epoch: float | None) -> None:
        """Add a training-loss or evaluation-loss entry to the training log."""
        model_card_training.trainer_log(self, logs, step, epoch)

    # ------------------------------------------------------------------ datasets (embedkit.base.model_card_datasets)
    def infer_datasets(self, dataset: Any, dataset_name: str | None = None) -> list[dict[str, Any]]:
        """Name, split, size and (for Hub datasets) id and revision of each dataset."""
        return model_card_datasets.infer_datasets(self, dataset, dataset_name)

    def _compute_column_stats(self, dataset: Any, column: str, task: str | None = None) -> dict[str, Any]:
        """Statistics of one column over the first 100 rows (read in chunks of 8)."""
        return model_card_datasets.compute_column_stats(self, dataset, column, task)

    def _token_lengths(self, texts: list[str], task: str | None) -> list[int] | None:
        """Token counts of ``texts`` with the model's tokenizer (None when the model cannot tokenize them)."""
        return model_card_datasets.token_lengths(self, texts, task)

    def compute_dataset_metrics(self, dataset: Any, dataset_info: dict[str, Any], loss: Any,
                                router_mapping: dict[str, str] | None = None) -> dict[str, Any]:
        """Size, columns, per-column statistics, 3 example rows and the loss (with its configuration)."""
        return model_card_datasets.compute_dataset_metrics(self, dataset, dataset_info, loss, router_mapping)

    @staticmethod
    def _format_config_value(value: Any) -> Any:
        return model_card_datasets.format_config_value(value)

    def extract_dataset_metadata(self, dataset: Any, dataset_metadata: list[dict[str, Any]], loss: Any,
                                 dataset_type: str, router_mapping: dict[str, Any] | None = None
                                 ) -> list[dict[str, Any]]:
        """The card entries of a trainer's dataset (or dict of datasets), with statistics."""
        return model_card_datasets.extract_dataset_metadata(self, dataset, dataset_metadata, loss, dataset_type,
                                                            router_mapping)

    # ------------------------------------------------------------------ examples (embedkit.base.model_card_examples)
    def set_widget_examples(self, dataset: Any) -> None:
        """Pick short rows of the dataset(s) as Hub widget inputs and usage examples."""
        model_card_examples.set_widget_examples(self, dataset)

    def _set_multimodal_usage_examples(self, dataset: Any) -> None:
        """Use non-text columns as usage examples for a model that supports non-text modalities."""
        model_card_examples.set_multimodal_usage_examples(self, dataset)

    @staticmethod
    def _is_typed_media_dict(item: Any) -> bool:
        """An audio dict (``array`` + ``sampling_rate``) or video dict (``array`` + ``video_metadata``)."""
        return isinstance(item, dict) and "array" in item and ("sampling_rate" in item or "video_metadata" in item)

    @staticmethod
    def _hash_asset(value: Any) -> int | None:
        return model_card_examples.hash_asset(value)

    def _save_asset(self, value: Any, assets_dir: str, idx: int, prefix: str = "") -> str | None:
        """Write a non-text example (images are supported) under ``assets/``; returns its relative path."""
        return model_card_examples.save_asset(self, value, assets_dir, idx, prefix)

    def save_usage_example_assets(self) -> None:
        """Save non-text usage examples under ``<save_dir>/assets`` and point ``usage_examples_display`` at them."""
        model_card_examples.save_usage_example_assets(self)

    @staticmethod
    def _prepare_for_inference(value: Any) -> Any:
        """The value as the model's encode accepts it (nested dicts are converted item by item)."""
        if isinstance(value, dict):
            return {k: BaseModelCardData._prepare_for_inference(v) for k, v in value.items()}
        return value

    def _render_examples_table(self, dataset_info: dict[str, Any], asset_counter: int = 0) -> tuple[str, int]:
        return model_card_examples.render_examples_table(self, dataset_info, asset_counter)

    def _format_and_save_example(self, value: Any, counter: int) -> tuple[str, int]:
        return model_card_examples.format_and_save_example(self, value, counter)

    @staticmethod
    def _format_example_value(value: Any) -> str:
        """One cell of the dataset examples table (long values are shortened, markdown-breaking characters
        escaped)."""
        return model_card_examples.format_example_value(value)

    def _asset_path_to_url(self, relative_path: str) -> str:
        if self.model_id:
            return f"https://huggingface.co/{self.model_id}/resolve/main/{relative_path}"
        return relative_path

    def _format_snippet_value(self, value: Any) -> str:
        """A value as Python source for the usage snippet (asset paths become Hub URLs when ``model_id`` is set)."""
        return model_card_examples.format_snippet_value(self, value)

    def _get_snippet_output_dimensionality(self) -> int | str:
        return model_card_examples.snippet_output_dimensionality(self)

    # ------------------------------------------------------------------ usage snippet
    def run_usage_snippet(self) -> None:
        """Fill default usage examples (subclasses also run the model on them)."""
        if self.usage_examples is None:
            self.usage_examples = ["The weather is lovely today.", "It's so sunny outside!",
                                   "He drove to the stadium."]

    def generate_usage_snippet(self) -> str:
        """The fenced Python block showing how to load and run the model."""
        return model_card_examples.generate_usage_snippet(self)

    def _snippet_header(self, comment: str = "# Run inference") -> list[str]:
        model_id = self.model_id or self._snippet_default_model_id
        return [f"from sentence_transformers import {self._snippet_model_class}", "", "# Download from the 🤗 Hub",
                f'model = {self._snippet_model_class}("{model_id}")', comment]

    def _similarity_tail(self, n_rows: int, n_cols: int) -> list[str]:
        if self.similarities:
            return ["print(similarities)", self.similarities]
        return ["print(similarities.shape)", f"# [{n_rows}, {n_cols}]"]

    def _generate_text_snippet(self, display: list[str] | None) -> str:
        return model_card_examples.generate_text_snippet(self, display)

    def _generate_non_text_snippet(self, display: list[Any]) -> str:
        return model_card_examples.generate_non_text_snippet(self, display)

    # ------------------------------------------------------------------ formatting (embedkit.base.model_card_training)
    def format_eval_metrics(self) -> dict[str, Any]:
        """Evaluation results as tables (grouped per evaluator class), metric names and the Hub ``model-index``."""
        return model_card_training.format_eval_metrics(self)

    def format_training_logs(self) -> dict[str, Any]:
        """The training log as a markdown table (the best checkpoint's row in bold)."""
        return model_card_training.format_training_logs(self)

    def get_training_duration_data(self) -> dict[str, str | None]:
        return model_card_training.training_duration_data(self)

    def get_codecarbon_data(self) -> dict[str, Any]:
        return model_card_training.codecarbon_data(self)

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
        model_card_training.apply_training_summary(self)

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
