"""Focused tests of the util helpers added for sentence-transformers 6.x parity (embedkit's own cases)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from embedkit.util import check_version_requirements, maxsim, maxsim_pairwise, resolve_ids
from embedkit.util.decorators import deprecated_kwargs
from embedkit.util.environment import _version_key
from embedkit.util.similarity import manhattan_sim, pairwise_euclidean_sim, pairwise_manhattan_sim


def _random_sparse(rows: int, dim: int, per_row: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    cols = torch.randint(0, dim, (rows * per_row,), generator=generator)
    values = torch.randn(rows * per_row, generator=generator)
    indices = torch.stack([torch.arange(rows).repeat_interleave(per_row), cols])
    return torch.sparse_coo_tensor(indices, values, (rows, dim), check_invariants=True).coalesce()


def test_sparse_manhattan_matches_dense_with_signed_values() -> None:
    a, b = _random_sparse(7, 40, 6, 0), _random_sparse(5, 40, 6, 1)
    expected = -torch.cdist(a.to_dense().double(), b.to_dense().double(), p=1).float()
    torch.testing.assert_close(manhattan_sim(a, b), expected)
    torch.testing.assert_close(manhattan_sim(a, b.to_dense()), expected)


def test_sparse_pairwise_distances_match_dense() -> None:
    a, b = _random_sparse(6, 30, 5, 2), _random_sparse(6, 30, 5, 3)
    dense_a, dense_b = a.to_dense(), b.to_dense()
    torch.testing.assert_close(pairwise_manhattan_sim(a, b), pairwise_manhattan_sim(dense_a, dense_b))
    torch.testing.assert_close(pairwise_euclidean_sim(a, dense_b), pairwise_euclidean_sim(dense_a, dense_b))


def test_maxsim_skips_masked_document_tokens_and_pairs_agree() -> None:
    queries = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    documents = torch.tensor([[[0.5, 0.0], [9.0, 9.0]], [[0.0, 2.0], [1.0, 0.0]]])
    mask = torch.tensor([[True, False], [True, True]])
    scores = maxsim(queries, documents, b_mask=mask)
    torch.testing.assert_close(scores, torch.tensor([[0.5, 3.0]]))
    pairs = maxsim_pairwise(queries.expand(2, -1, -1), documents, b_mask=mask)
    torch.testing.assert_close(pairs, scores[0])


class _Table:
    """Minimal object with the datasets.Dataset surface that resolve_ids reads."""

    def __init__(self, columns: dict[str, list]) -> None:
        self.columns = columns

    column_names = property(lambda self: list(self.columns))
    num_rows = property(lambda self: len(next(iter(self.columns.values()))))

    def with_format(self, _format: object) -> _Table:
        return self

    def select_columns(self, names: list[str]) -> _Table:
        return _Table({name: self.columns[name] for name in names})

    def __getitem__(self, key: object) -> object:
        if isinstance(key, str):
            return self.columns[key]
        return {name: [values[i] for i in key] for name, values in self.columns.items()}


def test_resolve_ids_on_a_duck_typed_dataset(caplog: pytest.LogCaptureFixture) -> None:
    documents = _Table({"doc_id": [3, 1, 3], "text": ["c-old", "a", "c"]})
    with caplog.at_level(logging.WARNING):
        transform = resolve_ids({"query_id": _Table({"id": ["q"], "text": ["Q"]}), "doc_ids": documents})
    assert "duplicate" in caplog.text
    out = transform({"query_id": ["q"], "doc_ids": [[3, 1]], "label": [1.0], "other": ["x"]})
    assert out == {"query": ["Q"], "doc_1": ["c"], "doc_2": ["a"], "label": [1.0]}
    with pytest.raises(KeyError, match="ID 7 from input column 'doc_ids'"):
        transform({"query_id": ["q"], "doc_ids": [[7]]})


def test_version_ordering_and_requirements() -> None:
    ordered = ["1.0.dev0", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.1"]
    assert sorted(ordered, key=_version_key) == ordered
    assert _version_key("2.0") == _version_key("2.0.0")
    check_version_requirements({"numpy": f"=={np.__version__.split('+')[0]}", "python": "~=3.0"})
    with pytest.raises(ImportError, match='pip install -U "numpy<1.0"'):
        check_version_requirements({"numpy": "<1.0"})


def test_deprecated_kwargs_renames(caplog: pytest.LogCaptureFixture) -> None:
    @deprecated_kwargs(size="dim")
    def build(dim: int) -> int:
        return dim

    with caplog.at_level(logging.WARNING):
        assert build(size=4) == 4
    assert "`size` argument was renamed" in caplog.text


def test_sparse_manhattan_never_allocates_per_dimension() -> None:
    # A vocabulary this wide cannot be densified (or bincounted); the join only touches stored entries.
    dim = 10**12

    def sparse(indices: list[list[int]], values: list[float], rows: int) -> torch.Tensor:
        return torch.sparse_coo_tensor(torch.tensor(indices), torch.tensor(values), (rows, dim), check_invariants=True)

    a = sparse([[0, 0, 1], [5, 10**11, 7]], [1.0, -2.0, 3.0], 2)
    b = sparse([[0, 0], [5, 9]], [0.5, 4.0], 1)
    torch.testing.assert_close(manhattan_sim(a, b), torch.tensor([[-6.5], [-7.5]]))
    first_row = sparse([[0, 0], [5, 10**11]], [1.0, -2.0], 1)
    torch.testing.assert_close(pairwise_manhattan_sim(first_row, b), torch.tensor([-6.5]))


def test_batch_to_device_moves_the_tensors_in_the_given_dict():
    """As sentence-transformers: the dict itself is updated and returned, so ``batch_to_device(features, device)``
    without using the result works; nested tensors move too."""
    import torch

    from embedkit.util import batch_to_device

    features = {"input_ids": torch.tensor([[1, 2]]), "nested": {"pixel": torch.zeros(2, dtype=torch.float64)},
                "text": "a"}
    moved = batch_to_device(features, torch.device("meta"))
    assert moved is features and features["input_ids"].device.type == "meta"
    assert features["nested"]["pixel"].device.type == "meta" and features["text"] == "a"
