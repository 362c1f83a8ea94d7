"""CrossEncoder evaluators against metric dicts and CSV files written by sentence-transformers 6.2.

Goldens: tests/generate_ce_eval_fixtures.py (STS-B, MRPC, SNLI, SciFact/MRPC BEIR slices).

* ``stub1`` / ``stub3`` (PairScoreModel: deterministic pair scores with many exact ties): ST and embedkit see
  identical scores, so keys, order, primary metric, config, CSV files and values (1e-9) must match.
* ``ce1`` / ``ce3`` replayed: ST's own predictions of the tiny checkpoints ce_bert1 / ce_bert3 fed to embedkit's
  evaluators: same exactness.
* ``ce1`` / ``ce3`` end to end (embedkit's CrossEncoder): its scores differ from ST's by at most 1.5e-7, but ce_bert1's
  scores all lie within 4e-4 of each other with many float32 ties, so such noise reorders pairs; keys, primary metric,
  config and CSV headers must match exactly, values within LOOSE_TOL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedkit import CrossEncoder
from embedkit.cross_encoder import evaluation as ce_eval
from embedkit.cross_encoder.evaluation.classification import f1_averages
from embedkit.cross_encoder.evaluation.nano_beir import read_candidates
from tests.evaluation.hash_model import HashEmbeddingModel
from tests.generate_ce_eval_fixtures import NANO, PairScoreModel, evaluator_specs

FIX = Path(__file__).parents[1] / "fixtures"
DATA = FIX / "evaluation/data"
OUT = FIX / "ce_evaluation"
GOLDEN = json.loads((OUT / "golden_metrics.json").read_text(encoding="utf-8"))
SPECS = evaluator_specs(DATA)
EXACT_TOL = 1e-9
LOOSE_TOL = 5e-3  # measured: 9.9e-4 (sts spearman, ce1), every other value within 1.2e-16

_MODELS: dict[str, object] = {}


def model(key: str):
    if key not in _MODELS:
        if key.startswith("stub"):
            _MODELS[key] = PairScoreModel(int(key[-1]))
        elif key.startswith("replay"):
            _MODELS[key] = PairScoreModel(int(key[-1]), table=GOLDEN["st_scores"][f"ce{key[-1]}"])
        else:
            _MODELS[key] = CrossEncoder(FIX / f"ce_bert{key[-1]}", device="cpu")
    return _MODELS[key]


def build(kind: str, kwargs: dict, **extra):
    kwargs = dict(kwargs)
    if kind == "CrossEncoderNanoBEIREvaluator":
        kwargs["dataset_folders"] = {k: DATA / v for k, v in kwargs["dataset_folders"].items()}
        kwargs["candidates"] = {k: OUT / v for k, v in kwargs.get("candidates", {}).items()} or None
    kwargs.update(extra)
    return getattr(ce_eval, kind)(**kwargs)


def run(evaluator, model_obj, tmp_path: Path):
    metrics = evaluator(model_obj, output_path=str(tmp_path), epoch=1, steps=5)
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(tmp_path.iterdir())}
    return metrics, files


def assert_same_csv(files: dict[str, str], golden: dict[str, str], tol: float = EXACT_TOL) -> None:
    """Same file names, header lines and row shapes; numbers equal within ``tol`` (last-digit float noise)."""
    assert sorted(files) == sorted(golden)
    for file_name, content in golden.items():
        ours, theirs = files[file_name].splitlines(), content.splitlines()
        assert ours[0] == theirs[0], file_name
        assert len(ours) == len(theirs), file_name
        for row_ours, row_theirs in zip(ours[1:], theirs[1:]):
            a, b = row_ours.split(","), row_theirs.split(",")
            assert len(a) == len(b) and a[:2] == b[:2], file_name
            assert [float(x) for x in a[2:]] == pytest.approx([float(x) for x in b[2:]], abs=tol), file_name


CASES = [(name, key) for name, (_, _, keys) in SPECS.items() for key in keys]


@pytest.mark.parametrize("name,golden_key", CASES, ids=[f"{n}/{k}" for n, k in CASES])
def test_exact_parity(name, golden_key, tmp_path):
    """Identical scores in, identical metric dict and CSV files out."""
    kind, kwargs, _ = SPECS[name]
    golden = GOLDEN["evaluators"][f"{name}/{golden_key}"]
    evaluator = build(kind, kwargs)
    model_key = golden_key if golden_key.startswith("stub") else f"replay{golden_key[-1]}"
    metrics, files = run(evaluator, model(model_key), tmp_path)
    assert list(metrics) == golden["keys"]
    assert evaluator.primary_metric == golden["primary_metric"]
    assert evaluator.greater_is_better == golden["greater_is_better"]
    assert evaluator.get_config_dict() == golden["config"]
    for key, value in golden["metrics"].items():
        assert metrics[key] == pytest.approx(value, abs=EXACT_TOL), key
    assert_same_csv(files, golden["csv"])


E2E = [(name, key) for name, key in CASES if key.startswith("ce")]


@pytest.mark.parametrize("name,golden_key", E2E, ids=[f"{n}/{k}" for n, k in E2E])
def test_end_to_end_tiny_checkpoints(name, golden_key, tmp_path):
    kind, kwargs, _ = SPECS[name]
    golden = GOLDEN["evaluators"][f"{name}/{golden_key}"]
    evaluator = build(kind, kwargs)
    metrics, files = run(evaluator, model(golden_key), tmp_path)
    assert list(metrics) == golden["keys"]
    assert evaluator.primary_metric == golden["primary_metric"]
    assert sorted(files) == sorted(golden["csv"])
    for file_name, content in golden["csv"].items():
        assert files[file_name].splitlines()[0] == content.splitlines()[0]
    for key, value in golden["metrics"].items():
        assert metrics[key] == pytest.approx(value, abs=LOOSE_TOL), key


def test_embedkit_cross_encoder_matches_st_scores():
    """The replayed ST predictions are what embedkit's CrossEncoder computes, up to float32 noise."""
    for n in (1, 3):
        kind, kwargs, _ = SPECS["correlation" if n == 1 else "classification_multi"]
        pairs = kwargs["sentence_pairs"]
        ours = model(f"ce{n}").predict(pairs, show_progress_bar=False)
        replay = model(f"replay{n}").predict(pairs)
        assert np.abs(np.asarray(ours) - replay).max() < 1e-6


def test_dense_first_stage_matches_candidate_files():
    """retriever= reproduces the candidate files (made by ST's semantic_search on the same hash model)."""
    kind, kwargs, _ = SPECS["nanobeir"]
    kwargs = {k: v for k, v in kwargs.items() if k != "candidates"}
    evaluator = build(kind, kwargs, retriever=HashEmbeddingModel(), rerank_k=20, write_csv=False)
    golden = GOLDEN["evaluators"]["nanobeir/stub1"]["metrics"]
    metrics = evaluator(model("stub1"))
    assert {k.replace("_R20_", "_R100_"): v for k, v in metrics.items()} == pytest.approx(golden, abs=EXACT_TOL)


def test_candidate_file_found_in_folder(tmp_path):
    folder = tmp_path / "scifact"
    shutil.copytree(DATA / NANO["scifact"], folder)
    shutil.copy(OUT / "candidates/scifact.jsonl", folder / "bm25.jsonl")
    evaluator = ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=tmp_path, dataset_names=["scifact"],
                                                      rerank_k=5, write_csv=False)
    golden = GOLDEN["evaluators"]["nanobeir_one/stub1"]["metrics"]
    assert evaluator(model("stub1")) == pytest.approx(golden, abs=EXACT_TOL)


def test_nanobeir_errors(tmp_path):
    folders = {"scifact": DATA / NANO["scifact"]}
    with pytest.raises(ValueError, match="no first-stage ranking"):
        ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=folders)
    with pytest.raises(ValueError, match="downloads nothing"):
        ce_eval.CrossEncoderNanoBEIREvaluator(["scifact"])
    with pytest.raises(ValueError, match="cannot be empty"):
        ce_eval.CrossEncoderNanoBEIREvaluator([], dataset_folders=folders)
    with pytest.raises(ValueError, match="not in dataset_names"):
        ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=folders, candidates={"nq": {}})
    with pytest.raises(ValueError, match="corpus ids not in"):
        ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=folders, candidates={"scifact": {"1": ["nope"]}})
    with pytest.raises(ValueError, match="no query of the first-stage ranking"):
        ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=folders, candidates={"scifact": {"zzz": []}})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query-id": "1"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_candidates(bad)
    with pytest.raises(TypeError, match="encode_query"):
        ce_eval.CrossEncoderNanoBEIREvaluator(dataset_folders=folders, retriever=object())


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        ce_eval.CrossEncoderCorrelationEvaluator([["a", "b"]], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        ce_eval.CrossEncoderClassificationEvaluator([["a", "b"]], [1, 0])
    with pytest.raises(ValueError, match="exactly one of 'negative' and 'documents'"):
        ce_eval.CrossEncoderRerankingEvaluator([{"query": "q", "positive": ["p"]}])(model("stub1"))
    with pytest.raises(ValueError, match="'query' key"):
        ce_eval.CrossEncoderRerankingEvaluator([{"positive": ["p"], "negative": []}])(model("stub1"))
    with pytest.raises(ValueError, match="Prompt name 'query' not found"):
        ce_eval.CrossEncoderCorrelationEvaluator([["a", "b"], ["c", "d"]], [1.0, 2.0], prompt_name="query")(
            model("ce1"))


def test_deprecated_aliases():
    pairs, labels = [["a", "b"], ["c", "d"]], [1, 0]
    for cls in (ce_eval.CEBinaryAccuracyEvaluator, ce_eval.CEBinaryClassificationEvaluator, ce_eval.CEF1Evaluator,
                ce_eval.CESoftmaxAccuracyEvaluator):
        with pytest.warns(DeprecationWarning):
            evaluator = cls(pairs, labels)
        assert isinstance(evaluator, ce_eval.CrossEncoderClassificationEvaluator)
        assert "average_precision" in evaluator(model("stub1"))
    with pytest.warns(DeprecationWarning):
        assert isinstance(ce_eval.CECorrelationEvaluator(pairs, [0.5, 0.1]), ce_eval.CrossEncoderCorrelationEvaluator)
    with pytest.warns(DeprecationWarning):
        evaluator = ce_eval.CERerankingEvaluator([{"query": "q", "positive": ["p"], "negative": ["n"]}])
    assert evaluator.primary_metric == "ndcg@10"


def test_f1_averages_match_sklearn_definitions():
    # sklearn.metrics.f1_score(y, p, average=...) values for these inputs (labels 3 never predicted, 4 never true).
    y = np.array([0, 1, 2, 2, 3, 1, 0])
    p = np.array([0, 2, 2, 2, 4, 1, 1])
    macro, micro, weighted = f1_averages(y, p)
    assert macro == pytest.approx(0.3933333333333333, abs=1e-12)
    assert micro == pytest.approx(0.5714285714285714, abs=1e-12)
    assert weighted == pytest.approx(0.5619047619047619, abs=1e-12)
