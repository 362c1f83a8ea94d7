"""Evaluator behaviour that the golden files do not pin: tie breaking, chunking, validation errors, base class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit.sentence_transformer import evaluation as ev
from embedkit.sentence_transformer.evaluation.information_retrieval import top_k_in_chunk
from tests.evaluation.hash_model import HashEmbeddingModel

DATA = Path(__file__).parents[1] / "fixtures/evaluation/data"


@pytest.fixture(scope="module")
def model():
    return HashEmbeddingModel()


def test_ir_ties_rank_by_corpus_id_independent_of_chunk_size(model):
    corpus = {f"d{i:02d}": "same text" for i in range(30)}  # every score tied
    queries = {"q": "same text"}
    relevant = {"q": {"d03", "d29"}}
    results = []
    for chunk in (1, 7, 50000):
        evaluator = ev.InformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=chunk,
                                                     accuracy_at_k=[1, 4], precision_recall_at_k=[4],
                                                     map_at_k=[30])
        results.append(evaluator(model))
    assert results[0] == results[1] == results[2]
    # Ranking d00, d01, d02, d03, ...: the first relevant document is at rank 4.
    assert results[0]["cosine_accuracy@1"] == 0.0 and results[0]["cosine_accuracy@4"] == 1.0
    assert results[0]["cosine_mrr@10"] == pytest.approx(0.25)
    assert results[0]["cosine_map@30"] == pytest.approx((1 / 4 + 2 / 30) / 2)


def test_top_k_in_chunk_orders_ties_by_rank():
    scores = torch.tensor([[0.1, 0.7, 0.7, 0.7, 0.9], [0.5, 0.4, 0.3, 0.2, 0.1]])
    ranks = torch.tensor([0, 4, 3, 2, 1])
    values, columns = top_k_in_chunk(scores, ranks, 3)
    assert columns[0][0] == 4 and sorted(columns[0][1:]) == [2, 3]  # 0.9, then the two lowest-ranked 0.7s
    assert sorted(columns[1]) == [0, 1, 2]


def test_ir_queries_without_relevant_docs_are_skipped_and_none_left_raises(model):
    evaluator = ev.InformationRetrievalEvaluator({"a": "x", "b": "y"}, {"d": "x"}, {"a": {"d"}, "b": set()})
    assert evaluator.queries_ids == ["a"]
    with pytest.raises(ValueError, match="no query has a relevant document"):
        ev.InformationRetrievalEvaluator({"a": "x"}, {"d": "x"}, {"b": {"d"}})
    with pytest.raises(ValueError, match="ndcg_at_k"):
        ev.InformationRetrievalEvaluator({"a": "x"}, {"d": "x"}, {"a": {"d"}}, ndcg_at_k=[0])


def test_ir_follows_each_models_similarity(model):
    evaluator = ev.InformationRetrievalEvaluator({"a": "x y"}, {"d": "x", "e": "z"}, {"a": {"d"}})
    assert "cosine_ndcg@10" in evaluator(model)
    dot_model = HashEmbeddingModel(similarity_fn_name="dot")
    metrics = evaluator(dot_model)
    assert "dot_ndcg@10" in metrics and evaluator.primary_metric == "dot_ndcg@10"


@pytest.mark.parametrize("make", [
    lambda: ev.EmbeddingSimilarityEvaluator(["a"], ["b", "c"], [1.0]),
    lambda: ev.BinaryClassificationEvaluator(["a"], ["b"], [2]),
    lambda: ev.BinaryClassificationEvaluator(["a"], ["b"], [1], similarity_fn_names=["cosinus"]),
    lambda: ev.TripletEvaluator(["a"], ["b"], ["c"], margin={"cos": 0.1}),
    lambda: ev.TripletEvaluator(["a"], ["b"], []),
    lambda: ev.EmbeddingSimilarityEvaluator(["a"], ["b"], [1.0], precision="int4"),
    lambda: ev.MSEEvaluator(["a"], ["b", "c"], teacher_model=HashEmbeddingModel()),
    lambda: ev.TranslationEvaluator(["a"], []),
    lambda: ev.RerankingEvaluator([], at_k=0),
    lambda: ev.LabelAccuracyEvaluator([], softmax_model=None),
])
def test_invalid_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_constant_similarity_gives_nan_correlation(model):
    evaluator = ev.EmbeddingSimilarityEvaluator(["same", "same", "same"], ["same", "same", "same"], [0.1, 0.5, 0.9])
    metrics = evaluator(model)
    assert math.isnan(metrics["pearson_cosine"]) and math.isnan(metrics["spearman_cosine"])


def test_several_similarity_functions_add_max_keys(model):
    evaluator = ev.TripletEvaluator(["a b"], ["a c"], ["d e"], similarity_fn_names=["cosine", "euclidean"],
                                    name="t")
    metrics = evaluator(model)
    assert list(metrics) == ["t_cosine_accuracy", "t_euclidean_accuracy", "t_max_accuracy"]
    assert evaluator.primary_metric == "t_max_accuracy"


def test_reranking_drops_samples_without_positives(model):
    evaluator = ev.RerankingEvaluator([{"query": "q", "positive": [], "negative": ["n"]},
                                       {"query": "a b", "positive": "a b", "negative": "c"}], at_k=1)
    assert len(evaluator.samples) == 1
    assert evaluator(model) == {"map": 1.0, "mrr@1": 1.0, "ndcg@1": 1.0}


def test_paraphrase_mining_transitive_closure():
    graph = {"a": {"b": True}, "b": {"a": True, "c": True}, "c": {"b": True}, "d": {}}
    closed = ev.ParaphraseMiningEvaluator.add_transitive_closure(graph)
    assert closed["a"]["c"] and closed["c"]["a"] and not closed["d"]


def test_nanobeir_needs_local_folders_and_resolves_root(model, tmp_path):
    # Without dataset_folders the datasets come from dataset_id (Hub cache or a local folder), with a clear error
    # when neither has them.
    with pytest.raises(ValueError, match="not a local folder"):
        ev.NanoBEIREvaluator(["scifact"], dataset_id=str(tmp_path / "missing" / "nano"))
    with pytest.raises(ValueError, match="no folder"):
        ev.NanoBEIREvaluator(["scifact"], dataset_folders={"nq": DATA})
    with pytest.raises(ValueError, match="missing query prompts"):
        ev.NanoBEIREvaluator(dataset_folders={"scifact": DATA / "scifact_mini"}, query_prompts={"nq": "q: "})
    with pytest.raises(FileNotFoundError):
        ev.NanoBEIREvaluator(["scifact"], dataset_folders=DATA)  # no subfolder named scifact / NanoSciFact
    evaluator = ev.NanoBEIREvaluator(["scifact_mini"], dataset_folders=DATA, query_prompts="q: ")
    metrics = evaluator(model)
    assert evaluator.evaluators[0].name == "scifact_mini"  # a custom name is kept as given
    assert evaluator.primary_metric == "NanoBEIR_mean_cosine_ndcg@10"
    assert metrics["NanoBEIR_mean_cosine_ndcg@10"] == metrics["scifact_mini_cosine_ndcg@10"]
    assert evaluator.evaluators[0].query_prompt == "q: "


def test_sequential_with_old_style_float_evaluator(model):
    class Old(ev.SentenceEvaluator):
        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            return 0.25

    seq = ev.SequentialEvaluator([Old()])
    assert seq(model) == {"evaluator_0": 0.25, "sequential_score": 0.25}
    assert ev.SequentialEvaluator([])(model) == {"sequential_score": 0.0}


def test_base_class_helpers(model):
    base = ev.SentenceEvaluator()
    base.primary_metric = "ap"
    assert base.prefix_name_to_metrics({"ap": np.float32(0.5), "note": "x"}, "dev") == {"dev_ap": 0.5, "dev_note": "x"}
    assert base.primary_metric == "dev_ap"
    base.prefix_name_to_metrics({"ap": 1}, "dev")
    assert base.primary_metric == "dev_ap"  # prefixed once
    assert ev.BinaryClassificationEvaluator(["a"], ["b"], [1]).description == "Binary Classification"
    assert ev.EmbeddingSimilarityEvaluator(["a"], ["b"], [1.0]).description == "Semantic Similarity"
    assert ev.BaseEvaluator is ev.SentenceEvaluator
    with pytest.raises(NotImplementedError):
        base(model)


def test_real_embedkit_model_with_trainer_style_call(tmp_path):
    from embedkit import SentenceTransformer

    st_model = SentenceTransformer(str(Path(__file__).parents[1] / "fixtures/tiny_bert_v6"), device="cpu")
    evaluator = ev.TripletEvaluator(["a cat"], ["a kitten"], ["a car"], name="dev")
    metrics = evaluator(st_model, output_path=str(tmp_path), epoch=2, steps=7)
    assert set(metrics) == {"dev_cosine_accuracy"}
    assert st_model.evaluation_metrics[-1]["metrics"] == metrics  # store_metrics_in_model_card_data
    assert (tmp_path / "triplet_evaluation_dev_results.csv").read_text().splitlines()[1].startswith("2,7,")


def test_no_forbidden_imports():
    import ast

    root = Path(__file__).parents[2] / "embedkit"
    forbidden = {"scipy", "sklearn", "pandas", "transformers", "datasets", "accelerate", "sentence_transformers"}
    for path in [*(root / "evaluation").glob("*.py"), root / "datasets_io.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not {n.split(".")[0] for n in names} & forbidden, (path, names)
