"""Shared pieces of the sparse evaluators: sparse encoding, sparsity statistics and the CSV "append to last row".

Each sparse evaluator subclasses its dense twin (:mod:`embedkit.sentence_transformer.evaluation`) and only changes how
inputs are embedded (sparse COO tensors, ``max_active_dims`` instead of ``truncate_dim``) and what is reported after
the dense metrics: sentence-transformers' sparsity keys (``active_dims``, ``sparsity_ratio``, with
``query_``/``corpus_``/``anchor_``... prefixes where the evaluator embeds several kinds of input), appended to the
metric dict and to the last row of the CSV file exactly as ST 6.2 does.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import defaultdict
from typing import Any

from torch import Tensor

logger = logging.getLogger(__name__)


def append_to_last_row(csv_path: str, values: Any) -> bool:
    """Extend the last data row of ``csv_path`` with ``values`` and rewrite the file with the csv module (like ST's
    ``util.append_to_last_row``, so the whole file then uses ``\\r\\n`` line ends). False if there is no data row."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) <= 1:
        return False
    rows[-1].extend(values)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return True


def check_max_active_dims(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"max_active_dims must be None or a positive integer, got {value!r}")


class SparsityStatsMixin:
    """Sparse encoding plus per-call sparsity bookkeeping; mixed in before the dense evaluator class.

    ``sparsity_stats`` collects ``model.sparsity(...)`` of every embedding call (keys optionally prefixed); after
    the dense ``__call__`` :meth:`_add_sparsity_metrics` replaces each list by its plain mean (ST averages per
    call, not per text), adds the keys to the metrics, logs them and extends the CSV row.
    """

    max_active_dims: int | None
    batch_size: int
    show_progress_bar: bool
    name: str
    write_csv: bool
    csv_file: str

    def _init_sparse(self, max_active_dims: int | None) -> None:
        check_max_active_dims(max_active_dims)
        self.max_active_dims = max_active_dims
        self.sparsity_stats: Any = defaultdict(list)

    def _encode_sparse(self, model: Any, sentences: Any, encode_fn_name: str | None = None,
                       **kwargs: Any) -> Tensor | list[Tensor]:
        encode = {"query": model.encode_query, "document": model.encode_document}.get(encode_fn_name, model.encode)
        kwargs.setdefault("show_progress_bar", self.show_progress_bar)
        kwargs.setdefault("convert_to_sparse_tensor", True)
        return encode(sentences, batch_size=self.batch_size, save_to_cpu=True, max_active_dims=self.max_active_dims,
                      **kwargs)

    def _record_sparsity(self, model: Any, embeddings: Tensor, prefix: str = "") -> None:
        for key, value in model.sparsity(embeddings).items():
            self.sparsity_stats[f"{prefix}{key}"].append(value)

    def _add_sparsity_metrics(self, model: Any, metrics: dict[str, float], output_path: str | None, epoch: int,
                              steps: int, stats: dict[str, float] | None = None) -> dict[str, float]:
        if stats is None:
            stats = {key: sum(values) / len(values) for key, values in self.sparsity_stats.items()}
        self.sparsity_stats = stats
        metrics.update(self.prefix_name_to_metrics(stats, self.name))  # type: ignore[attr-defined]
        records = getattr(model, "__dict__", {}).get("evaluation_metrics")
        if records and records[-1].get("evaluator") == type(self).__name__:
            records.pop()  # the dense __call__ stored the metrics without the sparsity keys
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)  # type: ignore[attr-defined]
        for prefix in sorted({key[: -len("active_dims")] for key in stats if key.endswith("active_dims")}):
            logger.info("Model %sSparsity: Active Dimensions: %.1f, Sparsity Ratio: %.4f",
                        prefix.replace("_", " ").title(), stats[f"{prefix}active_dims"],
                        stats[f"{prefix}sparsity_ratio"])
        if "avg_flops" in stats:
            logger.info("Average FLOPS: %.2f", stats["avg_flops"])
        if output_path is not None and self.write_csv:
            append_to_last_row(os.path.join(output_path, self.csv_file), list(stats.values()))
        return metrics

    def _sparse_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config.pop("truncate_dim", None)
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config
