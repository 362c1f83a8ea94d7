"""sentence-transformers API surface of the evaluators: NanoBEIR from a dataset id or folder, the data-frame MSE
evaluator, static threshold searches, deprecated aliases, and ST's validation messages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from embedkit.sentence_transformer import evaluation as ev
from embedkit.sentence_transformer.evaluation.nano_beir_datasets import (
    load_nanobeir_dataset,
)
from tests.evaluation.hash_model import HashEmbeddingModel


@pytest.fixture(scope="module")
def model():
    return HashEmbeddingModel()


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _hub_layout(root: Path) -> Path:
    """A NanoBEIR-style dataset folder: subsets corpus/queries/qrels, one NanoSciFact split each."""
    _write_jsonl(root / "corpus" / "NanoSciFact.jsonl",
                 [{"_id": "d1", "text": "cats purr"}, {"_id": "d2", "text": "stocks fell"}, {"_id": "d3", "text": ""}])
    _write_jsonl(root / "queries" / "NanoSciFact.jsonl", [{"_id": "q1", "text": "cats purr"}])
    _write_jsonl(root / "qrels" / "NanoSciFact.jsonl", [{"query-id": "q1", "corpus-id": "d1"}])
    return root


def test_nanobeir_validates_names_like_sentence_transformers():
    with pytest.raises(ValueError, match="dataset_names cannot be empty. Use None to evaluate on all datasets."):
        ev.NanoBEIREvaluator(dataset_names=[])
    with pytest.raises(ValueError, match=r"Dataset\(s\) \['nope'\] are not valid NanoBEIR datasets"):
        ev.NanoBEIREvaluator(dataset_names=["nope"])


def test_nanobeir_missing_dataset_id_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="not a local folder"):
        load_nanobeir_dataset(str(tmp_path / "absent" / "repo"), "scifact")


def test_nanobeir_reads_a_local_dataset_id_folder(tmp_path, model):
    root = _hub_layout(tmp_path / "nano")
    corpus, queries, qrels = load_nanobeir_dataset(str(root), "SciFact")
    assert corpus == {"d1": "cats purr", "d2": "stocks fell"}  # empty texts dropped, as ST does
    assert queries == {"q1": "cats purr"} and qrels == {"q1": {"d1"}}
    evaluator = ev.NanoBEIREvaluator(dataset_names=["SciFact"], dataset_id=str(root), score_functions=None)
    metrics = evaluator(model)
    assert metrics["NanoSciFact_cosine_accuracy@1"] == 1.0
    assert evaluator.primary_metric == "NanoBEIR_mean_cosine_ndcg@10"


def test_mse_evaluator_from_dataframe(tmp_path, model):
    rows = [{"en": "hello", "de": "hello"}, {"en": "cat", "de": "  "}, {"en": "dog", "de": "bird"}]
    evaluator = ev.MSEEvaluatorFromDataFrame(rows, model, [("en", "de")], name="x")
    assert evaluator.data[("en", "de")] == (["hello", "dog"], ["hello", "bird"])
    metrics = evaluator(model, output_path=str(tmp_path))
    expected = ((model.encode(["hello", "dog"]) - model.encode(["hello", "bird"])) ** 2).mean() * 100
    assert math.isclose(-metrics["x_negative_mse"], expected, rel_tol=1e-6)
    assert (tmp_path / "mse_evaluation_x_results.csv").read_text().splitlines()[0] == "epoch,steps,en-de"


def test_binary_classification_threshold_searches_are_static():
    scores, labels = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0])
    acc, threshold = ev.BinaryClassificationEvaluator.find_best_acc_and_threshold(scores, labels, True)
    assert acc == 1.0 and 0.3 < threshold < 0.8
    f1, precision, recall, _ = ev.BinaryClassificationEvaluator.find_best_f1_and_threshold(scores, labels, True)
    assert (f1, precision, recall) == (1.0, 1.0, 1.0)


def test_triplet_evaluator_st_arguments(caplog):
    with pytest.raises(ValueError, match=r"unexpected names \['cosin'\]"):
        ev.TripletEvaluator(["a"], ["p"], ["n"], similarity_fn_names=["cosin"])
    with caplog.at_level("WARNING"):
        evaluator = ev.TripletEvaluator(["a"], ["p"], ["n"], main_distance_function="dot")
    assert evaluator.main_similarity_function.value == "dot" and "deprecated" in caplog.text


def test_historical_compute_metrices_aliases():
    assert ev.RerankingEvaluator.compute_metrices is ev.RerankingEvaluator.compute_metrics
    assert ev.InformationRetrievalEvaluator.compute_metrices is ev.InformationRetrievalEvaluator.compute_metrics
    assert ev.BinaryClassificationEvaluator.compute_metrices is ev.BinaryClassificationEvaluator.compute_metrics
