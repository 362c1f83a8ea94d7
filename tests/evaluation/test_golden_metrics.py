"""Every dense evaluator against metric dicts computed by sentence-transformers 6.2 on the same data and models.

Golden values: tests/generate_eval_fixtures.py, on slices of STS-B, MRPC, SNLI and SciFact.

* ``hash`` / ``hash_dot`` (tests/evaluation/hash_model.py): ST and embedkit see bit-identical embeddings, so every
  key, its order, the primary metric, the config and every value (within 1e-9) must match.
* ``bert`` / ``mpnet`` (the tiny ST-saved fixture models, end to end through embedkit's encoder): keys, order,
  primary metric and config must match exactly. Values only loosely: these random tiny models put all cosine
  similarities within 2e-4 of each other, so 1e-7 encoder noise reorders pairs (measured: up to 3e-2 on IR@k,
  5e-4 on Spearman; with well-conditioned embeddings the numbers agree to 1e-6, see benchmarks/eval_parity.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.sentence_transformer import evaluation as ev
from embedkit.util import cos_sim, dot_score
from tests.evaluation.hash_model import HashEmbeddingModel
from tests.generate_eval_fixtures import evaluator_specs

FIX = Path(__file__).parents[1] / "fixtures"
DATA = FIX / "evaluation/data"
GOLDEN = json.loads((FIX / "evaluation/golden_metrics.json").read_text(encoding="utf-8"))["evaluators"]
SPECS = evaluator_specs(DATA)
EXACT_TOL = 1e-9
LOOSE_TOL = 0.05


_MODELS: dict[str, object] = {}


def load(model_key: str, teacher: bool = False):
    key = f"{model_key}/teacher" if teacher and model_key.startswith("hash") else model_key
    if key not in _MODELS:
        if model_key.startswith("hash"):
            _MODELS[key] = HashEmbeddingModel(salt="teacher" if teacher else "",
                                              **({"similarity_fn_name": "dot", "prompts": {}}
                                                 if model_key == "hash_dot" else {}))
        else:
            _MODELS[key] = SentenceTransformer(str(FIX / f"tiny_{model_key}_v6"), device="cpu")
    return _MODELS[key]


def build(kind: str, kwargs: dict, teacher=None):
    kwargs = dict(kwargs)
    if kwargs.get("score_functions") == "cos_sim+dot_score":
        kwargs["score_functions"] = {"cos_sim": cos_sim, "dot_score": dot_score}
    if kwargs.get("similarity_fct") == "dot_score":
        kwargs["similarity_fct"] = dot_score
    if kind == "MSEEvaluator":
        kwargs["teacher_model"] = teacher
    if kind == "NanoBEIREvaluator":
        kwargs["dataset_folders"] = {k: DATA / v for k, v in kwargs["dataset_folders"].items()}
    return getattr(ev, kind)(**kwargs)


def assert_metrics_equal(actual: dict, expected: dict, tol: float = EXACT_TOL) -> None:
    assert list(actual) == list(expected), "metric keys (and their order) differ from ST"
    for key, want in expected.items():
        got = actual[key]
        assert isinstance(got, float), (key, type(got))
        if want is None or (isinstance(want, float) and math.isnan(want)):
            assert math.isnan(got), key
            continue
        assert got == pytest.approx(want, abs=tol), (key, got, want)


# The tiny models run end to end (real encode, prompts, truncate_dim, precision) on a subset, to keep the suite fast;
# the hash models cover every spec exactly.
TINY = {"bert": ("sts_all", "sts_int8", "sts_binary", "mrpc_all", "triplet_all_margin", "ir_options", "rerank_default",
                 "mse", "translation", "paraphrase_mining", "nanobeir_truncate"),
        "mpnet": ("sts_default", "mrpc_default", "triplet_default", "ir_default")}
CASES = [(m, name) for m in ("hash", "hash_dot", "bert", "mpnet") for name in SPECS
         if f"{m}/{name}" in GOLDEN and (m.startswith("hash") or name in TINY[m])]


@pytest.mark.parametrize("model_key,name", CASES, ids=[f"{m}/{n}" for m, n in CASES])
def test_matches_sentence_transformers(model_key, name):
    kind, kwargs = SPECS[name]
    model = load(model_key)
    evaluator = build(kind, kwargs, teacher=load(model_key, teacher=True))
    gold = GOLDEN[f"{model_key}/{name}"]
    metrics = evaluator(model)
    assert_metrics_equal(metrics, gold["metrics"], EXACT_TOL if model_key.startswith("hash") else LOOSE_TOL)
    assert evaluator.primary_metric == gold["primary"]
    assert evaluator.get_config_dict() == gold["config"] or kind == "NanoBEIREvaluator"


@pytest.mark.parametrize("model_key", ["bert", "mpnet"])
def test_label_accuracy_matches(model_key):
    from embedkit import InputExample
    from embedkit.sentence_transformer.losses import SoftmaxLoss

    gold = GOLDEN[f"{model_key}/label_accuracy"]
    model = load(model_key)
    loss = SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=3)
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(gold["classifier_weight"]))
        loss.classifier.bias.copy_(torch.tensor(gold["classifier_bias"]))
    import csv

    with open(DATA / "snli_dev_triplets.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    examples = [InputExample(texts=[r[0], r[1]], label=0) for r in rows[:30]]
    examples += [InputExample(texts=[r[0], r[2]], label=2) for r in rows[:30]]
    evaluator = ev.LabelAccuracyEvaluator(torch.utils.data.DataLoader(examples, batch_size=16), name="snli",
                                          softmax_model=loss)
    assert_metrics_equal(evaluator(model), gold["metrics"], tol=1e-12)  # argmax of clearly separated logits
    assert evaluator.primary_metric == gold["primary"]


@pytest.mark.parametrize("model_key", ["hash", "hash_dot", "bert", "mpnet"])
def test_sequential_matches(model_key):
    gold = GOLDEN[f"{model_key}/sequential_mean"]
    seq = ev.SequentialEvaluator([build(*SPECS["sts_default"]), build(*SPECS["mrpc_default"])],
                                 main_score_function=lambda scores: sum(scores) / len(scores))
    tol = EXACT_TOL if model_key.startswith("hash") else LOOSE_TOL
    assert_metrics_equal(seq(load(model_key)), gold["metrics"], tol)
    assert seq.primary_metric == gold["primary"]
