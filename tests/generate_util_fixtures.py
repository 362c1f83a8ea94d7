"""Generate golden outputs of ``sentence_transformers.util`` for the embedkit.util tests.

Run by hand in an environment that has sentence-transformers (6.2) installed,
from the repository root::

    /opt/dev/bin/python tests/generate_util_fixtures.py

It writes seeded inputs and sentence-transformers' outputs to
``tests/fixtures/util/`` (``similarity.npz``, ``quantization.npz``,
``retrieval_inputs.npz`` and ``retrieval.json``). The tests only read those
files; they never import sentence-transformers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import __version__ as st_version
from sentence_transformers import util as st

OUT = Path(__file__).parent / "fixtures" / "util"
MATRIX_FNS = ("cos_sim", "dot_score", "euclidean_sim", "manhattan_sim")
PAIRWISE_FNS = (
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "pairwise_angle_sim",
)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _sparsify(rng: np.random.Generator, shape: tuple[int, int], density: float) -> np.ndarray:
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) > density] = 0.0
    x[1] = 0.0  # an all-zero row
    return x


def similarity_fixtures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    a = rng.standard_normal((5, 16)).astype(np.float32)
    b = rng.standard_normal((7, 16)).astype(np.float32)
    a1 = rng.standard_normal(16).astype(np.float32)
    a16, b16 = a.astype(np.float16), b.astype(np.float16)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out: dict[str, np.ndarray] = {"a": a, "b": b, "a1": a1, "a16": a16, "b16": b16}
    for name in MATRIX_FNS:
        fn = getattr(st, name)
        out[f"{name}/2d"] = _np(fn(a, b))
        out[f"{name}/1d"] = _np(fn(a1, b))
        out[f"{name}/fp16"] = _np(fn(torch.from_numpy(a16), torch.from_numpy(b16)))
        out[f"{name}/bf16"] = _np(fn(torch.from_numpy(a).bfloat16(), torch.from_numpy(b).bfloat16()))
        out[f"{name}/fp64"] = _np(fn(a64, b64))

    pa = rng.standard_normal((6, 16)).astype(np.float32)
    pb = rng.standard_normal((6, 16)).astype(np.float32)
    pa_odd, pb_odd = pa[:, :15].copy(), pb[:, :15].copy()
    pb[2] = pa[2]  # identical pair
    out.update({"pa": pa, "pb": pb, "pa_odd": pa_odd, "pb_odd": pb_odd})
    for name in PAIRWISE_FNS:
        fn = getattr(st, name)
        out[f"{name}/2d"] = _np(fn(pa, pb))
        out[f"{name}/odd"] = _np(fn(pa_odd, pb_odd))
        out[f"{name}/fp16"] = _np(fn(torch.from_numpy(pa).half(), torch.from_numpy(pb).half()))
        if name != "pairwise_angle_sim":  # angle similarity needs 2-D input
            out[f"{name}/1d"] = _np(fn(pa[0], pb[0]))

    sa = _sparsify(rng, (6, 40), 0.2)
    sb = _sparsify(rng, (9, 40), 0.2)
    out.update({"sa": sa, "sb": sb})
    ta, tb = torch.from_numpy(sa), torch.from_numpy(sb)
    for name in MATRIX_FNS:
        fn = getattr(st, name)
        out[f"{name}/sparse"] = _np(fn(ta.to_sparse(), tb.to_sparse()))
        out[f"{name}/sparse_dense"] = _np(fn(ta.to_sparse(), tb))
        out[f"{name}/dense_sparse"] = _np(fn(ta, tb.to_sparse()))
    out["normalize/dense"] = _np(st.normalize_embeddings(ta))
    out["normalize/sparse"] = _np(st.normalize_embeddings(ta.to_sparse()).to_dense())
    out["truncate/np"] = st.truncate_embeddings(a, 5)
    return out


def quantization_fixtures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    emb = rng.standard_normal((150, 20)).astype(np.float32)
    emb[:, 3] = 0.25  # a constant dimension: zero-width range
    emb[5, :] = 0.0  # exact zeros, on the binary threshold
    small = rng.standard_normal((12, 20)).astype(np.float32)
    calib = (1.5 * rng.standard_normal((150, 20))).astype(np.float32)
    ranges = np.vstack([np.full(20, -1.0), np.full(20, 1.0)]).astype(np.float64)
    ranges[:, 7] = 0.5  # zero-width explicit range
    vec = rng.standard_normal(20).astype(np.float32)
    docs = [rng.standard_normal((n, 20)).astype(np.float32) for n in (4, 9, 0, 30)]
    out: dict[str, np.ndarray] = {
        "emb": emb,
        "small": small,
        "calib": calib,
        "ranges": ranges,
        "vec": vec,
        **{f"doc{i}": d for i, d in enumerate(docs)},
    }
    # float32 "quantization" is a plain cast: only small outputs are stored for it.
    out["float32/small"] = st.quantize_embeddings(small, "float32")
    out["float32/rows"] = st.quantize_embeddings(list(small), "float32")
    out["float32/bf16_small"] = st.quantize_embeddings(torch.from_numpy(small).bfloat16(), "float32")
    for precision in ("int8", "uint8", "binary", "ubinary"):
        out[f"{precision}/self"] = st.quantize_embeddings(emb, precision)
        out[f"{precision}/small"] = st.quantize_embeddings(small, precision)
        out[f"{precision}/calib"] = st.quantize_embeddings(emb, precision, calibration_embeddings=calib)
        out[f"{precision}/ranges"] = st.quantize_embeddings(emb, precision, ranges=ranges)
        out[f"{precision}/vec_ranges"] = st.quantize_embeddings(vec, precision, ranges=ranges)
        out[f"{precision}/fp16"] = st.quantize_embeddings(torch.from_numpy(emb).half(), precision)
        out[f"{precision}/bf16"] = st.quantize_embeddings(torch.from_numpy(emb).bfloat16(), precision)
        out[f"{precision}/fp64"] = st.quantize_embeddings(emb.astype(np.float64), precision)
        out[f"{precision}/rows"] = st.quantize_embeddings(list(small), precision)
        for i, q in enumerate(st.quantize_embeddings(docs, precision)):
            out[f"{precision}/docs{i}"] = q
        for i, q in enumerate(st.quantize_embeddings(docs, precision, calibration_embeddings=calib)):
            out[f"{precision}/docs_calib{i}"] = q
    return out


def _clustered(rng: np.random.Generator, sizes: tuple[int, ...], dim: int, noise: float, n_noise: int) -> np.ndarray:
    centres = rng.standard_normal((len(sizes), dim))
    rows = [c + noise * rng.standard_normal((size, dim)) for c, size in zip(centres, sizes)]
    rows.append(rng.standard_normal((n_noise, dim)))
    x = np.concatenate(rows).astype(np.float32)
    return x[rng.permutation(len(x))]


def _hits(results: list[list[dict[str, Any]]]) -> list[list[list[float]]]:
    return [[[hit["corpus_id"], hit["score"]] for hit in query] for query in results]


class LookupModel:
    """Stand-in encoder: returns stored embeddings and records the encode kwargs."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.kwargs: dict[str, Any] = {}

    def encode(self, sentences: list[str], **kwargs: Any) -> torch.Tensor:
        self.kwargs = kwargs
        return torch.from_numpy(self.table[[int(s) for s in sentences]])


def retrieval_fixtures(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    corpus = rng.standard_normal((1200, 8)).astype(np.float32)
    corpus[600:610] = corpus[100]  # duplicate rows: cosine ties
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    queries[3] = corpus[100]
    tie_corpus = rng.integers(-1, 2, size=(400, 6)).astype(np.float32)  # many exact dot-product ties
    tie_queries = rng.integers(-1, 2, size=(5, 6)).astype(np.float32)
    mine = rng.standard_normal((300, 8)).astype(np.float32)
    mine[50:55] = mine[10]
    mine_ties = rng.integers(-1, 2, size=(120, 5)).astype(np.float32)
    clusters = _clustered(rng, (80, 40, 25, 12, 8, 3), 16, 0.35, 60)
    overlap = _clustered(rng, (30, 30), 8, 1.0, 20)
    arrays = {
        "corpus": corpus,
        "queries": queries,
        "tie_corpus": tie_corpus,
        "tie_queries": tie_queries,
        "mine": mine,
        "mine_ties": mine_ties,
        "clusters": clusters,
        "overlap": overlap,
    }

    ss = st.semantic_search
    golden: dict[str, Any] = {"semantic_search": {}, "paraphrase_mining": {}, "community_detection": {}}
    sem = golden["semantic_search"]
    sem["default"] = _hits(ss(torch.from_numpy(queries), torch.from_numpy(corpus)))
    sem["chunked"] = _hits(ss(queries, corpus, query_chunk_size=3, corpus_chunk_size=250, top_k=5))
    sem["big_k"] = _hits(ss(queries[:2], corpus, query_chunk_size=1, corpus_chunk_size=100, top_k=130))
    sem["query_1d"] = _hits(ss(queries[0], corpus, corpus_chunk_size=333, top_k=4))
    sem["fp16"] = _hits(ss(torch.from_numpy(queries).half(), torch.from_numpy(corpus).half(), top_k=6))
    sem["k_over_corpus"] = _hits(ss(queries, corpus[:5], top_k=10))
    for fn in ("dot_score", "euclidean_sim", "manhattan_sim"):
        sem[f"{fn}_chunked"] = _hits(
            ss(queries, corpus, corpus_chunk_size=170, query_chunk_size=4, top_k=7, score_function=getattr(st, fn))
        )
    sem["ties_dot"] = _hits(ss(tie_queries, tie_corpus, corpus_chunk_size=64, top_k=12, score_function=st.dot_score))
    sem["ties_dot_one_chunk"] = _hits(ss(tie_queries, tie_corpus, top_k=12, score_function=st.dot_score))
    sem["sparse"] = _hits(
        ss(torch.from_numpy(tie_queries).to_sparse(), torch.from_numpy(tie_corpus).to_sparse(), corpus_chunk_size=90)
    )

    pm = golden["paraphrase_mining"]
    pme = st.paraphrase_mining_embeddings
    pm["default"] = pme(torch.from_numpy(mine[:40]))
    pm["chunked"] = pme(torch.from_numpy(mine), query_chunk_size=70, corpus_chunk_size=90, top_k=5, max_pairs=200)
    pm["tiny_heap"] = pme(torch.from_numpy(mine), query_chunk_size=64, corpus_chunk_size=50, top_k=3, max_pairs=7)
    pm["ties_dot"] = pme(
        torch.from_numpy(mine_ties), corpus_chunk_size=33, top_k=4, max_pairs=60, score_function=st.dot_score
    )
    pm["numpy_input"] = pme(mine[:40], top_k=2)
    model = LookupModel(mine)
    pm["model"] = st.paraphrase_mining(
        model, [str(i) for i in range(0, 300, 3)], batch_size=7, top_k=4, max_pairs=50, prompt="q: "
    )
    pm["model_kwargs"] = model.kwargs

    cd = golden["community_detection"]
    cdf = st.community_detection
    cd["default"] = cdf(torch.from_numpy(clusters))
    cd["batched"] = cdf(clusters, threshold=0.8, min_community_size=5, batch_size=32)
    cd["grow_k"] = cdf(clusters, threshold=0.7, min_community_size=3, batch_size=50)
    cd["strict"] = cdf(clusters, threshold=0.9, min_community_size=2)
    cd["fp64"] = cdf(clusters.astype(np.float64), threshold=0.7, min_community_size=4)
    cd["overlap"] = cdf(overlap, threshold=0.5, min_community_size=6, batch_size=16)
    cd["too_few"] = cdf(clusters[:5], min_community_size=10)
    return arrays, golden


def main() -> None:
    logging.disable(logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    np.savez_compressed(OUT / "similarity.npz", **similarity_fixtures(rng))
    np.savez_compressed(OUT / "quantization.npz", **quantization_fixtures(rng))
    arrays, golden = retrieval_fixtures(rng)
    np.savez_compressed(OUT / "retrieval_inputs.npz", **arrays)
    golden["meta"] = {"sentence_transformers": st_version, "torch": torch.__version__}
    (OUT / "retrieval.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
