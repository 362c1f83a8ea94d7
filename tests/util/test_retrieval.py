"""Tests for embedkit.util.retrieval: golden values from sentence-transformers plus hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from embedkit.util import (
    community_detection,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)
from embedkit.util.retrieval import _candidates_vectorized, _resolve_overlaps

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "util"
SCORE_FNS = {"dot_score": dot_score, "euclidean_sim": euclidean_sim, "manhattan_sim": manhattan_sim}


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURE_DIR / "retrieval_inputs.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def gold() -> dict[str, Any]:
    return json.loads((FIXTURE_DIR / "retrieval.json").read_text())


def hits(results: list[list[dict[str, Any]]]) -> list[list[list[float]]]:
    for query in results:
        for hit in query:
            assert set(hit) == {"corpus_id", "score"}
            assert type(hit["corpus_id"]) is int and type(hit["score"]) is float
    return [[[hit["corpus_id"], hit["score"]] for hit in query] for query in results]


def assert_hits_equal(actual: list[list[list[float]]], expected: list[list[list[float]]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert [cid for cid, _ in got] == [cid for cid, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-6, rtol=0)


def assert_pairs_equal(actual: list[list[float | int]], expected: list[list[float | int]]) -> None:
    assert [(i, j) for _, i, j in actual] == [(i, j) for _, i, j in expected]
    assert all(type(i) is int and type(j) is int for _, i, j in actual)
    np.testing.assert_allclose([s for s, _, _ in actual], [s for s, _, _ in expected], atol=1e-6, rtol=0)


# --- semantic_search ----------------------------------------------------------------------------


def test_semantic_search_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    q, c = arrays["queries"], arrays["corpus"]
    g = gold["semantic_search"]
    assert_hits_equal(hits(semantic_search(torch.from_numpy(q), torch.from_numpy(c))), g["default"])
    assert_hits_equal(hits(semantic_search(q, c, query_chunk_size=3, corpus_chunk_size=250, top_k=5)), g["chunked"])
    assert_hits_equal(hits(semantic_search(q[:2], c, query_chunk_size=1, corpus_chunk_size=100, top_k=130)), g["big_k"])
    assert_hits_equal(hits(semantic_search(q[0], c, corpus_chunk_size=333, top_k=4)), g["query_1d"])
    half = semantic_search(torch.from_numpy(q).half(), torch.from_numpy(c).half(), top_k=6)
    assert_hits_equal(hits(half), g["fp16"])
    assert_hits_equal(hits(semantic_search(q, c[:5], top_k=10)), g["k_over_corpus"])


@pytest.mark.parametrize("name", SCORE_FNS)
def test_semantic_search_score_functions_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any], name: str) -> None:
    out = semantic_search(
        arrays["queries"],
        arrays["corpus"],
        corpus_chunk_size=170,
        query_chunk_size=4,
        top_k=7,
        score_function=SCORE_FNS[name],
    )
    assert_hits_equal(hits(out), gold["semantic_search"][f"{name}_chunked"])


def test_semantic_search_ties_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    q, c = arrays["tie_queries"], arrays["tie_corpus"]
    g = gold["semantic_search"]
    chunked = semantic_search(q, c, corpus_chunk_size=64, top_k=12, score_function=dot_score)
    assert_hits_equal(hits(chunked), g["ties_dot"])
    assert_hits_equal(hits(semantic_search(q, c, top_k=12, score_function=dot_score)), g["ties_dot_one_chunk"])


def test_semantic_search_sparse_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    q = torch.from_numpy(arrays["tie_queries"]).to_sparse()
    c = torch.from_numpy(arrays["tie_corpus"]).to_sparse()
    assert_hits_equal(hits(semantic_search(q, c, corpus_chunk_size=90)), gold["semantic_search"]["sparse"])


def test_semantic_search_hand_case() -> None:
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    out = semantic_search(torch.tensor([[1.0, 0.0], [0.0, -2.0]]), corpus, top_k=3, corpus_chunk_size=2)
    r = 0.5**0.5
    assert [[h["corpus_id"] for h in q] for q in out] == [[0, 2, 1], [0, 3, 2]]
    np.testing.assert_allclose([h["score"] for h in out[0]], [1.0, r, 0.0], atol=1e-6)
    np.testing.assert_allclose([h["score"] for h in out[1]], [0.0, 0.0, -r], atol=1e-6)


def test_semantic_search_chunking_invariant() -> None:
    gen = torch.Generator().manual_seed(0)
    q, c = torch.randn(9, 5, generator=gen), torch.randn(257, 5, generator=gen)
    full = cos_sim(q, c)
    expected_ids = full.topk(6, dim=1).indices.tolist()
    for qcs, ccs in [(100, 500000), (2, 10), (1, 1), (9, 256)]:
        out = semantic_search(q, c, query_chunk_size=qcs, corpus_chunk_size=ccs, top_k=6)
        assert [[h["corpus_id"] for h in row] for row in out] == expected_ids
        for row, scores in zip(out, full.topk(6, dim=1).values.tolist()):
            np.testing.assert_allclose([h["score"] for h in row], scores, atol=1e-6)


def test_semantic_search_edge_cases() -> None:
    c = torch.randn(4, 3)
    assert semantic_search(torch.zeros(0, 3), c) == []
    assert semantic_search(torch.randn(2, 3), torch.zeros(0, 3)) == [[], []]
    assert semantic_search(torch.randn(2, 3), c, top_k=0) == [[], []]
    with pytest.raises(ValueError, match="query_chunk_size"):
        semantic_search(torch.randn(2, 3), c, query_chunk_size=0)


# --- paraphrase mining --------------------------------------------------------------------------


def test_paraphrase_mining_embeddings_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    mine = torch.from_numpy(arrays["mine"])
    g = gold["paraphrase_mining"]
    assert_pairs_equal(paraphrase_mining_embeddings(mine[:40]), g["default"])
    chunked = paraphrase_mining_embeddings(mine, query_chunk_size=70, corpus_chunk_size=90, top_k=5, max_pairs=200)
    assert_pairs_equal(chunked, g["chunked"])
    tiny = paraphrase_mining_embeddings(mine, query_chunk_size=64, corpus_chunk_size=50, top_k=3, max_pairs=7)
    assert_pairs_equal(tiny, g["tiny_heap"])
    ties = paraphrase_mining_embeddings(
        torch.from_numpy(arrays["mine_ties"]), corpus_chunk_size=33, top_k=4, max_pairs=60, score_function=dot_score
    )
    assert_pairs_equal(ties, g["ties_dot"])
    assert_pairs_equal(paraphrase_mining_embeddings(arrays["mine"][:40], top_k=2), g["numpy_input"])


def test_paraphrase_mining_embeddings_properties() -> None:
    gen = torch.Generator().manual_seed(1)
    emb = torch.randn(30, 4, generator=gen)
    out = paraphrase_mining_embeddings(emb, query_chunk_size=7, corpus_chunk_size=11, top_k=29)
    sims = cos_sim(emb, emb)
    expected = sorted(
        ((sims[i, j].item(), i, j) for i in range(30) for j in range(i + 1, 30)), key=lambda t: t[0], reverse=True
    )
    assert [(i, j) for _, i, j in out] == [(i, j) for _, i, j in expected]
    np.testing.assert_allclose([s for s, _, _ in out], [s for s, _, _ in expected], atol=1e-6)
    capped = paraphrase_mining_embeddings(emb, top_k=29, max_pairs=10)
    assert [(i, j) for _, i, j in capped] == [(i, j) for _, i, j in expected[:10]]


def test_paraphrase_mining_hand_case() -> None:
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.5]])
    out = paraphrase_mining_embeddings(emb, top_k=1)
    # best neighbour of 0 is 2 (cos 0.995), of 1 is 3 (0.447), of 2 is 0 (same pair), of 3 is 1 (same pair)
    assert [(i, j) for _, i, j in out] == [(0, 2), (1, 3)]
    np.testing.assert_allclose([s for s, _, _ in out], [1 / np.sqrt(1.01), 0.5 / np.sqrt(1.25)], atol=1e-6)
    out = paraphrase_mining_embeddings(emb, top_k=2)
    # second neighbours: of 0 -> 1 (0.0), of 1 -> 2 (0.0995), of 2 -> 1, of 3 -> 0 (-0.894) vs 2 (-0.845): 2
    assert [(i, j) for _, i, j in out] == [(0, 2), (1, 3), (1, 2), (0, 1), (2, 3)]


class LookupModel:
    """Stand-in encoder: returns stored embeddings and records the encode kwargs."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.kwargs: dict[str, Any] = {}

    def encode(self, sentences: list[str], **kwargs: Any) -> torch.Tensor:
        self.kwargs = kwargs
        return torch.from_numpy(self.table[[int(s) for s in sentences]])


def test_paraphrase_mining_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    model = LookupModel(arrays["mine"])
    out = paraphrase_mining(
        model, [str(i) for i in range(0, 300, 3)], batch_size=7, top_k=4, max_pairs=50, prompt="q: "
    )
    assert_pairs_equal(out, gold["paraphrase_mining"]["model"])
    assert model.kwargs == gold["paraphrase_mining"]["model_kwargs"]


# --- community detection ------------------------------------------------------------------------

COMMUNITY_CASES = {
    "default": {},
    "batched": {"threshold": 0.8, "min_community_size": 5, "batch_size": 32},
    "grow_k": {"threshold": 0.7, "min_community_size": 3, "batch_size": 50},
    "strict": {"threshold": 0.9, "min_community_size": 2},
}


@pytest.mark.parametrize("case", COMMUNITY_CASES)
def test_community_detection_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any], case: str) -> None:
    out = community_detection(torch.from_numpy(arrays["clusters"]), **COMMUNITY_CASES[case])
    assert out == gold["community_detection"][case]
    assert all(type(i) is int for community in out for i in community)


def test_community_detection_more_golden(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    g = gold["community_detection"]
    x = arrays["clusters"]
    assert community_detection(x.astype(np.float64), threshold=0.7, min_community_size=4) == g["fp64"]
    assert community_detection(arrays["overlap"], threshold=0.5, min_community_size=6, batch_size=16) == g["overlap"]
    assert community_detection(x[:5], min_community_size=10) == g["too_few"] == []


def test_community_detection_properties(arrays: dict[str, np.ndarray]) -> None:
    x = torch.from_numpy(arrays["clusters"])
    out = community_detection(x, threshold=0.7, min_community_size=3, batch_size=50)
    flat = [i for community in out for i in community]
    assert len(flat) == len(set(flat))
    assert [len(c) for c in out] == sorted((len(c) for c in out), reverse=True)
    sims = cos_sim(x, x)
    for community in out:
        assert len(community) >= 3
        centre = community[0]
        assert all(sims[centre, j] >= 0.7 for j in community)
        # members after the centre follow by non-increasing similarity to it
        rest = sims[centre, community[1:]].tolist()
        assert rest == sorted(rest, reverse=True)


def test_community_detection_hand_case() -> None:
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.1, 0.99], [0.98, 0.2], [-1.0, 0.0], [0.0, 0.98]])
    # cluster around x: {0, 2, 4}; around y: {1, 3, 6}; 5 alone
    assert community_detection(emb, threshold=0.9, min_community_size=3) == [[0, 2, 4], [1, 6, 3]]
    assert community_detection(emb, threshold=0.9, min_community_size=4) == []
    assert community_detection(torch.zeros(0, 2)) == []
    assert community_detection(torch.tensor([1.0, 0.0]), min_community_size=1) == [[0]]
    with pytest.raises(ValueError, match="min_community_size"):
        community_detection(emb, min_community_size=0)


def test_community_detection_threshold_is_float32() -> None:
    # The threshold is compared as a float32 value (as in sentence-transformers): a float64 cosine of
    # 0.699999995 lies between float32(0.7) = 0.69999998807907 and 0.7, so it passes threshold=0.7.
    c = 0.699999995
    emb = np.array([[1.0, 0.0], [c, np.sqrt(1 - c * c)]])
    assert community_detection(emb, threshold=0.7, min_community_size=2) == [[0, 1]]


def test_community_detection_progress_bar(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    out = community_detection(arrays["clusters"], show_progress_bar=True)
    assert out == gold["community_detection"]["default"]


def test_community_detection_accelerator_path_agrees(arrays: dict[str, np.ndarray], gold: dict[str, Any]) -> None:
    # The batched candidate search used on CUDA/NPU devices, run on CPU, must give the same communities.
    x = torch.nn.functional.normalize(torch.from_numpy(arrays["clusters"]), dim=-1)
    for case in ("default", "batched", "grow_k"):
        params = {"threshold": 0.75, "min_community_size": 10, "batch_size": 1024, **COMMUNITY_CASES[case]}
        thr = torch.tensor(params["threshold"])
        candidates = []
        for start in range(0, len(x), params["batch_size"]):
            scores = x[start : start + params["batch_size"]] @ x.T
            candidates += _candidates_vectorized(scores, start, thr, params["min_community_size"])
        assert _resolve_overlaps(candidates, len(x), params["min_community_size"]) == gold["community_detection"][case]


@pytest.mark.parametrize("call", ["semantic_search_corpus", "semantic_search_query", "community_detection",
                                  "paraphrase_mining_embeddings"])
def test_non_finite_embeddings_are_refused_naming_the_rows(call: str) -> None:
    import torch

    from embedkit.util import community_detection, paraphrase_mining_embeddings, semantic_search

    good = torch.nn.functional.normalize(torch.randn(12, 8), dim=1)
    bad = good.clone()
    bad[3, 2] = float("nan")
    bad[7, 0] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or infinite values \(rows \[3, 7\]\)"):
        if call == "semantic_search_corpus":
            semantic_search(good[:2], bad)
        elif call == "semantic_search_query":
            semantic_search(bad, good)
        elif call == "community_detection":
            community_detection(bad, min_community_size=2)
        else:
            paraphrase_mining_embeddings(bad)
    assert semantic_search(good[:2], good)[0][0]["corpus_id"] == 0  # finite input unchanged
