"""Hard-negative mining: turn (anchor, positive) pairs into triplets, n-tuples or labelled pairs/lists.

Same parameters, semantics and output columns as ``sentence_transformers.util.mine_hard_negatives`` (6.2):

1. anchors that repeat are one query with several positives; the corpus is ``corpus + positives``, deduplicated;
2. queries and corpus are embedded (normalised) with ``encode_query`` / ``encode_document`` and each query keeps its
   ``range_max + max_positives`` most similar corpus entries (``model.similarity``, chunked ``torch.topk``);
3. with a ``cross_encoder`` *and* a score filter (a margin, ``max_score`` or ``min_score``), candidates and
   positives are rescored by the CrossEncoder;
4. positives are masked, then candidates are dropped if ``score + absolute_margin > min positive score``, if
   ``score > p - |p| * relative_margin`` (p: the query's lowest positive score), if ``score > max_score`` or
   ``score < min_score``;
5. the ``range_min`` best survivors are skipped, and ``num_negatives`` are taken: the best (``"top"``) or a random
   choice among the valid ones (``"random"``, Python's ``random``).

References: Moreira et al. 2024, "NV-Retriever: Improving text embedding models with effective hard-negative
mining" (positive-aware margins); sentence-transformers ``util/hard_negatives.py``. FAISS is not supported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections import Counter
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from embedkit.util.input_errors import InputTypeError

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")
SAMPLING_STRATEGIES = ("random", "top")
NEG_INF = float("-inf")


def _columns(dataset: Any) -> tuple[list[str], Any, bool]:
    """(column names, column accessor, is a ``datasets.Dataset``) for any accepted dataset form."""
    from embedkit.data import as_dataset

    is_hf = type(dataset).__module__.split(".")[0] == "datasets"
    dataset = as_dataset(dataset, "dataset")
    return list(dataset.column_names), dataset, is_hf


def _resolve_column(name: str | None, columns: list[str], position: int, role: str) -> str:
    if name is not None:
        if name not in columns:
            raise ValueError(f"{role}_column_name={name!r} is not a column of the dataset; columns: {columns}")
        return name
    if len(columns) <= position:
        raise ValueError(f"the dataset needs at least two columns (anchor, positive) to pick the {role} column "
                         f"automatically; columns: {columns}")
    return columns[position]


def _embed(model: Any, texts: list[str], kind: str, prompt_name: str | None, prompt: str | None, batch_size: int,
           show_progress_bar: bool, cache_file: str | None, devices: list[str] | None = None) -> np.ndarray:
    if cache_file is not None and os.path.exists(cache_file):
        return np.load(cache_file)
    encode = model.encode_query if kind == "query" else model.encode_document
    extra: dict[str, Any] = {}
    if devices is not None:  # use_multi_process: encode on a pool of worker processes
        extra["pool"] = model.start_multi_process_pool(target_devices=devices or None)
    try:
        embeddings = encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=show_progress_bar, prompt_name=prompt_name, prompt=prompt, **extra)
    finally:
        if "pool" in extra:
            model.stop_multi_process_pool(extra["pool"])
    if cache_file is not None:
        np.save(cache_file, embeddings)
    return embeddings


def _faiss_top_k(faiss: Any, query_emb: np.ndarray, corpus_emb: np.ndarray, k: int,
                 batch_size: int) -> tuple[Tensor, Tensor]:
    """Inner-product top-``k`` corpus rows per query with a flat FAISS index (sharded over GPUs when available).

    The embeddings are unit-normalized, so inner product is cosine similarity. Short result lists come back
    padded with index -1.
    """
    corpus_np = np.ascontiguousarray(np.asarray(corpus_emb, dtype=np.float32))
    queries_np = np.ascontiguousarray(np.asarray(query_emb, dtype=np.float32))
    index = faiss.IndexFlatIP(corpus_np.shape[1])
    try:
        options = faiss.GpuMultipleClonerOptions()
        options.shard = True
        options.useFloat16 = True
        index = faiss.index_cpu_to_all_gpus(index, co=options)
    except Exception:  # CPU-only faiss build, or no GPU: keep the CPU index
        pass
    index.add(corpus_np)
    score_chunks, index_chunks = [], []
    for start in range(0, len(queries_np), batch_size):
        chunk_scores, chunk_indices = index.search(queries_np[start: start + batch_size], k)
        score_chunks.append(chunk_scores)
        index_chunks.append(chunk_indices)
    return (torch.from_numpy(np.concatenate(score_chunks).astype(np.float32, copy=False)),
            torch.from_numpy(np.concatenate(index_chunks).astype(np.int64, copy=False)))


def _cache_file(cache_folder: str | None, kind: str, model: Any, prompt: str | None, prompt_name: str | None,
                texts: list[str]) -> str | None:
    if not cache_folder:
        return None
    os.makedirs(cache_folder, exist_ok=True)
    model_name = str(getattr(model, "model_name_or_path", "") or "")
    digest = hashlib.sha256(repr((model_name, prompt, prompt_name, texts)).encode()).hexdigest()
    return os.path.join(cache_folder, f"{kind}_embeddings_{digest}.npy")


def _rescore(cross_encoder: Any, queries: list[str], corpus: list[str], indices: Tensor, scores: Tensor,
             pair_queries: list[str], pair_positives: list[str], batch_size: int,
             devices: list[str] | None = None) -> Tensor:
    """Overwrite ``scores`` (Q, C) with CrossEncoder scores of every valid candidate; return positive scores."""
    valid = (indices >= 0).nonzero().tolist()  # [(query row, column), ...]
    pairs = [(queries[q], corpus[int(indices[q, c])]) for q, c in valid]
    pairs += list(zip(pair_queries, pair_positives))
    extra: dict[str, Any] = {}
    if devices is not None:
        extra["pool"] = cross_encoder.start_multi_process_pool(target_devices=devices or None)
    try:
        predicted = cross_encoder.predict(pairs, batch_size=batch_size, convert_to_tensor=True, **extra)
    finally:
        if "pool" in extra:
            cross_encoder.stop_multi_process_pool(extra["pool"])
    predicted = torch.as_tensor(predicted).reshape(-1).to(scores.device, scores.dtype)
    if valid:
        rows, cols = torch.tensor(valid, device=scores.device).T
        scores[rows, cols] = predicted[: len(valid)]
    return predicted[len(valid):]


def _print_statistics(positive_scores: Tensor, negative_scores: Tensor, difference: Tensor,
                      skipped: dict[str, tuple[int, float, float]], missing: int, possible: int,
                      solutions: list[str]) -> None:
    row = "{:<6} {:>14} {:>14} {:>14}"
    print(row.format("Metric", "Positive", "Negative", "Difference"))
    print(row.format("Count", f"{positive_scores.numel():,}", f"{negative_scores.numel():,}", ""))
    stats = [("Mean", torch.mean), ("Median", torch.median), ("Std", torch.std), ("Min", torch.min),
             ("25%", lambda s: torch.quantile(s.float(), 0.25)), ("50%", lambda s: torch.quantile(s.float(), 0.5)),
             ("75%", lambda s: torch.quantile(s.float(), 0.75)), ("Max", torch.max)]
    for label, fn in stats:
        cells = [f"{fn(s).item():.4f}" if s.numel() else "nan" for s in (positive_scores, negative_scores, difference)]
        print(row.format(label, *cells))
    for name, (count, ratio, value) in skipped.items():
        print(f"Skipped {count:,} potential negatives ({ratio:.2%}) due to the {name} of {value}.")
    if missing > 0:
        hint = " and ".join([", ".join(solutions[:-1]), solutions[-1]]) if len(solutions) > 1 else solutions[0]
        print(f"Could not find enough negatives for {missing} samples ({missing / possible:.2%}). Consider adjusting "
              f"the {hint} parameter{'s' if len(solutions) > 1 else ''} if you'd like to find more valid negatives.")


def mine_hard_negatives(
    dataset: Any,
    model: Any,
    anchor_column_name: str | None = None,
    positive_column_name: str | None = None,
    corpus: list[str] | None = None,
    cross_encoder: Any = None,
    range_min: int = 0,
    range_max: int | None = None,
    max_score: float | None = None,
    min_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    num_negatives: int = 3,
    sampling_strategy: Literal["random", "top"] = "top",
    query_prompt_name: str | None = None,
    query_prompt: str | None = None,
    corpus_prompt_name: str | None = None,
    corpus_prompt: str | None = None,
    include_positives: bool = False,
    output_format: Literal["triplet", "n-tuple", "labeled-pair", "labeled-list"] = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    faiss_batch_size: int = 16384,
    use_faiss: bool = False,
    use_multi_process: list[str] | bool = False,
    verbose: bool = True,
    cache_folder: str | None = None,
    as_triplets: bool | None = None,
    margin: float | None = None,
) -> Any:
    """Add hard negatives to (anchor, positive) pairs.

    Args:
        dataset: an embedkit :class:`~embedkit.data.Dataset`, a ``datasets.Dataset``, a dict of column lists or a
            list of row dicts. Rows with the same anchor are one query with several positives.
        model: a SentenceTransformer (``encode_query``, ``encode_document``, ``similarity``,
            ``similarity_pairwise``, ``device``).
        anchor_column_name / positive_column_name: default: the first / second column.
        corpus: extra candidate texts (the positives are always added).
        cross_encoder: a CrossEncoder that rescores the candidates; used only together with a score filter
            (``absolute_margin``, ``relative_margin``, ``max_score`` or ``min_score``), as in ST.
        range_min: skip this many best candidates (they may be unlabelled positives).
        range_max: candidates considered per query (default ``range_min + num_negatives + max_positives``, or
            ``range_min + 10 * num_negatives + max_positives`` when a filter may drop candidates).
        max_score / min_score: drop candidates scoring above / below.
        absolute_margin: drop candidates with ``score + absolute_margin > positive score``.
        relative_margin: drop candidates with ``score > positive - |positive| * relative_margin``.
        num_negatives: negatives per query.
        sampling_strategy: ``"top"`` (the best valid candidates) or ``"random"`` (uses Python's ``random``).
        query_prompt_name / query_prompt / corpus_prompt_name / corpus_prompt: passed to the encode calls.
        include_positives: keep positives among the candidates (for reranker evaluation data); forces
            ``output_format="n-tuple"``.
        output_format: ``"triplet"`` (anchor, positive, negative), ``"n-tuple"`` (anchor, positive,
            negative_1..n; rows with fewer valid negatives are dropped), ``"labeled-pair"`` (anchor, document,
            label) or ``"labeled-list"`` (anchor, [documents], labels). ``"n-tuple-scores"`` is a deprecated
            spelling of ``"n-tuple"`` with ``output_scores=True``.
        output_scores: add a ``scores`` column (``score`` for labeled-pair) instead of / besides labels.
        batch_size: encoding (and CrossEncoder) batch size.
        faiss_batch_size: queries scored at once.
        use_faiss: search with a flat inner-product FAISS index (needs ``faiss-cpu`` or ``faiss-gpu``; on GPU the
            default ``range_max`` is capped so that at most 2048 neighbours are requested) instead of torch.
        use_multi_process: encode (and CrossEncoder-rescore) on a multi-process pool: ``True`` for the default
            devices, or a list of devices such as ``["cpu", "cpu"]``.
        verbose: print progress and score statistics.
        cache_folder: cache the query / corpus embeddings as ``.npy`` files keyed by model, prompts and texts.
        as_triplets: deprecated; True -> ``"triplet"``, False -> ``"n-tuple"``.
        margin: deprecated alias of ``absolute_margin``.

    Returns:
        A ``datasets.Dataset`` if ``dataset`` was one (``datasets`` is imported only then), else an embedkit
        :class:`~embedkit.data.Dataset`, with the columns of ``output_format``.

    Raises:
        ImportError: ``use_faiss=True`` without ``faiss`` installed.
        ValueError: empty dataset, unknown column, format or strategy, ``num_negatives < 1``, ``range_min < 0``,
            ``range_min >= range_max``, fewer than ``num_negatives`` candidates between ``range_min`` and
            ``range_max``, or non-positive ``faiss_batch_size``.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.data import Dataset
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> pairs = Dataset.from_dict({"query": ["What do cats eat?", "Where is Paris?", "How fast is light?"],
        ...                            "answer": ["Cats eat fish.", "Paris is in France.", "Light is very fast."]})
        >>> triplets = mine_hard_negatives(pairs, model, num_negatives=1, verbose=False)
        >>> triplets.column_names, len(triplets)
        (['query', 'answer', 'negative'], 3)
    """
    faiss = None
    if use_faiss:
        try:
            import faiss  # type: ignore[import-not-found]  # optional: only this search path needs it
        except ImportError as error:
            raise ImportError("Please install `faiss` to use this function with `use_faiss=True`: "
                              "`pip install faiss-cpu` (or `faiss-gpu`).") from error
    # None: single process; [] : a pool on the default devices; [devices...]: a pool on those devices.
    pool_devices = None if not use_multi_process else ([] if use_multi_process is True else list(use_multi_process))
    if not isinstance(faiss_batch_size, int) or faiss_batch_size <= 0:
        raise ValueError(f"faiss_batch_size must be a positive integer, got {faiss_batch_size!r}")
    if sampling_strategy not in SAMPLING_STRATEGIES:
        raise ValueError(f"sampling_strategy must be one of {SAMPLING_STRATEGIES}, got {sampling_strategy!r}")
    columns, data, is_hf = _columns(dataset)
    if len(data) == 0:
        raise ValueError("The dataset is empty. Please provide a non-empty dataset.")
    anchor_column_name = _resolve_column(anchor_column_name, columns, 0, "anchor")
    positive_column_name = _resolve_column(positive_column_name, columns, 1, "positive")
    if anchor_column_name == positive_column_name:
        raise ValueError(f"anchor and positive columns must differ, both are {anchor_column_name!r}")

    if as_triplets is not None:
        output_format = "triplet" if as_triplets else "n-tuple"
        logger.warning("The `as_triplets` parameter is deprecated. Use the `output_format` parameter instead. "
                       "Setting `output_format` to `%s`.", output_format)
    if include_positives:
        if (range_min != 0 or range_max is not None or max_score is not None or min_score is not None
                or absolute_margin is not None or relative_margin is not None or margin is not None
                or sampling_strategy != "top"):
            logger.warning("When using `include_positives=True`, updating `range_min`, `range_max`, `max_score`, "
                           "`min_score`, `absolute_margin`, `relative_margin`, or `sampling_strategy` from the "
                           "default values may still discard the positive values.")
        if output_format != "n-tuple":
            logger.warning('When using `include_positives=True`, `output_format` will be set to `"n-tuple"` to '
                           "ensure that the ranking order is preserved.")
            output_format = "n-tuple"
    if output_format == "n-tuple-scores":
        logger.warning('`output_format="n-tuple-scores"` is deprecated. Use `output_format="n-tuple"` with '
                       "`output_scores=True` instead.")
        output_format, output_scores = "n-tuple", True
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS} (or the deprecated 'n-tuple-scores'), "
                         f"got {output_format!r}")
    if margin is not None:
        absolute_margin = margin
        logger.warning("The `margin` parameter is deprecated. Use the `absolute_margin` and/or `relative_margin` "
                       "parameter instead. Setting `absolute_margin` to `%s`.", absolute_margin)
    if not isinstance(num_negatives, int) or num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got num_negatives={num_negatives!r}.")

    anchors = list(data[anchor_column_name])
    positives_in = list(data[positive_column_name])
    for role, texts in (("anchor", anchors), ("positive", positives_in), ("corpus", corpus or [])):
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise InputTypeError(f"{role} {bad} has type {type(texts[bad]).__name__}; all texts must be str")
    positives_per_query = list(Counter(anchors).values())  # rows per anchor, duplicates included (as ST)
    max_positives = max(positives_per_query)

    filtering = (absolute_margin is not None or relative_margin is not None or max_score is not None
                 or (cross_encoder is not None and min_score is not None))
    if range_max is None:
        range_max = range_min + num_negatives * (10 if filtering else 1) + max_positives
        # FAISS on GPU returns at most 2048 neighbours per query, and the search asks for range_max + max_positives.
        if faiss is not None and range_max + max_positives > 2048 and getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
            range_max = 2048 - max_positives
            if verbose:
                print("Using FAISS on GPU, we can only retrieve up to 2048 documents per query, some of which are "
                      f"reserved for the positives. Setting range_max to {range_max}.")
        if verbose:
            print(f"Setting range_max to {range_max} based on the provided parameters.")
    if range_min < 0:
        raise ValueError(f"range_min must be non-negative, got range_min={range_min}.")
    if range_min >= range_max:
        raise ValueError(f"range_min must be smaller than range_max, got range_min={range_min} and "
                         f"range_max={range_max}.")
    if num_negatives > range_max - range_min:
        raise ValueError(f"Cannot mine {num_negatives} negatives per query: only {range_max - range_min} candidates "
                         f"remain after skipping the first range_min={range_min} of range_max={range_max}. Consider "
                         "decreasing num_negatives or range_min, or increasing range_max.")

    # Deduplicated corpus (extra corpus first, then the positives) and queries, with text -> row maps.
    corpus = list(dict.fromkeys(list(corpus or positives_in) + positives_in))
    corpus_idx = {text: i for i, text in enumerate(corpus)}
    queries = list(dict.fromkeys(anchors))
    queries_idx = {text: i for i, text in enumerate(queries)}
    n_queries = len(queries)
    if verbose and n_queries != len(anchors):
        print(f"Found {n_queries} unique queries out of {len(anchors)} total queries.")
    if verbose and max_positives > 1:
        print(f"Found an average of {np.mean(positives_per_query):.3f} positives per query.")

    show = bool(verbose)
    corpus_emb = _embed(model, corpus, "document", corpus_prompt_name, corpus_prompt, batch_size, show,
                        _cache_file(cache_folder, "corpus", model, corpus_prompt, corpus_prompt_name, corpus),
                        pool_devices)
    query_emb = _embed(model, queries, "query", query_prompt_name, query_prompt, batch_size, show,
                       _cache_file(cache_folder, "query", model, query_prompt, query_prompt_name, queries),
                       pool_devices)
    device = model.device
    corpus_emb_t = torch.as_tensor(corpus_emb)

    # (Q, range_max + max_positives) best candidates; positives may be among them, hence the extra columns.
    width = range_max + max_positives
    if faiss is not None:
        scores, indices = _faiss_top_k(faiss, query_emb, corpus_emb, width, faiss_batch_size)
        scores, indices = scores.to(device), indices.to(device)
        k = width  # FAISS pads short result lists itself (index -1)
    else:
        k = min(width, len(corpus))
        score_chunks, index_chunks = [], []
        for start in range(0, n_queries, faiss_batch_size):
            chunk = model.similarity(query_emb[start: start + faiss_batch_size], corpus_emb_t).to(device)
            chunk_scores, chunk_indices = torch.topk(chunk, k=k, dim=1)
            score_chunks.append(chunk_scores)
            index_chunks.append(chunk_indices)
        scores, indices = torch.cat(score_chunks), torch.cat(index_chunks)
    if width > k:  # small corpus: pad with "no candidate" (index -1, score -inf)
        scores = torch.cat([scores, scores.new_full((n_queries, width - k), NEG_INF)], dim=1)
        indices = torch.cat([indices, indices.new_full((n_queries, width - k), -1)], dim=1)

    # Positives per unique query (deduplicated, in order of appearance), and the (query, positive) rows.
    positive_ids: list[list[int]] = [[] for _ in range(n_queries)]
    for anchor, positive in zip(anchors, positives_in):
        ids = positive_ids[queries_idx[anchor]]
        if corpus_idx[positive] not in ids:
            ids.append(corpus_idx[positive])
    n_positives = [len(ids) for ids in positive_ids]
    row_query = [q for q in range(n_queries) for _ in positive_ids[q]]  # (P,) query of each (query, positive) row
    row_positive = [pid for ids in positive_ids for pid in ids]  # (P,)
    positive_scores = model.similarity_pairwise(query_emb[row_query], corpus_emb_t[row_positive]).to(device)
    del query_emb, corpus_emb, corpus_emb_t

    if cross_encoder is not None and (absolute_margin is not None or relative_margin is not None
                                      or max_score is not None or min_score is not None):
        positive_scores = _rescore(cross_encoder, queries, corpus, indices, scores,
                                   [queries[q] for q in row_query], [corpus[p] for p in row_positive], batch_size,
                                   pool_devices)
    scores[indices == -1] = NEG_INF
    if not include_positives:
        is_positive = torch.stack([torch.isin(indices[q], torch.tensor(positive_ids[q], device=indices.device))
                                   for q in range(n_queries)])
        scores[is_positive] = NEG_INF

    # Filters; `skipped` feeds the verbose report: name -> (count, ratio of remaining candidates, value).
    skipped: dict[str, tuple[int, float, float]] = {}
    remaining = scores.numel()

    def drop(name: str, mask: Tensor, value: float, count_down: bool = True) -> None:
        nonlocal remaining
        scores[mask] = NEG_INF
        count = int(mask.sum().item())
        if count:
            skipped[name] = (count, count / remaining, value)
            if count_down:
                remaining -= count

    if absolute_margin is not None or relative_margin is not None:
        offsets = np.cumsum([0, *n_positives])
        lowest_positive = torch.stack([positive_scores[offsets[q]: offsets[q + 1]].min()
                                       for q in range(n_queries)])[:, None]  # (Q, 1) the hardest positive
        if absolute_margin is not None:
            drop("absolute_margin", scores + absolute_margin > lowest_positive, absolute_margin)
        if relative_margin is not None:
            drop("relative_margin", scores > lowest_positive - lowest_positive.abs() * relative_margin,
                 relative_margin)
    if max_score is not None:
        drop("max_score", scores > max_score, max_score, count_down=False)
    if min_score is not None:
        drop("min_score", scores < min_score, min_score, count_down=False)

    # Best range_max candidates, minus the range_min best, then the num_negatives negatives.
    negative_scores, local = torch.topk(scores, k=range_max, dim=1)
    indices = torch.gather(indices, 1, local)[:, range_min:]
    negative_scores = negative_scores[:, range_min:]
    if sampling_strategy == "top":
        indices, negative_scores = indices[:, :num_negatives], negative_scores[:, :num_negatives]
    else:
        options = (indices.size(1) - negative_scores.isinf().sum(1)).clamp(min=num_negatives)
        picked = torch.tensor([random.sample(range(int(n)), k=num_negatives) for n in options],
                              device=indices.device)
        indices, negative_scores = torch.gather(indices, 1, picked), torch.gather(negative_scores, 1, picked)
        negative_scores, order = negative_scores.sort(dim=1, descending=True)
        indices = torch.gather(indices, 1, order)
    if verbose:
        print("Negative candidates mined, preparing dataset...")

    # One row per (query, positive) pair: its query's negatives.
    neg_ids = indices[row_query].tolist()  # (P, num_negatives)
    neg_scores = negative_scores[row_query]  # (P, num_negatives)
    valid = neg_scores != NEG_INF  # (P, num_negatives)
    valid_rows = valid.tolist()
    pos_list, neg_list = positive_scores.tolist(), neg_scores.tolist()
    anchor_col, positive_col = anchor_column_name, positive_column_name
    out: dict[str, list[Any]]
    if output_format == "triplet":
        out = {anchor_col: [], positive_col: [], "negative": []}
        if output_scores:
            out["scores"] = []
        for r, (q, p) in enumerate(zip(row_query, row_positive)):
            for j, ok in enumerate(valid_rows[r]):
                if ok:
                    out[anchor_col].append(queries[q])
                    out[positive_col].append(corpus[p])
                    out["negative"].append(corpus[neg_ids[r][j]])
                    if output_scores:
                        out["scores"].append([pos_list[r], neg_list[r][j]])
        possible = valid.numel()
    elif output_format == "labeled-pair":
        out = {anchor_col: [], positive_col: [], "score" if output_scores else "label": []}
        target = out["score" if output_scores else "label"]
        query_scores, query_ids = negative_scores.tolist(), indices.tolist()
        r = 0
        for q in range(n_queries):
            for p in positive_ids[q]:
                out[anchor_col].append(queries[q])
                out[positive_col].append(corpus[p])
                target.append(pos_list[r] if output_scores else 1)
                r += 1
            for neg_id, neg_score in zip(query_ids[q], query_scores[q]):
                if neg_score != NEG_INF:
                    out[anchor_col].append(queries[q])
                    out[positive_col].append(corpus[neg_id])
                    target.append(neg_score if output_scores else 0)
        possible = n_queries * num_negatives + len(data)
    elif output_format == "n-tuple":
        keep = [all(row) for row in valid_rows]
        out = {anchor_col: [queries[q] for q, ok in zip(row_query, keep) if ok],
               positive_col: [corpus[p] for p, ok in zip(row_positive, keep) if ok]}
        for j in range(num_negatives):
            out[f"negative_{j + 1}"] = [corpus[ids[j]] for ids, ok in zip(neg_ids, keep) if ok]
        if output_scores:
            out["scores"] = [[pos_list[r], *neg_list[r]] for r, ok in enumerate(keep) if ok]
        valid = valid & torch.tensor(keep, dtype=torch.bool, device=valid.device)[:, None]
        possible = len(keep)
    else:  # labeled-list
        keep = [any(row) for row in valid_rows]
        out = {anchor_col: [queries[q] for q, ok in zip(row_query, keep) if ok],
               positive_col: [[corpus[row_positive[r]]] + [corpus[i] for i, v in zip(neg_ids[r], valid_rows[r]) if v]
                              for r, ok in enumerate(keep) if ok]}
        if output_scores:
            out["scores"] = [[pos_list[r]] + [s for s, v in zip(neg_list[r], valid_rows[r]) if v]
                             for r, ok in enumerate(keep) if ok]
        else:
            out["labels"] = [[1] + [0] * sum(valid_rows[r]) for r, ok in enumerate(keep) if ok]
        possible = len(keep)

    if is_hf:  # the input's own class builds the output: embedkit never imports datasets itself
        result = type(dataset).from_dict(out)
    else:
        from embedkit.data import Dataset

        result = Dataset.from_dict(out)

    if verbose:
        kept_neg = neg_scores[valid]
        difference = positive_scores[:, None].expand_as(neg_scores)[valid] - kept_neg
        solutions = ["range_max"] + (["range_min"] if range_min > 0 else []) + [
            name for name, value in (("absolute_margin", absolute_margin), ("relative_margin", relative_margin),
                                     ("max_score", max_score)) if value is not None]
        _print_statistics(positive_scores, kept_neg, difference, skipped, possible - len(result), possible,
                          solutions)
    return result
