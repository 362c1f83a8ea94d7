"""NanoBEIREvaluator: InformationRetrievalEvaluator over several BEIR-style datasets, plus aggregated metrics.

As in sentence-transformers the datasets come from ``dataset_id`` (a Hugging Face dataset id such as
``sentence-transformers/NanoBEIR-en``, read from the Hugging Face cache, or a local folder); without a cached copy and
without network access the constructor raises a ValueError saying so. Alternatively ``dataset_folders`` names local
BEIR folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv`` or ``qrels.tsv``). Everything else follows ST:
per-dataset keys ``Nano{Name}_{fn}_{metric}`` (e.g. ``NanoSciFact_cosine_ndcg@10``), aggregated keys
``NanoBEIR_{aggregate_key}_{fn}_{metric}`` (``NanoBEIR_mean_cosine_ndcg@10`` is primary), ``_{truncate_dim}``
suffixes when truncating, the CSV file ``NanoBEIR_evaluation_{aggregate_key}_results.csv`` with the IR header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from embedkit.base.evaluation.evaluator import SentenceEvaluator, epoch_text
from embedkit.datasets_io import load_beir
from embedkit.sentence_transformer.evaluation.information_retrieval import (
    InformationRetrievalEvaluator,
)
from embedkit.sentence_transformer.evaluation.nano_beir_datasets import (
    DATASET_NAME_TO_HUMAN_READABLE as DATASET_NAME_TO_HUMAN_READABLE,  # re-exported, it was defined here
)
from embedkit.sentence_transformer.evaluation.nano_beir_datasets import (
    append_aggregate_csv_row,
    evaluate_datasets,
    load_nanobeir_dataset,
    nano_dataset_name,
    resolve_dataset_folders,
    validate_nanobeir_names,
)
from embedkit.util import SimilarityFunction

logger = logging.getLogger(__name__)

class NanoBEIREvaluator(SentenceEvaluator):
    """Retrieval metrics on several local BEIR folders and their aggregate; primary
    ``NanoBEIR_{aggregate_key}_{fn}_ndcg@{max(ndcg_at_k)}``.

    Args:
        dataset_names: names to evaluate (default: all 13 NanoBEIR datasets, or every key of ``dataset_folders``).
            The NanoBEIR short names (``msmarco``, ``scifact``, ..., case-insensitive) get ST's display names
            (``NanoMSMARCO``, ``NanoSciFact``); with ``dataset_folders`` any other name is used as given.
        dataset_folders: ``{name: BEIR folder}``, or one root folder holding a subfolder per dataset
            (``name``, ``Nano{Name}`` or ``{Name}``); when given, ``dataset_id`` is not read.
        dataset_id: Hugging Face dataset id or local folder with the NanoBEIR datasets (ST's Hub layout: subsets
            ``corpus``/``queries``/``qrels`` with a ``Nano{Name}`` split each; or a BEIR folder per dataset).
        mrr_at_k / ndcg_at_k / accuracy_at_k / precision_recall_at_k / map_at_k: metric cut-offs.
        show_progress_bar / batch_size / write_csv / truncate_dim / score_functions / main_score_function /
            write_predictions: passed to each :class:`InformationRetrievalEvaluator`.
        aggregate_fn: combines one metric over datasets (default ``np.mean``).
        aggregate_key: the ``mean`` in ``NanoBEIR_mean_...``.
        query_prompts / corpus_prompts: one prompt for all datasets or ``{name: prompt}`` covering every dataset.
        split: qrels split to read.
        include_title: document text = title + " " + text (ST's NanoBEIR corpora have a ``text`` field only, so
            the default False matches them).

    Raises:
        ValueError: an empty ``dataset_names``, an unknown NanoBEIR name, a dataset that cannot be found (offline
            without a cached copy), a name without a folder, or prompts missing a dataset.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())  # a BEIR folder: corpus, queries, qrels
        >>> docs = {"d1": "Cats eat fish.", "d2": "Rain falls in spring.", "d3": "Paris is in France."}
        >>> queries = {"q1": "What do cats eat?", "q2": "Where is Paris?"}
        >>> for name, rows in (("corpus", docs), ("queries", queries)):
        ...     lines = [json.dumps({"_id": key, "text": text}) for key, text in rows.items()]
        ...     _ = (root / f"{name}.jsonl").write_text("\\n".join(lines))
        >>> _ = (root / "qrels.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\nq2\\td3\\t1\\n")
        >>> evaluator = NanoBEIREvaluator(dataset_names=["scifact"], dataset_folders={"scifact": root})
        >>> evaluator(model)["NanoBEIR_mean_cosine_ndcg@10"]
        1.0
    """

    information_retrieval_class = InformationRetrievalEvaluator

    def __init__(
        self,
        dataset_names: list[str] | None = None,
        dataset_folders: dict[str, str | os.PathLike] | str | os.PathLike | None = None,
        dataset_id: str = "sentence-transformers/NanoBEIR-en",
        mrr_at_k: list[int] = [10],  # noqa: B006  (ST's defaults; never mutated)
        ndcg_at_k: list[int] = [10],  # noqa: B006
        accuracy_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        precision_recall_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        map_at_k: list[int] = [100],  # noqa: B006
        show_progress_bar: bool = False,
        batch_size: int = 32,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        query_prompts: str | dict[str, str] | None = None,
        corpus_prompts: str | dict[str, str] | None = None,
        write_predictions: bool = False,
        split: str = "test",
        include_title: bool = False,
    ) -> None:
        super().__init__()
        folders: dict[str, Path | None]
        if dataset_folders is None:  # ST's way: the datasets of dataset_id (Hub cache or a local folder)
            self.dataset_names = validate_nanobeir_names(dataset_names)
            folders = {n: None for n in self.dataset_names}
        else:
            self.dataset_names, folders = resolve_dataset_folders("NanoBEIREvaluator", dataset_names,
                                                                  dataset_folders)
        self.dataset_folders = {n: str(p) for n, p in folders.items() if p is not None}
        self.dataset_id = dataset_id
        self.aggregate_fn = aggregate_fn
        self.aggregate_key = aggregate_key
        self.write_csv = write_csv
        self.query_prompts = self._per_dataset(query_prompts, "query")
        self.corpus_prompts = self._per_dataset(corpus_prompts, "corpus")
        self.show_progress_bar = show_progress_bar
        self.score_functions = score_functions
        self.score_function_names = sorted(score_functions) if score_functions else []
        self._score_functions_from_model = score_functions is None
        self.main_score_function = SimilarityFunction(main_score_function) if main_score_function else None
        self.truncate_dim = truncate_dim
        self.name = f"NanoBEIR_{aggregate_key}" + (f"_{truncate_dim}" if truncate_dim else "")
        self.mrr_at_k = mrr_at_k
        self.ndcg_at_k = ndcg_at_k
        self.accuracy_at_k = accuracy_at_k
        self.precision_recall_at_k = precision_recall_at_k
        self.map_at_k = map_at_k
        ir_kwargs = dict(mrr_at_k=mrr_at_k, ndcg_at_k=ndcg_at_k, accuracy_at_k=accuracy_at_k,
                         precision_recall_at_k=precision_recall_at_k, map_at_k=map_at_k,
                         show_progress_bar=show_progress_bar, batch_size=batch_size, write_csv=write_csv,
                         truncate_dim=truncate_dim, score_functions=score_functions,
                         main_score_function=main_score_function, write_predictions=write_predictions)
        self.evaluators = [self._load_dataset(n, folders[n], split, include_title, **ir_kwargs)
                           for n in self.dataset_names]
        self.csv_file = f"NanoBEIR_evaluation_{aggregate_key}_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.score_function_names)

    def _per_dataset(self, prompts: str | dict[str, str] | None, kind: str) -> dict[str, str] | None:
        if prompts is None or isinstance(prompts, dict) and not prompts:
            return None
        if isinstance(prompts, str):
            return {n: prompts for n in self.dataset_names}
        missing = [n for n in self.dataset_names if n not in prompts]
        if missing:
            raise ValueError(f"The following datasets are missing {kind} prompts: {missing}")
        return dict(prompts)

    def _get_human_readable_name(self, dataset_name: str) -> str:
        return nano_dataset_name(dataset_name) + (f"_{self.truncate_dim}" if self.truncate_dim is not None else "")

    def _load_dataset(self, dataset_name: str, folder: Path | None, split: str, include_title: bool,
                      **ir_kwargs: Any) -> InformationRetrievalEvaluator:
        if folder is None:
            corpus, queries, qrels = load_nanobeir_dataset(self.dataset_id, dataset_name)
        else:
            corpus, queries, qrels = load_beir(folder, split=split, include_title=include_title)
        corpus = {cid: text for cid, text in corpus.items() if len(text) > 0}
        queries = {qid: text for qid, text in queries.items() if len(text) > 0}
        if self.query_prompts is not None:
            ir_kwargs["query_prompt"] = self.query_prompts.get(dataset_name)
        if self.corpus_prompts is not None:
            ir_kwargs["corpus_prompt"] = self.corpus_prompts.get(dataset_name)
        return self.information_retrieval_class(queries=queries, corpus=corpus, relevant_docs=qrels,
                                                name=self._get_human_readable_name(dataset_name), **ir_kwargs)

    def _append_csv_headers(self, names: list[str]) -> None:
        for fn in names:
            self.csv_headers += [f"{fn}-Accuracy@{k}" for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                self.csv_headers += [f"{fn}-Precision@{k}", f"{fn}-Recall@{k}"]
            self.csv_headers += [f"{fn}-MRR@{k}" for k in self.mrr_at_k]
            self.csv_headers += [f"{fn}-NDCG@{k}" for k in self.ndcg_at_k]
            self.csv_headers += [f"{fn}-MAP@{k}" for k in self.map_at_k]

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1,
                 *args: Any, **kwargs: Any) -> dict[str, float]:
        logger.info("NanoBEIR Evaluation of the model on %s dataset%s:", self.dataset_names,
                    epoch_text(epoch, steps, self.truncate_dim))
        headers_changed = False
        if self._score_functions_from_model:
            self.score_functions = self.evaluators[0]._model_score_functions(model)
            if self.score_function_names != sorted(self.score_functions):
                headers_changed = bool(self.score_function_names)
                self.score_function_names = sorted(self.score_functions)
                self.csv_headers = ["epoch", "steps"]
                self._append_csv_headers(self.score_function_names)
                self.primary_metric = None

        per_dataset, aggregated = evaluate_datasets(
            self.evaluators, lambda evaluator: evaluator(model, output_path, epoch, steps, *args, **kwargs),
            self.aggregate_fn, logger)

        if output_path is not None and self.write_csv:
            if headers_changed and os.path.isfile(os.path.join(output_path, self.csv_file)):
                logger.warning("%s was written with other score function columns", self.csv_file)
            row: list[Any] = [epoch, steps]
            for fn in self.score_function_names:
                row += [aggregated[f"{fn}_accuracy@{k}"] for k in self.accuracy_at_k]
                for k in self.precision_recall_at_k:
                    row += [aggregated[f"{fn}_precision@{k}"], aggregated[f"{fn}_recall@{k}"]]
                row += [aggregated[f"{fn}_mrr@{k}"] for k in self.mrr_at_k]
                row += [aggregated[f"{fn}_ndcg@{k}"] for k in self.ndcg_at_k]
                row += [aggregated[f"{fn}_map@{k}"] for k in self.map_at_k]
            append_aggregate_csv_row(output_path, self.csv_file, self.csv_headers, row)

        if not self.primary_metric:
            top_k = max(self.ndcg_at_k)
            if self.main_score_function is None:
                best = max(self.score_function_names, key=lambda fn: aggregated[f"{fn}_ndcg@{top_k}"])
            else:
                best = self.main_score_function.value
            self.primary_metric = f"{best}_ndcg@{top_k}"
        logger.info("Average Queries: %s\tAverage Corpus: %s", np.mean([len(e.queries) for e in self.evaluators]),
                    np.mean([len(e.corpus) for e in self.evaluators]))
        aggregated = self.prefix_name_to_metrics(aggregated, self.name)
        self.store_metrics_in_model_card_data(model, aggregated, epoch, steps)
        per_dataset.update(aggregated)
        return per_dataset

    def store_metrics_in_model_card_data(self, *args: Any, **kwargs: Any) -> None:
        # With one dataset the aggregate repeats that dataset's numbers, so ST records nothing then.
        if len(self.dataset_names) > 1:
            super().store_metrics_in_model_card_data(*args, **kwargs)

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"dataset_names": self.dataset_names, "dataset_id": self.dataset_id}
        for key in ("truncate_dim", "query_prompts", "corpus_prompts"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config
