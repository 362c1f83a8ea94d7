"""``embedkit evaluate``: a BEIR folder (retrieval metrics) or an STS TSV (correlations) -> a metrics table."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedkit.cli.model_loading import load_model


def build_evaluator(path: str | Path, split: str = "test", batch_size: int = 32, show_progress_bar: bool = True
                    ) -> Any:
    """InformationRetrievalEvaluator for a BEIR folder, EmbeddingSimilarityEvaluator for an STS TSV; both show a
    progress bar on stderr while encoding unless ``show_progress_bar=False``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is neither a folder nor a ``.tsv`` file.
    """
    path = Path(path)
    if not path.exists():  # both checks before the data readers import torch
        raise FileNotFoundError(f"no such file or folder: {path}")
    if not path.is_dir() and path.suffix != ".tsv":
        raise ValueError(f"{path}: expected a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or an STS .tsv "
                         "(sentence1, sentence2, score)")
    from embedkit.datasets_io import load_beir, load_sts

    if path.is_dir():
        from embedkit.sentence_transformer.evaluation import InformationRetrievalEvaluator

        corpus, queries, qrels = load_beir(path, split=split)
        return InformationRetrievalEvaluator(queries, corpus, qrels, name=path.name, batch_size=batch_size,
                                             show_progress_bar=show_progress_bar)
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    s1, s2, scores = load_sts(path)
    return EmbeddingSimilarityEvaluator(s1, s2, scores, name=path.stem, batch_size=batch_size,
                                        show_progress_bar=show_progress_bar)


def run(args: argparse.Namespace, model_path_for: Callable[[str | None], str]) -> int:
    """Evaluate the SentenceTransformer at ``model_path_for(args.model)`` (looked up once the data has been read) on
    ``args.data``; print the metrics (progress on stderr)."""
    evaluator = build_evaluator(args.data, split=args.split, batch_size=args.batch_size)
    from embedkit.cli import refuse_other_kind
    from embedkit.sentence_transformer.model import SentenceTransformer

    path = model_path_for(args.model)
    refuse_other_kind(path, "SentenceTransformer", "--model")
    model = load_model(SentenceTransformer, path, args.quantize)
    metrics = evaluator(model)
    if args.format == "json":
        print(json.dumps({"primary_metric": evaluator.primary_metric, "metrics": metrics}, indent=2))
        return 0
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        marker = "  <- primary" if key == evaluator.primary_metric else ""
        print(f"{key:<{width}}  {value:.6f}{marker}")
    return 0
