"""embedkit.sparse_encoder.search_engines with stand-in client libraries (none of them is a test dependency)."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from embedkit.sparse_encoder import search_engines as se


class _Point:
    def __init__(self, id: int, score: float) -> None:
        self.id, self.score = id, score


class _Qdrant:
    """Scores every stored vector by dot product with the query; remembers the uploads."""

    def __init__(self, *args, **kwargs) -> None:
        self.vectors: dict[int, dict[int, float]] = {}

    def create_collection(self, **kwargs) -> None:
        pass

    def upload_collection(self, collection_name, vectors, ids) -> None:
        for i, vector in zip(ids, vectors):
            self.vectors[i] = dict(zip(vector["text"].indices, vector["text"].values))

    def query_points(self, collection_name, query, limit, using):
        q = dict(zip(query.indices, query.values))
        scored = sorted(((sum(w * v.get(t, 0.0) for t, w in q.items()), i) for i, v in self.vectors.items()),
                        reverse=True)
        return types.SimpleNamespace(points=[_Point(i, s) for s, i in scored[:limit]])


@pytest.fixture
def qdrant(monkeypatch):
    module = types.ModuleType("qdrant_client")
    module.QdrantClient = _Qdrant
    models = types.SimpleNamespace(SparseVector=lambda indices, values: types.SimpleNamespace(
        indices=indices, values=values), SparseVectorParams=lambda **kw: kw, SparseIndexParams=lambda **kw: kw)
    http = types.ModuleType("qdrant_client.http")
    http.models = models
    monkeypatch.setitem(sys.modules, "qdrant_client", module)
    monkeypatch.setitem(sys.modules, "qdrant_client.http", http)


def test_qdrant_builds_an_index_and_ranks_by_dot(qdrant):
    corpus = torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).to_sparse()
    queries = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]]).to_sparse()
    results, seconds, index = se.semantic_search_qdrant(queries, corpus, top_k=2, output_index=True)
    assert [r[0]["corpus_id"] for r in results] == [1, 0] and seconds >= 0
    assert index[0].vectors[2] == {}  # an empty corpus row is still uploaded, under its own id
    again, _ = se.semantic_search_qdrant(queries, corpus_index=index, top_k=1)
    assert again == [[{"corpus_id": 1, "score": 3.0}], [{"corpus_id": 0, "score": 3.0}]]


def test_qdrant_input_checks(qdrant):
    with pytest.raises(ValueError, match="sparse COO"):
        se.semantic_search_qdrant(torch.ones(2, 3), corpus_index=(_Qdrant(), "c"))
    with pytest.raises(ValueError, match="Either corpus_embeddings or corpus_index"):
        se.semantic_search_qdrant(torch.ones(2, 3).to_sparse())


def test_missing_client_library_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensearchpy", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install opensearch-py"):
        se.semantic_search_opensearch([[("a", 1.0)]], [[("a", 1.0)]])


def test_decoded_embeddings_are_validated(monkeypatch):
    module = types.ModuleType("elasticsearch")
    module.Elasticsearch, module.helpers = object, types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "elasticsearch", module)
    with pytest.raises(ValueError, match=r"Query embeddings must be a list of lists"):
        se.semantic_search_elasticsearch([["a"]], corpus_index=(None, "i"))
    with pytest.raises(ValueError, match="Either corpus_embeddings_decoded or corpus_index"):
        se.semantic_search_elasticsearch([[("a", 1.0)]])


def test_seismic_places_rows_by_query_id(monkeypatch):
    module = types.ModuleType("seismic")
    module.SeismicDataset, module.SeismicIndex, module.get_seismic_string = object, object, lambda: "U30"
    monkeypatch.setitem(sys.modules, "seismic", module)
    seen = {}

    class Index:
        def batch_search(self, **kwargs):
            seen.update(kwargs)
            return [[("1", 0.5, "4")], [], [("0", 0.9, "2"), ("0", 0.1, "3")]]

    results, _ = se.semantic_search_seismic([[("a", 1.0)], [("b", 1.0)], [("c", 1.0)]], corpus_index=Index(),
                                            top_k=2, search_kwargs={"heap_factor": 0.9})
    assert results == [[{"corpus_id": 2, "score": 0.9}, {"corpus_id": 3, "score": 0.1}],
                       [{"corpus_id": 4, "score": 0.5}], []]
    assert seen["query_cut"] == 10 and seen["heap_factor"] == 0.9 and seen["k"] == 2
