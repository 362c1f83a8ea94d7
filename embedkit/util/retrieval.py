"""Search over embeddings: semantic search, paraphrase mining, community detection.

All three work in chunks so that the full similarity matrix is never held in
memory, and they return the same results (ties included) as the functions of
the same names in ``sentence_transformers.util`` (v6).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from embedkit.util.similarity import ArrayLike, _as_rows, _as_tensor, cos_sim, dot_score, normalize_embeddings

__all__ = [
    "community_detection",
    "information_retrieval",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
]

ScoreFunction = Callable[[Tensor, Tensor], Tensor]


class _Encoder(Protocol):
    """Anything with a sentence-transformers style ``encode`` method."""

    def encode(self, sentences: list[str], **kwargs: Any) -> Tensor: ...


def _row_slice(embeddings: Tensor, start: int, end: int) -> Tensor:
    """Rows ``start:end`` of a dense or sparse COO tensor."""
    if embeddings.is_sparse:
        rows = torch.arange(start, end, device=embeddings.device)
        return embeddings.index_select(0, rows)
    return embeddings[start:end]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}; valid: an int >= 1")


def _check_finite(name: str, embeddings: Tensor | np.ndarray) -> None:
    """Refuse NaN or infinite entries: a NaN row would compare as the best match of every query (or of none)."""
    values = _as_tensor(embeddings)
    if values.is_sparse:
        values = values.coalesce().values()
    # one float64 sum (no mask as big as the corpus): NaN or inf anywhere makes it non-finite
    if values.is_floating_point() and not bool(torch.isfinite(values.sum(dtype=torch.float64))):
        dense = _as_tensor(embeddings)
        dense = dense.to_dense() if dense.is_sparse else dense
        rows = [0] if dense.dim() < 2 else [
            start + i for start in range(0, len(dense), 4096)
            for i in (~torch.isfinite(dense[start:start + 4096])).any(dim=1).nonzero().flatten().tolist()]
        raise ValueError(f"{name} has NaN or infinite values (rows {rows[:10]}{' ...' if len(rows) > 10 else ''}); "
                         "fix or drop those embeddings first")


def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500000,
    top_k: int = 10,
    score_function: ScoreFunction = cos_sim,
) -> list[list[dict[str, int | float]]]:
    """Find the ``top_k`` most similar corpus entries for every query.

    The corpus is scanned in chunks of ``corpus_chunk_size`` rows and the
    queries in chunks of ``query_chunk_size``; each chunk's best candidates
    are merged into a per-query min-heap of size ``top_k``.

    Args:
        query_embeddings: Queries, shape ``(q, dim)`` or ``(dim,)``; may be sparse COO.
        corpus_embeddings: Corpus, shape ``(c, dim)``; may be sparse COO.
        query_chunk_size: Queries scored at once.
        corpus_chunk_size: Corpus rows scored at once.
        top_k: Number of hits returned per query (fewer if the corpus is smaller).
        score_function: ``(a, b) -> (len(a), len(b))`` scores; higher is more similar.

    Returns:
        One list per query of ``{"corpus_id": int, "score": float}`` dicts,
        sorted by decreasing score.

    Example:
        >>> import torch
        >>> corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> hits = semantic_search(torch.tensor([1.0, 0.1]), corpus, top_k=2)
        >>> [hit["corpus_id"] for hit in hits[0]]
        [0, 2]
    """
    _check_positive(query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size)
    queries = _as_tensor(query_embeddings)
    corpus = _as_tensor(corpus_embeddings)
    _check_finite("query_embeddings", queries)
    _check_finite("corpus_embeddings", corpus)
    if queries.dim() == 1:
        queries = queries.unsqueeze(0)
    if queries.device != corpus.device:
        queries = queries.to(corpus.device)

    n_queries, n_corpus = len(queries), len(corpus)
    heaps: list[list[tuple[float, int]]] = [[] for _ in range(n_queries)]
    # Cosine: normalize each corpus chunk once and score with a plain dot product.
    pre_normalize = score_function is cos_sim

    for c_start in range(0, n_corpus, corpus_chunk_size):
        c_end = min(c_start + corpus_chunk_size, n_corpus)
        corpus_chunk = _row_slice(corpus, c_start, c_end)
        if pre_normalize:
            corpus_chunk = normalize_embeddings(_as_rows(corpus_chunk))
        for q_start in range(0, n_queries, query_chunk_size):
            q_end = min(q_start + query_chunk_size, n_queries)
            query_chunk = _row_slice(queries, q_start, q_end)
            if pre_normalize:
                scores = dot_score(normalize_embeddings(_as_rows(query_chunk)), corpus_chunk)
            else:
                scores = score_function(query_chunk, corpus_chunk)
            k = min(top_k, scores.shape[1])
            values, indices = torch.topk(scores, k, dim=1, largest=True, sorted=False)
            values_list = values.cpu().tolist()
            ids_list = (indices + c_start).cpu().tolist()
            for heap, row_scores, row_ids in zip(heaps[q_start:q_end], values_list, ids_list):
                _push_top_k(heap, zip(row_scores, row_ids), top_k)

    return [
        [{"corpus_id": cid, "score": score} for score, cid in sorted(heap, key=lambda item: item[0], reverse=True)]
        for heap in heaps
    ]


def _push_top_k(heap: list[tuple[float, int]], candidates: Iterable[tuple[float, int]], top_k: int) -> None:
    """Offer ``(score, id)`` candidates to a min-heap that keeps the ``top_k`` largest."""
    for candidate in candidates:
        if len(heap) < top_k:
            heapq.heappush(heap, candidate)
        else:
            heapq.heappushpop(heap, candidate)


def paraphrase_mining(
    model: _Encoder,
    sentences: list[str],
    show_progress_bar: bool = False,
    batch_size: int = 32,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
    truncate_dim: int | None = None,
    prompt_name: str | None = None,
    prompt: str | None = None,
) -> list[list[float | int]]:
    """Encode ``sentences`` with ``model`` and return their most similar pairs.

    Args:
        model: An encoder with a sentence-transformers style ``encode`` method.
        sentences: Texts to compare with each other.
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        query_chunk_size: Sentences used as queries at once.
        corpus_chunk_size: Sentences compared against at once.
        max_pairs: Maximum number of pairs returned.
        top_k: Neighbours kept per sentence.
        score_function: Symmetric ``(a, b) -> scores`` function.
        truncate_dim: Passed to ``model.encode``.
        prompt_name: Passed to ``model.encode``.
        prompt: Passed to ``model.encode``.

    Returns:
        ``[score, i, j]`` triplets with ``i < j``, by decreasing score.

    Example:
        >>> import torch
        >>> class Lookup:
        ...     def encode(self, sentences, **kwargs):
        ...         table = {"a": [1.0, 0.0], "b": [0.9, 0.1], "c": [0.0, 1.0]}
        ...         return torch.tensor([table[s] for s in sentences])
        >>> [(i, j) for _, i, j in paraphrase_mining(Lookup(), ["a", "b", "c"])]
        [(0, 1), (1, 2), (0, 2)]
    """
    embeddings = model.encode(
        sentences,
        show_progress_bar=show_progress_bar,
        batch_size=batch_size,
        convert_to_tensor=True,
        truncate_dim=truncate_dim,
        prompt_name=prompt_name,
        prompt=prompt,
    )
    return paraphrase_mining_embeddings(
        embeddings,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
        max_pairs=max_pairs,
        top_k=top_k,
        score_function=score_function,
    )


def paraphrase_mining_embeddings(
    embeddings: Tensor | np.ndarray,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
) -> list[list[float | int]]:
    """Return the most similar pairs among ``embeddings``.

    Each row keeps its ``top_k`` best neighbours (itself excluded) across all
    corpus chunks; the pairs are deduplicated as ``(min, max)`` and the best
    ``max_pairs`` are kept in a min-heap.

    Args:
        embeddings: Embeddings of shape ``(n, dim)``.
        query_chunk_size: Rows used as queries at once.
        corpus_chunk_size: Rows compared against at once.
        max_pairs: Maximum number of pairs returned.
        top_k: Neighbours kept per row.
        score_function: Symmetric ``(a, b) -> scores`` function; only one
            direction's score is kept per pair.

    Returns:
        ``[score, i, j]`` triplets with ``i < j``, by decreasing score.

    Example:
        >>> import torch
        >>> emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
        >>> [(i, j) for _, i, j in paraphrase_mining_embeddings(emb, max_pairs=1)]
        [(0, 2)]
    """
    _check_positive(query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size)
    _check_finite("embeddings", embeddings)
    n = len(embeddings)
    pairs: list[tuple[float, int, int]] = []  # min-heap of (score, i, j), at most max_pairs long
    in_heap: set[tuple[int, int]] = set()
    floor = float("-inf")  # score of the last pair evicted from a full heap

    for q_start in range(0, n, query_chunk_size):
        queries = embeddings[q_start : q_start + query_chunk_size]
        best_values, best_ids = _top_k_over_chunks(queries, embeddings, corpus_chunk_size, top_k + 1, score_function)
        for offset, (row_values, row_ids) in enumerate(zip(best_values, best_ids)):
            i = q_start + offset
            neighbours = [(j, s) for j, s in zip(row_ids, row_values) if j != i][:top_k]
            for j, score in neighbours:
                if score <= floor:
                    continue
                pair = (i, j) if i < j else (j, i)
                if pair in in_heap:
                    continue
                in_heap.add(pair)
                if len(pairs) < max_pairs:
                    heapq.heappush(pairs, (score, *pair))
                else:
                    dropped = heapq.heappushpop(pairs, (score, *pair))
                    in_heap.discard(dropped[1:])
                    floor = dropped[0]

    return sorted(([score, i, j] for score, i, j in pairs), key=lambda item: item[0], reverse=True)


def _top_k_over_chunks(
    queries: Tensor | np.ndarray,
    embeddings: Tensor | np.ndarray,
    chunk_size: int,
    k: int,
    score_function: ScoreFunction,
) -> tuple[list[list[float]], list[list[int]]]:
    """Per-query best ``k`` (scores, ids) over all of ``embeddings``, merged chunk by chunk."""
    values: Tensor | None = None
    ids: Tensor | None = None
    for c_start in range(0, len(embeddings), chunk_size):
        scores = score_function(queries, embeddings[c_start : c_start + chunk_size]).detach()
        chunk_values, chunk_ids = torch.topk(scores, min(k, scores.shape[1]), dim=1, largest=True)
        chunk_ids = chunk_ids + c_start
        if values is None or ids is None:
            values, ids = chunk_values, chunk_ids
        else:
            merged_values = torch.cat([values, chunk_values], dim=1)
            merged_ids = torch.cat([ids, chunk_ids], dim=1)
            values, positions = torch.topk(merged_values, min(k, merged_values.shape[1]), dim=1)
            ids = torch.gather(merged_ids, 1, positions)
    assert values is not None and ids is not None
    return values.cpu().tolist(), ids.cpu().tolist()


def community_detection(
    embeddings: Tensor | np.ndarray,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    show_progress_bar: bool = False,
) -> list[list[int]]:
    """Greedy fast community detection on cosine similarity.

    Every row with at least ``min_community_size`` rows (itself included) at
    cosine similarity >= ``threshold`` proposes a community centred on it.
    Proposals are taken largest first; members already claimed are dropped,
    and a proposal that still has ``min_community_size`` members (and whose
    centre is unclaimed) is kept.

    Args:
        embeddings: Embeddings of shape ``(n, dim)`` (or ``(dim,)``).
        threshold: Minimum cosine similarity to the centre.
        min_community_size: Minimum number of members of a community.
        batch_size: Rows scored against all others at once.
        show_progress_bar: Show a tqdm progress bar over the batches.

    Returns:
        Non-overlapping communities as lists of row ids, largest first; the
        first id of each is its centre, the others follow by decreasing
        similarity to it.

    Example:
        >>> import torch
        >>> emb = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.98, 0.2], [0.0, 1.0]])
        >>> community_detection(emb, threshold=0.9, min_community_size=2)
        [[0, 1, 2]]
    """
    if min_community_size < 1:
        raise ValueError(f"min_community_size must be >= 1; got {min_community_size!r}; valid: an int >= 1")
    _check_positive(batch_size=batch_size)
    if len(embeddings) == 0:
        return []
    emb = _as_tensor(embeddings)
    _check_finite("embeddings", emb)
    if emb.dim() == 1:
        emb = emb.unsqueeze(0)
    n = len(emb)
    if n < min_community_size:
        return []

    # A 0-d float32 tensor, so that the comparisons round the threshold like the reference does.
    thr = torch.tensor(threshold, device=emb.device)
    emb = normalize_embeddings(emb)
    starts: Iterable[int] = range(0, n, batch_size)
    if show_progress_bar:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="Finding clusters")

    candidates: list[tuple[int, np.ndarray]] = []
    search_k = min(max(2 * min_community_size, 50), n)  # grows when a community outgrows it
    for start in starts:
        scores = emb[start : start + batch_size] @ emb.T
        if emb.device.type in ("cuda", "npu"):
            candidates.extend(_candidates_vectorized(scores, start, thr, min_community_size))
            continue
        kth_best, _ = scores.topk(k=min_community_size, largest=True)
        for row in range(len(scores)):
            if not kth_best[row][-1] >= thr:
                continue
            values, ids = scores[row].topk(k=search_k, largest=True)
            while values[-1] >= thr and search_k < n:
                search_k = min(2 * search_k, n)
                values, ids = scores[row].topk(k=search_k, largest=True)
            candidates.append((start + row, ids[values >= thr].cpu().numpy().astype(np.uint32)))

    return _resolve_overlaps(candidates, n, min_community_size)


def _candidates_vectorized(
    scores: Tensor, start: int, thr: Tensor, min_community_size: int
) -> list[tuple[int, np.ndarray]]:
    """Accelerator path: one batched top-k for all rows that qualify as centres."""
    above = scores >= thr
    counts = above.sum(1)
    qualifies = counts >= min_community_size
    if not qualifies.any():
        return []
    counts = counts[qualifies]
    _, top_ids = scores[qualifies].topk(k=int(counts.max()), largest=True)
    top_ids = top_ids.cpu()
    centres = (qualifies.nonzero(as_tuple=True)[0] + start).tolist()
    return [
        (centre, row_ids[:count].numpy().astype(np.uint32))
        for centre, count, row_ids in zip(centres, counts.tolist(), top_ids)
    ]


def _resolve_overlaps(candidates: list[tuple[int, np.ndarray]], n: int, min_community_size: int) -> list[list[int]]:
    """Keep proposals largest first, each without members claimed by an earlier one."""
    claimed = np.zeros(n, dtype=bool)
    kept: list[list[int]] = []
    for centre, members in sorted(candidates, key=lambda item: len(item[1]), reverse=True):
        if claimed[centre]:
            continue
        free = members[~claimed[members]]
        if len(free) < min_community_size:
            continue
        community = [centre, *free[free != centre].tolist()]
        kept.append(community)
        claimed[community] = True
    return sorted(kept, key=len, reverse=True)


def information_retrieval(*args: Any, **kwargs: Any) -> list[list[dict[str, int | float]]]:
    """Old name of :func:`semantic_search` (same arguments and results).

    Example:
        >>> information_retrieval(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), top_k=1)
        [[{'corpus_id': 1, 'score': 1.0}]]
    """
    return semantic_search(*args, **kwargs)
