"""Similarity functions between embeddings (matrix and pairwise forms).

Every function accepts Python lists, NumPy arrays or torch tensors. The matrix
functions (``cos_sim``, ``dot_score``, ``euclidean_sim``, ``manhattan_sim``)
treat a 1-D input as a single row and return a ``(len(a), len(b))`` tensor; the
pairwise functions return one score per row pair. Half-precision floating
inputs (float16, bfloat16, fp8) are upcast to float32 before scoring, so the
scores come back as float32. The behaviour follows
``sentence_transformers.util`` (v6).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import Enum

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SimilarityFunction",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "normalize_embeddings",
    "pairwise_angle_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "pytorch_cos_sim",
    "truncate_embeddings",
]

ArrayLike = list | np.ndarray | Tensor

# Rows of ``a`` densified at once when a sparse input must be scored densely.
_DENSIFY_ROWS = 256


def _as_tensor(x: ArrayLike) -> Tensor:
    """Turn a list, array or tensor into a tensor without upcasting.

    NumPy arrays are shared (not copied) when possible; lists of tensors or
    arrays are stacked; sparse tensors are kept sparse and cast to float32.
    """
    if isinstance(x, Tensor):
        out = x
    elif isinstance(x, np.ndarray):
        out = _from_numpy(x)
    elif isinstance(x, list) and x and all(isinstance(v, Tensor) for v in x):
        if all(v.is_sparse for v in x):
            out = torch.stack([v.coalesce().to(torch.float32) for v in x])
        else:
            out = torch.stack(x)
    elif isinstance(x, list) and x and all(isinstance(v, np.ndarray) for v in x):
        out = torch.stack([_from_numpy(v) for v in x])
    else:
        out = torch.tensor(x)
    if out.is_sparse:
        out = out.to(torch.float32)
    return out


def _from_numpy(x: np.ndarray) -> Tensor:
    """Share a NumPy buffer when torch allows it, copy otherwise (read-only, odd dtypes)."""
    if x.flags.writeable:
        try:
            return torch.from_numpy(x)
        except TypeError:
            pass
    return torch.tensor(x)


def _as_float_tensor(x: ArrayLike) -> Tensor:
    """Like :func:`_as_tensor`, but floats narrower than 32 bits become float32."""
    out = _as_tensor(x)
    if out.is_floating_point() and torch.finfo(out.dtype).bits < 32:
        out = out.to(torch.float32)
    return out


def _as_rows(x: ArrayLike) -> Tensor:
    """Like :func:`_as_float_tensor`, with a 1-D input viewed as a single row."""
    out = _as_float_tensor(x)
    return out.unsqueeze(0) if out.dim() == 1 else out


def _matmul_t(a: Tensor, b: Tensor) -> Tensor:
    """Dense ``a @ b.T`` for any mix of dense and sparse COO operands."""
    if not (a.is_sparse or b.is_sparse):
        return torch.mm(a, b.t())
    with warnings.catch_warnings():
        # sparse @ sparse goes through CSR internally, which warns that CSR is "beta".
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        if b.is_sparse and not a.is_sparse:
            return torch.mm(b, a.t()).to_dense().t()
        return torch.mm(a, b.t()).to_dense()


def _dense_row_chunks(a: Tensor) -> list[Tensor]:
    """Dense row blocks of a (possibly sparse) 2-D tensor, to bound memory."""
    if not a.is_sparse:
        return [a]
    n = a.shape[0]
    chunks = []
    for start in range(0, n, _DENSIFY_ROWS):
        rows = torch.arange(start, min(start + _DENSIFY_ROWS, n), device=a.device)
        chunks.append(a.index_select(0, rows).to_dense())
    return chunks


def normalize_embeddings(embeddings: Tensor) -> Tensor:
    """Scale every embedding (last dimension) to unit L2 norm.

    Dense tensors use ``torch.nn.functional.normalize`` (norms clamped at 1e-12,
    so zero rows stay zero). Sparse COO tensors stay sparse; their all-zero
    rows stay zero.

    Args:
        embeddings: A dense or sparse COO tensor of shape ``(dim,)`` or ``(n, dim)``.

    Returns:
        A tensor of the same shape, layout and dtype with unit-length rows.

    Example:
        >>> import torch
        >>> normalize_embeddings(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """
    if not embeddings.is_sparse:
        return torch.nn.functional.normalize(embeddings, p=2, dim=-1)
    emb = embeddings.coalesce()
    idx, vals = emb.indices(), emb.values()
    if emb.dim() == 1:
        new_vals = torch.nn.functional.normalize(vals, p=2, dim=0)
        return torch.sparse_coo_tensor(idx, new_vals, emb.size(), check_invariants=False)
    work = vals.float() if vals.dtype in (torch.float16, torch.bfloat16) else vals
    sq_sums = work.new_zeros(emb.size(0)).index_add_(0, idx[0], work * work)
    norms = sq_sums.sqrt()[idx[0]]
    scaled = torch.where(norms > 0, work / torch.where(norms > 0, norms, torch.ones_like(norms)), work)
    return torch.sparse_coo_tensor(idx, scaled.to(vals.dtype), emb.size(), check_invariants=False)


def truncate_embeddings(embeddings: np.ndarray | Tensor, truncate_dim: int | None) -> np.ndarray | Tensor:
    """Keep the first ``truncate_dim`` dimensions of the embeddings (no renormalization).

    Args:
        embeddings: Array or tensor whose last axis is the embedding dimension.
        truncate_dim: Number of leading dimensions to keep; ``None`` keeps all.

    Returns:
        ``embeddings[..., :truncate_dim]`` (a view, of the same type as the input).

    Example:
        >>> import numpy as np
        >>> truncate_embeddings(np.arange(6.0).reshape(2, 3), 2)
        array([[0., 1.],
               [3., 4.]])
    """
    return embeddings[..., :truncate_dim]


def cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Cosine similarity between every row of ``a`` and every row of ``b``.

    Args:
        a: Embeddings of shape ``(n, dim)`` or ``(dim,)``; may be a sparse COO tensor.
        b: Embeddings of shape ``(m, dim)`` or ``(dim,)``; may be a sparse COO tensor.

    Returns:
        Dense tensor of shape ``(n, m)`` with ``res[i, j] = cos(a[i], b[j])``.

    Example:
        >>> cos_sim([[1.0, 0.0], [1.0, 1.0]], [[2.0, 0.0]])
        tensor([[1.0000],
                [0.7071]])
    """
    return _matmul_t(normalize_embeddings(_as_rows(a)), normalize_embeddings(_as_rows(b)))


def pytorch_cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Alias of :func:`cos_sim`, kept for compatibility.

    Args:
        a: Embeddings of shape ``(n, dim)`` or ``(dim,)``.
        b: Embeddings of shape ``(m, dim)`` or ``(dim,)``.

    Returns:
        Tensor of shape ``(n, m)`` of cosine similarities.

    Example:
        >>> pytorch_cos_sim([1.0, 0.0], [[0.0, 3.0]])
        tensor([[0.]])
    """
    return cos_sim(a, b)


def dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product between every row of ``a`` and every row of ``b``.

    Args:
        a: Embeddings of shape ``(n, dim)`` or ``(dim,)``; may be a sparse COO tensor.
        b: Embeddings of shape ``(m, dim)`` or ``(dim,)``; may be a sparse COO tensor.

    Returns:
        Dense tensor of shape ``(n, m)`` with ``res[i, j] = a[i] . b[j]``.

    Example:
        >>> dot_score([[1.0, 2.0]], [[3.0, 4.0], [1.0, 0.0]])
        tensor([[11.,  1.]])
    """
    return _matmul_t(_as_rows(a), _as_rows(b))


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Euclidean (L2) distance between every row of ``a`` and of ``b``.

    Args:
        a: Embeddings of shape ``(n, dim)`` or ``(dim,)``; may be a sparse COO tensor.
        b: Embeddings of shape ``(m, dim)`` or ``(dim,)``; may be a sparse COO tensor.

    Returns:
        Tensor of shape ``(n, m)`` with ``res[i, j] = -||a[i] - b[j]||_2``.

    Example:
        >>> euclidean_sim([[0.0, 0.0]], [[3.0, 4.0], [0.0, 1.0]])
        tensor([[-5., -1.]])
    """
    a, b = _as_rows(a), _as_rows(b)
    if not (a.is_sparse or b.is_sparse):
        return -torch.cdist(a, b, p=2.0)
    a, b = _sparse_both(a, b)
    a_sq = torch.sparse.sum(a * a, dim=1).to_dense().unsqueeze(1)
    b_sq = torch.sparse.sum(b * b, dim=1).to_dense().unsqueeze(0)
    sq_dist = (a_sq - 2 * _matmul_t(a, b) + b_sq).clamp(min=0.0)
    return -sq_dist.sqrt()


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Manhattan (L1) distance between every row of ``a`` and of ``b``.

    Sparse inputs are densified a block of rows at a time and, like the
    reference (which uses SciPy there), summed in float64 and returned as float32.

    Args:
        a: Embeddings of shape ``(n, dim)`` or ``(dim,)``.
        b: Embeddings of shape ``(m, dim)`` or ``(dim,)``.

    Returns:
        Tensor of shape ``(n, m)`` with ``res[i, j] = -||a[i] - b[j]||_1``.

    Example:
        >>> manhattan_sim([[0.0, 0.0]], [[3.0, 4.0], [0.0, -1.0]])
        tensor([[-7., -1.]])
    """
    a, b = _as_rows(a), _as_rows(b)
    if not (a.is_sparse or b.is_sparse):
        return -torch.cdist(a, b, p=1.0)
    b_dense = b.to_dense().double()
    dists = [torch.cdist(chunk.double(), b_dense, p=1.0) for chunk in _dense_row_chunks(a)]
    return -torch.cat(dists, dim=0).float()


def _sparse_both(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Give both operands the sparse layout when exactly one of them is sparse."""
    if a.is_sparse and not b.is_sparse:
        b = b.to_sparse()
    elif b.is_sparse and not a.is_sparse:
        a = a.to_sparse()
    return a, b


def _pair_operands(a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    """Convert pairwise operands; sparse ones are densified (pairwise work is O(n * dim) anyway)."""
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    return (a.to_dense() if a.is_sparse else a), (b.to_dense() if b.is_sparse else b)


def pairwise_cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Cosine similarity of each row pair, ``cos(a[i], b[i])``.

    Args:
        a: Embeddings of shape ``(n, dim)`` (or ``(dim,)`` for a single pair).
        b: Embeddings of the same shape as ``a``.

    Returns:
        Tensor of shape ``(n,)`` (0-d for 1-D inputs).

    Example:
        >>> pairwise_cos_sim([[1.0, 0.0], [0.0, 2.0]], [[5.0, 0.0], [1.0, 1.0]])
        tensor([1.0000, 0.7071])
    """
    a, b = _pair_operands(a, b)
    return (normalize_embeddings(a) * normalize_embeddings(b)).sum(dim=-1)


def pairwise_dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product of each row pair, ``a[i] . b[i]``.

    Args:
        a: Embeddings of shape ``(n, dim)`` (or ``(dim,)`` for a single pair).
        b: Embeddings of the same shape as ``a``.

    Returns:
        Tensor of shape ``(n,)`` (0-d for 1-D inputs).

    Example:
        >>> pairwise_dot_score([[1.0, 2.0], [0.0, 1.0]], [[3.0, 4.0], [5.0, 6.0]])
        tensor([11.,  6.])
    """
    a, b = _pair_operands(a, b)
    return (a * b).sum(dim=-1)


def pairwise_euclidean_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Euclidean distance of each row pair, ``-||a[i] - b[i]||_2``.

    Args:
        a: Embeddings of shape ``(n, dim)`` (or ``(dim,)`` for a single pair).
        b: Embeddings of the same shape as ``a``.

    Returns:
        Tensor of shape ``(n,)`` (0-d for 1-D inputs).

    Example:
        >>> pairwise_euclidean_sim([[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0], [1.0, 1.0]])
        tensor([-5., -0.])
    """
    a, b = _pair_operands(a, b)
    diff = a - b
    if not diff.is_floating_point():
        return -diff.square().sum(dim=-1).sqrt()
    return -torch.linalg.vector_norm(diff, dim=-1)


def pairwise_manhattan_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Manhattan distance of each row pair, ``-||a[i] - b[i]||_1``.

    Args:
        a: Embeddings of shape ``(n, dim)`` (or ``(dim,)`` for a single pair).
        b: Embeddings of the same shape as ``a``.

    Returns:
        Tensor of shape ``(n,)`` (0-d for 1-D inputs).

    Example:
        >>> pairwise_manhattan_sim([[0.0, 0.0]], [[3.0, -4.0]])
        tensor([-7.])
    """
    a, b = _pair_operands(a, b)
    return -(a - b).abs().sum(dim=-1)


def pairwise_angle_sim(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Absolute AnglE similarity of each row pair (Li & Li, 2023, arXiv:2309.12871).

    After L2 normalization, each row is read as a complex vector whose real
    part is the first half of the dimensions and whose imaginary part is the
    second half (an odd dimension is zero-padded). The score is
    ``|cos + sin|`` with ``cos = sum(x * y)`` and
    ``sin = sum(x_im * y_re - x_re * y_im)``.

    Args:
        x: Embeddings of shape ``(n, dim)``.
        y: Embeddings of shape ``(n, dim)``.

    Returns:
        Tensor of shape ``(n,)`` with scores in ``[0, sqrt(2)]``.

    Example:
        >>> pairwise_angle_sim([[1.0, 0.0]], [[1.0, 0.0]])
        tensor([1.])
    """
    x, y = _pair_operands(x, y)
    if x.shape[1] % 2:
        x = torch.nn.functional.pad(x, (0, 1))
        y = torch.nn.functional.pad(y, (0, 1))
    x = torch.nn.functional.normalize(x, p=2, dim=1)
    y = torch.nn.functional.normalize(y, p=2, dim=1)
    x_re, x_im = torch.chunk(x, 2, dim=1)
    y_re, y_im = torch.chunk(y, 2, dim=1)
    cos = (x * y).sum(dim=1)
    sin = (x_im * y_re - x_re * y_im).sum(dim=1)
    return (cos + sin).abs()


class SimilarityFunction(str, Enum):
    """Names of the supported similarity functions.

    ``COSINE`` ("cosine"), ``DOT_PRODUCT`` ("dot", alias ``DOT``),
    ``EUCLIDEAN`` ("euclidean", negative L2 distance) and ``MANHATTAN``
    ("manhattan", negative L1 distance). Constructing a member from an unknown
    name raises ``ValueError`` listing the valid names.

    Example:
        >>> SimilarityFunction("dot") is SimilarityFunction.DOT_PRODUCT
        True
        >>> SimilarityFunction.possible_values()
        ['cosine', 'dot', 'euclidean', 'manhattan']
    """

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"

    @classmethod
    def _missing_(cls, value: object) -> SimilarityFunction:
        raise ValueError(f"Unknown similarity function: got {value!r}; valid: {SimilarityFunction.possible_values()}")

    @staticmethod
    def to_similarity_fn(
        similarity_function: str | SimilarityFunction,
    ) -> Callable[[ArrayLike, ArrayLike], Tensor]:
        """Map a name or member to its matrix similarity function.

        Args:
            similarity_function: A member or one of :meth:`possible_values`.

        Returns:
            A function ``(a, b) -> Tensor`` of shape ``(len(a), len(b))``.

        Raises:
            ValueError: If the name is not a known similarity function.

        Example:
            >>> fn = SimilarityFunction.to_similarity_fn("dot")
            >>> fn([[1.0, 2.0]], [[3.0, 4.0]])
            tensor([[11.]])
        """
        return _MATRIX_FNS[SimilarityFunction(similarity_function)]

    @staticmethod
    def to_similarity_pairwise_fn(
        similarity_function: str | SimilarityFunction,
    ) -> Callable[[ArrayLike, ArrayLike], Tensor]:
        """Map a name or member to its pairwise (row-by-row) similarity function.

        Args:
            similarity_function: A member or one of :meth:`possible_values`.

        Returns:
            A function ``(a, b) -> Tensor`` of shape ``(len(a),)``.

        Raises:
            ValueError: If the name is not a known similarity function.

        Example:
            >>> fn = SimilarityFunction.to_similarity_pairwise_fn("manhattan")
            >>> fn([[1.0, 2.0]], [[3.0, 4.0]])
            tensor([-4.])
        """
        return _PAIRWISE_FNS[SimilarityFunction(similarity_function)]

    @staticmethod
    def possible_values() -> list[str]:
        """List the accepted names, without duplicate aliases.

        Returns:
            The member values, e.g. ``['cosine', 'dot', 'euclidean', 'manhattan']``.

        Example:
            >>> "cosine" in SimilarityFunction.possible_values()
            True
        """
        return [member.value for member in SimilarityFunction]


_MATRIX_FNS = {
    SimilarityFunction.COSINE: cos_sim,
    SimilarityFunction.DOT_PRODUCT: dot_score,
    SimilarityFunction.EUCLIDEAN: euclidean_sim,
    SimilarityFunction.MANHATTAN: manhattan_sim,
}
_PAIRWISE_FNS = {
    SimilarityFunction.COSINE: pairwise_cos_sim,
    SimilarityFunction.DOT_PRODUCT: pairwise_dot_score,
    SimilarityFunction.EUCLIDEAN: pairwise_euclidean_sim,
    SimilarityFunction.MANHATTAN: pairwise_manhattan_sim,
}
