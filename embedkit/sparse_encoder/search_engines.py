"""Sparse retrieval through external search engines: Qdrant, Elasticsearch, OpenSearch and Seismic.

Same functions and return values as ``sentence_transformers.sparse_encoder.search_engines``. Each engine's client
library is optional: it is imported when its function runs, and a missing one raises an ImportError naming the
package to install. Qdrant takes sparse COO tensors (``model.encode(...)``); the others take decoded embeddings,
``[[(token, weight), ...], ...]`` (``model.decode(model.encode(...))``).

Every function either builds a new index from the corpus (``corpus_embeddings...``) or searches an existing one
(``corpus_index``, as returned with ``output_index=True``), and returns ``(results, search_seconds)`` (plus the
index with ``output_index=True``), where ``results[i]`` lists ``{"corpus_id": int, "score": float}`` best first
for query i.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import uuid4

import numpy as np
import torch

__all__ = ["semantic_search_elasticsearch", "semantic_search_opensearch", "semantic_search_qdrant",
           "semantic_search_seismic"]

Decoded = Sequence[Sequence[tuple[str, float]]]
Results = list[list[dict[str, int | float]]]

_UPLOAD_BATCH = 10_000
_BULK_BATCH = 1_000


def _check_decoded(embeddings: Any, what: str) -> None:
    """Raise ValueError unless ``embeddings`` is a list of lists of (token, weight) pairs."""
    ok = isinstance(embeddings, list) and all(
        isinstance(row, list) and all(isinstance(pair, tuple) and len(pair) == 2 for pair in row)
        for row in embeddings)
    if not ok:
        raise ValueError(f"{what} embeddings must be a list of lists in the format [[('token', value), ...], ...]")


def _sparse_rows(embeddings: torch.Tensor) -> Iterator[tuple[list[int], list[float]]]:
    """(token ids, weights) of each row of a 2-D sparse COO tensor, rows in order (empty rows included)."""
    coo = embeddings.coalesce()
    rows, tokens = coo.indices().cpu().numpy()
    values = coo.values().detach().float().cpu().numpy()
    bounds = np.searchsorted(rows, np.arange(coo.shape[0] + 1), side="left")  # indices are sorted by row
    for start, end in zip(bounds[:-1], bounds[1:]):
        yield tokens[start:end].tolist(), values[start:end].tolist()


def _finish(results: Results, started: float, output_index: bool, index: Any) -> tuple:
    elapsed = time.time() - started
    return (results, elapsed, index) if output_index else (results, elapsed)


def semantic_search_qdrant(
    query_embeddings: torch.Tensor,
    corpus_embeddings: torch.Tensor | None = None,
    corpus_index: tuple[Any, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[Results, float] | tuple[Results, float, tuple[Any, str]]:
    """Search sparse query embeddings in a Qdrant collection (needs ``pip install qdrant-client``).

    Args:
        query_embeddings: (V,) or (N, V) sparse COO tensor.
        corpus_embeddings: (M, V) sparse COO tensor, uploaded to a new collection on a Qdrant server at
            ``http://localhost:6333`` when ``corpus_index`` is None.
        corpus_index: ``(QdrantClient, collection_name)`` of an existing collection with a sparse vector "text".
        top_k: results per query.
        output_index: also return ``(client, collection_name)``.
        **kwargs: passed to ``QdrantClient`` when a new collection is made.

    Returns:
        ``(results, seconds)``, or ``(results, seconds, (client, collection_name))`` with ``output_index``.

    Raises:
        ImportError: qdrant-client is not installed.
        ValueError: an embedding is not a sparse COO tensor of the right rank, or neither corpus argument is given.
    """
    try:
        from qdrant_client import QdrantClient
        from qdrant_client.http import models
    except ImportError:
        raise ImportError("Please install the Qdrant client with `pip install qdrant-client` to use this "
                          "function.") from None

    if not query_embeddings.is_sparse or query_embeddings.layout != torch.sparse_coo:
        raise ValueError("Query embeddings must be a sparse COO tensor")
    if query_embeddings.ndim == 1:
        query_embeddings = query_embeddings.unsqueeze(0)
    elif query_embeddings.ndim != 2:
        raise ValueError(f"Query embeddings must be a 1D or 2D sparse tensor, got {query_embeddings.ndim}D")

    if corpus_index is None:
        if corpus_embeddings is None:
            raise ValueError("Either corpus_embeddings or corpus_index must be provided")
        if not corpus_embeddings.is_sparse or corpus_embeddings.layout != torch.sparse_coo:
            raise ValueError("Corpus embeddings must be a sparse COO tensor")
        client = QdrantClient(url="http://localhost:6333", **kwargs)
        collection = f"sparse_collection_{uuid4().hex}"
        client.create_collection(
            collection_name=collection, vectors_config={},
            sparse_vectors_config={"text": models.SparseVectorParams(index=models.SparseIndexParams(on_disk=False))})
        pending: list[dict[str, Any]] = []
        uploaded = 0
        for ids, weights in _sparse_rows(corpus_embeddings):
            pending.append({"text": models.SparseVector(indices=ids, values=weights)})
            if len(pending) >= _UPLOAD_BATCH:
                client.upload_collection(collection_name=collection, vectors=pending,
                                         ids=range(uploaded, uploaded + len(pending)))
                uploaded += len(pending)
                pending = []
        if pending:
            client.upload_collection(collection_name=collection, vectors=pending,
                                     ids=range(uploaded, uploaded + len(pending)))
        corpus_index = (client, collection)

    client, collection = corpus_index
    started = time.time()
    results: Results = []
    for ids, weights in _sparse_rows(query_embeddings):
        hits = client.query_points(collection_name=collection, query=models.SparseVector(indices=ids, values=weights),
                                   limit=top_k, using="text").points
        results.append([{"corpus_id": hit.id, "score": hit.score} for hit in hits])
    return _finish(results, started, output_index, corpus_index)


def _rank_features_index(client: Any, bulk: Any, corpus: Decoded, token_key: Any) -> str:
    """Create a ``rank_features`` index holding one document per corpus row (id = row number); its name."""
    name = f"sparse_index_{uuid4().hex}"
    client.indices.create(index=name, body={"mappings": {"properties": {
        "tokens": {"type": "rank_features"}, "id": {"type": "keyword"}}}})
    for start in range(0, len(corpus), _BULK_BATCH):
        actions = [{"_index": name, "_id": str(i), "_source": {
            "id": str(i), "tokens": {token_key(token): weight for token, weight in corpus[i]}}}
            for i in range(start, min(start + _BULK_BATCH, len(corpus)))]
        bulk(client, actions)
    client.indices.refresh(index=name)
    return name


def _hits(response: dict[str, Any]) -> list[dict[str, int | float]]:
    return [{"corpus_id": int(hit["_id"]), "score": hit["_score"]} for hit in response["hits"]["hits"]]


def _es_token(token: Any) -> str:
    return str(token).replace(".", "_")  # Elasticsearch reads "." in a rank_features key as an object path


def semantic_search_elasticsearch(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: tuple[Any, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[Results, float] | tuple[Results, float, tuple[Any, str]]:
    """Search decoded sparse embeddings with Elasticsearch ``rank_feature`` queries (needs
    ``pip install elasticsearch``).

    Args:
        query_embeddings_decoded: ``[[(token, weight), ...], ...]``, e.g. ``model.decode(model.encode(queries))``.
        corpus_embeddings_decoded: the corpus in the same format, indexed on a server at ``http://localhost:9200``
            when ``corpus_index`` is None ("." in tokens becomes "_").
        corpus_index: ``(Elasticsearch, index_name)`` of an existing index.
        top_k: results per query.
        output_index: also return ``(client, index_name)``.
        **kwargs: passed to ``Elasticsearch`` when a new index is made.

    Raises:
        ImportError: elasticsearch is not installed.
        ValueError: malformed decoded embeddings, or neither corpus argument given.
    """
    try:
        from elasticsearch import Elasticsearch, helpers
    except ImportError:
        raise ImportError("Please install the Elasticsearch client with `pip install elasticsearch` to use this "
                          "function.") from None
    _check_decoded(query_embeddings_decoded, "Query")
    if corpus_index is None:
        if corpus_embeddings_decoded is None:
            raise ValueError("Either corpus_embeddings_decoded or corpus_index must be provided")
        _check_decoded(corpus_embeddings_decoded, "Corpus")
        client = Elasticsearch("http://localhost:9200", **kwargs)
        corpus_index = (client, _rank_features_index(client, helpers.bulk, corpus_embeddings_decoded, _es_token))

    client, name = corpus_index
    started = time.time()
    results: Results = []
    for query in query_embeddings_decoded:
        should = [{"rank_feature": {"field": f"tokens.{_es_token(token)}", "saturation": {}, "boost": weight}}
                  for token, weight in dict(query).items()]
        body = {"size": top_k, "query": {"bool": {"should": should, "minimum_should_match": 1}}}
        results.append(_hits(client.search(index=name, body=body)))
    return _finish(results, started, output_index, corpus_index)


def semantic_search_opensearch(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: tuple[Any, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[Results, float] | tuple[Results, float, tuple[Any, str]]:
    """Search decoded sparse embeddings with OpenSearch ``neural_sparse`` queries (needs
    ``pip install opensearch-py``).

    Args:
        query_embeddings_decoded: ``[[(token, weight), ...], ...]``, e.g. ``model.decode(model.encode(queries))``.
        corpus_embeddings_decoded: the corpus in the same format, indexed on a server at ``http://localhost:9200``
            when ``corpus_index`` is None.
        corpus_index: ``(OpenSearch, index_name)`` of an existing index.
        top_k: results per query.
        output_index: also return ``(client, index_name)``.
        **kwargs: passed to ``OpenSearch`` when a new index is made.

    Raises:
        ImportError: opensearch-py is not installed.
        ValueError: malformed decoded embeddings, or neither corpus argument given.
    """
    try:
        from opensearchpy import OpenSearch, helpers
    except ImportError:
        raise ImportError("Please install the OpenSearch client with `pip install opensearch-py` to use this "
                          "function.") from None
    _check_decoded(query_embeddings_decoded, "Query")
    if corpus_index is None:
        if corpus_embeddings_decoded is None:
            raise ValueError("Either corpus_embeddings_decoded or corpus_index must be provided")
        _check_decoded(corpus_embeddings_decoded, "Corpus")
        client = OpenSearch("http://localhost:9200", **kwargs)
        corpus_index = (client, _rank_features_index(client, helpers.bulk, corpus_embeddings_decoded, str))

    client, name = corpus_index
    started = time.time()
    results: Results = []
    for query in query_embeddings_decoded:
        body = {"size": top_k, "query": {"neural_sparse": {"tokens": {"query_tokens": dict(query)}}}}
        results.append(_hits(client.search(index=name, body=body)))
    return _finish(results, started, output_index, corpus_index)


def semantic_search_seismic(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: Any = None,
    top_k: int = 10,
    output_index: bool = False,
    index_kwargs: dict[str, Any] | None = None,
    search_kwargs: dict[str, Any] | None = None,
) -> tuple[Results, float] | tuple[Results, float, Any]:
    """Search decoded sparse embeddings with an in-process Seismic index (needs ``pip install pyseismic-lsr``).

    Args:
        query_embeddings_decoded: ``[[(token, weight), ...], ...]``, e.g. ``model.decode(model.encode(queries))``.
        corpus_embeddings_decoded: the corpus in the same format, indexed when ``corpus_index`` is None.
        corpus_index: an existing ``SeismicIndex``.
        top_k: results per query.
        output_index: also return the index.
        index_kwargs: passed to ``SeismicIndex.build_from_dataset`` (e.g. ``centroid_fraction``, ``nknn``).
        search_kwargs: passed to ``batch_search`` (``query_cut`` defaults to 10, ``heap_factor`` to 0.7).

    Returns:
        ``(results, seconds)`` (plus the index with ``output_index``); a query matching nothing gets ``[]``.

    Raises:
        ImportError: pyseismic-lsr is not installed.
        ValueError: malformed decoded embeddings, or neither corpus argument given.
    """
    try:
        from seismic import SeismicDataset, SeismicIndex, get_seismic_string
    except ImportError:
        raise ImportError("Please install Seismic with `pip install pyseismic-lsr` to use this function.") from None
    string_type = get_seismic_string()
    _check_decoded(query_embeddings_decoded, "Query")
    if corpus_index is None:
        if corpus_embeddings_decoded is None:
            raise ValueError("Either corpus_embeddings_decoded or corpus_index must be provided")
        _check_decoded(corpus_embeddings_decoded, "Corpus")
        dataset = SeismicDataset()
        for i, document in enumerate(corpus_embeddings_decoded):
            tokens = dict(document)
            dataset.add_document(str(i), np.array(list(tokens), dtype=string_type),
                                 np.array(list(tokens.values()), dtype=np.float32))
        corpus_index = SeismicIndex.build_from_dataset(dataset, **(index_kwargs or {}))

    started = time.time()
    n = len(query_embeddings_decoded)
    components, weights = [], []
    for query in query_embeddings_decoded:
        tokens = dict(query)
        components.append(np.array(list(tokens), dtype=string_type))
        weights.append(np.array(list(tokens.values()), dtype=np.float32))
    search_kwargs = {"query_cut": 10, "heap_factor": 0.7, **(search_kwargs or {})}
    rows = corpus_index.batch_search(queries_ids=np.array(range(n), dtype=string_type),
                                     query_components=components, query_values=weights, k=top_k, **search_kwargs)
    # Rows come back in no particular order; each hit is (query id, score, document id), and a query without any
    # match comes back as an empty row, so rows are placed by the query id they carry.
    results: Results = [[] for _ in range(n)]
    for row in rows:
        if row:
            results[int(row[0][0])] = [{"corpus_id": int(doc), "score": score} for _, score, doc in row]
    return _finish(results, started, output_index, corpus_index)
