"""mine_hard_negatives against sentence-transformers 6.2's outputs (tests/generate_ce_eval_fixtures.py).

The embedding model is the hash bag-of-words model and the CrossEncoder a deterministic pair scorer, so ST and
embedkit see identical scores: every spec must give the same columns, the same rows (texts) and scores within 1e-6.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedkit
from embedkit.data import Dataset
from embedkit.util import mine_hard_negatives
from tests.generate_ce_eval_fixtures import MiningHashModel, mining_data, mining_kwargs, mining_specs

FIX = Path(__file__).parents[1] / "fixtures"
GOLDEN = json.loads((FIX / "ce_evaluation/golden_hard_negatives.json").read_text(encoding="utf-8"))
COLUMNS, CORPUS = mining_data(FIX / "evaluation/data")
SPECS = mining_specs()


def decode(value, texts):
    if isinstance(value, dict) and set(value) == {"t"}:
        return texts[value["t"]]
    if isinstance(value, list):
        return [decode(v, texts) for v in value]
    return value


def assert_same(ours: dict, golden: dict, tol: float = 1e-6) -> None:
    assert list(ours) == golden["columns"]
    for name in golden["columns"]:
        expected = decode(golden["data"][name], GOLDEN["texts"])
        assert len(ours[name]) == len(expected) == golden["rows"], name
        if name in ("scores", "score"):
            flat = lambda rows: [x for r in rows for x in (r if isinstance(r, list) else [r])]  # noqa: E731
            assert flat(ours[name]) == pytest.approx(flat(expected), abs=tol), name
        else:
            assert ours[name] == expected, name


@pytest.mark.parametrize("name", list(SPECS))
def test_matches_sentence_transformers(name):
    spec = SPECS[name]
    columns, kwargs = mining_kwargs(spec, COLUMNS, CORPUS)
    if "seed" in spec:
        random.seed(spec["seed"])
    result = mine_hard_negatives(Dataset.from_dict(columns), MiningHashModel(), **kwargs)
    assert isinstance(result, Dataset)
    assert_same(result.to_dict(), GOLDEN["specs"][name])


class StandInHFDataset(Dataset):
    """What embedkit sees of a ``datasets.Dataset`` (its module and the interface it uses: ``from_dict``,
    ``column_names``, column access, ``to_dict``), so the datasets path runs where ``datasets`` is not installed."""


StandInHFDataset.__module__ = "datasets.arrow_dataset"
StandInHFDataset.__name__ = StandInHFDataset.__qualname__ = "Dataset"


def test_a_datasets_typed_input_comes_back_as_its_own_type():
    columns, kwargs = mining_kwargs(SPECS["ntuple_scores"], COLUMNS, CORPUS)
    result = mine_hard_negatives(StandInHFDataset.from_dict(columns), MiningHashModel(), **kwargs)
    assert type(result) is StandInHFDataset  # built by the input's own class, as for datasets.Dataset
    assert_same(result.to_dict(), GOLDEN["specs"]["ntuple_scores"])


def test_accepts_and_returns_hf_datasets():
    datasets = pytest.importorskip("datasets")
    columns, kwargs = mining_kwargs(SPECS["ntuple_scores"], COLUMNS, CORPUS)
    result = mine_hard_negatives(datasets.Dataset.from_dict(columns), MiningHashModel(), **kwargs)
    assert isinstance(result, datasets.Dataset)
    assert_same(result.to_dict(), GOLDEN["specs"]["ntuple_scores"])


def test_column_names_and_other_inputs():
    swapped = {"answer": COLUMNS["answer"], "query": COLUMNS["query"]}
    columns, kwargs = mining_kwargs(SPECS["triplet"], swapped, CORPUS)
    result = mine_hard_negatives(columns, MiningHashModel(), anchor_column_name="query",
                                 positive_column_name="answer", **kwargs)
    assert result.column_names == ["query", "answer", "negative"]
    assert_same({k: result[k] for k in ("query", "answer", "negative")}, GOLDEN["specs"]["triplet"])


def test_verbose_prints_statistics(capsys):
    columns, kwargs = mining_kwargs(SPECS["all_filters"], COLUMNS, CORPUS)
    mine_hard_negatives(Dataset.from_dict(columns), MiningHashModel(), **{**kwargs, "verbose": True})
    out = capsys.readouterr().out
    assert "Metric" in out and "Skipped" in out and "Could not find enough negatives" in out


@pytest.mark.parametrize("kwargs,error,match", [
    ({"output_format": "quadruplet"}, ValueError, "output_format must be one of"),
    ({"sampling_strategy": "best"}, ValueError, "sampling_strategy must be one of"),
    ({"num_negatives": 0}, ValueError, "num_negatives must be at least 1"),
    ({"range_min": 5, "range_max": 5}, ValueError, "range_min must be smaller"),
    ({"range_min": -1}, ValueError, "range_min must be non-negative"),
    ({"range_min": 2, "range_max": 4, "num_negatives": 3}, ValueError, "Cannot mine 3 negatives"),
    ({"faiss_batch_size": 0}, ValueError, "faiss_batch_size"),
    ({"anchor_column_name": "nope"}, ValueError, "anchor_column_name='nope' is not a column"),
    ({"corpus": ["ok", None]}, TypeError, "corpus 1 has type NoneType"),
])
def test_bad_inputs(kwargs, error, match):
    data = Dataset.from_dict({"q": ["a b", "c d"], "p": ["a x", "c y"]})
    with pytest.raises(error, match=match):
        mine_hard_negatives(data, MiningHashModel(), verbose=False, **kwargs)


def test_empty_and_single_column():
    with pytest.raises(ValueError, match="empty"):
        mine_hard_negatives(Dataset.from_dict({"q": [], "p": []}), MiningHashModel(), verbose=False)
    with pytest.raises(ValueError, match="at least two columns"):
        mine_hard_negatives(Dataset.from_dict({"q": ["a"]}), MiningHashModel(), verbose=False)


def test_real_models_end_to_end():
    """embedkit's SentenceTransformer and CrossEncoder plug in (tiny random checkpoints: shapes only)."""
    model = embedkit.SentenceTransformer(str(FIX / "tiny_bert_v6"), device="cpu")
    ce = embedkit.CrossEncoder(FIX / "ce_bert1", device="cpu")
    columns = {k: v[:8] for k, v in COLUMNS.items()}
    result = mine_hard_negatives(columns, model, corpus=CORPUS[:30], cross_encoder=ce, max_score=1.0,
                                 num_negatives=2, output_format="n-tuple", output_scores=True, verbose=False)
    assert result.column_names == ["query", "answer", "negative_1", "negative_2", "scores"]
    assert all(len(s) == 3 for s in result["scores"])


def test_exports_and_no_datasets_import():
    assert embedkit.mine_hard_negatives is mine_hard_negatives
    code = ("import sys; from embedkit.util import mine_hard_negatives; from embedkit.data import Dataset; "
            "from tests.generate_ce_eval_fixtures import MiningHashModel; "
            "mine_hard_negatives(Dataset.from_dict({'q': ['a b', 'c d'], 'p': ['a x', 'c y']}), MiningHashModel(), "
            "num_negatives=1, verbose=False); assert 'datasets' not in sys.modules, 'datasets imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


class _FakeFlatIP:
    """numpy stand-in for faiss.IndexFlatIP: exact inner-product search, short result lists padded with -1."""

    def __init__(self, dim):
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def add(self, vectors):
        self.vectors = np.concatenate([self.vectors, vectors])

    def search(self, queries, k):
        scores = queries @ self.vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(scores, order, axis=1)
        pad = k - order.shape[1]
        if pad > 0:
            order = np.pad(order, ((0, 0), (0, pad)), constant_values=-1)
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-3.4e38)
        return top.astype(np.float32), order.astype(np.int64)


def test_use_faiss_matches_torch_search(monkeypatch):
    import sys
    import types

    fake = types.SimpleNamespace(IndexFlatIP=_FakeFlatIP)  # no GpuMultipleClonerOptions: stays on CPU
    monkeypatch.setitem(sys.modules, "faiss", fake)
    columns, kwargs = mining_kwargs(SPECS["all_filters"], COLUMNS, CORPUS)
    kwargs = {**kwargs, "verbose": False}
    with_faiss = mine_hard_negatives(Dataset.from_dict(columns), MiningHashModel(), use_faiss=True,
                                     faiss_batch_size=2, **kwargs)
    without = mine_hard_negatives(Dataset.from_dict(columns), MiningHashModel(), **kwargs)
    assert with_faiss.column_names == without.column_names
    for column in without.column_names:
        if column == "scores":
            np.testing.assert_allclose(np.array(with_faiss[column]), np.array(without[column]), rtol=1e-5)
        else:
            assert with_faiss[column] == without[column]


def test_use_faiss_without_faiss_raises_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    data = Dataset.from_dict({"q": ["a b", "c d"], "p": ["a x", "c y"]})
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        mine_hard_negatives(data, MiningHashModel(), verbose=False, use_faiss=True)
