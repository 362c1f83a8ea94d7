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

import logging
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SimilarityFunction",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
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

logger = logging.getLogger(__name__)


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
        return torch.sparse_coo_tensor(idx, new_vals, emb.size(), check_invariants=False,
                                       is_coalesced=True)
    work = vals.float() if vals.dtype in (torch.float16, torch.bfloat16) else vals
    sq_sums = work.new_zeros(emb.size(0)).index_add_(0, idx[0], work * work)
    norms = sq_sums.sqrt()[idx[0]]
    scaled = torch.where(norms > 0, work / torch.where(norms > 0, norms, torch.ones_like(norms)), work)
    return torch.sparse_coo_tensor(idx, scaled.to(vals.dtype), emb.size(), check_invariants=False,
                                       is_coalesced=True)


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

    Sparse inputs stay sparse: only entries sharing a dimension are joined
    (summed in float64, returned as float32), so the cost follows the number of
    stored entries rather than ``n * m * dim``.

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
    return -_sparse_manhattan_matrix(a, b).float()


def _sparse_both(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Give both operands the sparse layout when exactly one of them is sparse."""
    if a.is_sparse and not b.is_sparse:
        b = b.to_sparse()
    elif b.is_sparse and not a.is_sparse:
        a = a.to_sparse()
    return a, b


def _pair_operands(a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    """Convert pairwise operands to dense tensors (used where a sparse path does not apply)."""
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    return (a.to_dense() if a.is_sparse else a), (b.to_dense() if b.is_sparse else b)


def _sparse_pair(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """:func:`_sparse_pairwise` for 1-D (a single pair, 0-d result) or 2-D operands."""
    if a.dim() == 1:
        return _sparse_pairwise(a.unsqueeze(0), b.unsqueeze(0), kind)[0]
    return _sparse_pairwise(a, b, kind)


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
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    if a.is_sparse or b.is_sparse:
        return _sparse_pair(normalize_embeddings(a), normalize_embeddings(b), "dot")
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
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    if a.is_sparse or b.is_sparse:
        return _sparse_pair(a, b, "dot")
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
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    if a.is_sparse or b.is_sparse:
        return -_sparse_pair(a, b, "l2sq").sqrt()
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
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    if a.is_sparse or b.is_sparse:
        return -_sparse_pair(a, b, "l1")
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


# --- sparse kernels: work on the stored entries only ----------------------------------------------------------

# Candidate (a entry, b entry) pairs materialized at once by the sparse Manhattan join.
_SPARSE_PAIR_BUDGET = 1 << 24


def _coo_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, cols, values) of a 2-D tensor's stored entries (a dense input yields its non-zeros)."""
    if not x.is_sparse:
        x = x.to_sparse()
    x = x.coalesce()
    rows, cols = x.indices()
    return rows, cols, x.values()


def _sparse_pairwise(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Row-wise ``dot`` / squared L2 / L1 between equally shaped 2-D operands, at least one sparse.

    Works on the stored entries with torch's sparse kernels (the product keeps the shared entries, the
    difference their union) and sums each row with ``index_add``: nothing is densified.
    """
    if a.shape != b.shape:
        raise RuntimeError(
            f"pairwise similarity needs equally shaped inputs, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    dtype = torch.promote_types(a.dtype, b.dtype)
    if kind == "dot" and a.is_sparse != b.is_sparse:
        # Sparse . dense: read the dense operand only where the sparse one stores entries.
        sparse, dense = (a, b) if a.is_sparse else (b, a)
        sparse = sparse.coalesce()
        rows, cols = sparse.indices()
        products = sparse.values().to(dtype) * dense[rows, cols].to(dtype)
        return torch.zeros(a.shape[0], dtype=dtype, device=products.device).index_add_(0, rows, products)
    a = a if a.is_sparse else a.to_sparse()
    b = b if b.is_sparse else b.to_sparse()
    a, b = a.to(dtype), b.to(dtype)
    if kind == "dot":  # torch's sparse row sum: the same summation order as sentence-transformers
        return (a * b).sum(dim=-1).to_dense()
    combined = (a * b if kind == "dot" else a - b).coalesce()
    values = combined.values()
    if kind == "l1":
        values = values.abs()
    elif kind == "l2sq":
        values = values.square()
    out = torch.zeros(a.shape[0], dtype=dtype, device=values.device)
    return out.index_add_(0, combined.indices()[0], values)


def _sparse_manhattan_matrix(a: Tensor, b: Tensor) -> Tensor:
    """``||a[i] - b[j]||_1`` for all row pairs (float64), joining only the entries that share a dimension.

    ``|x - y| = |x| + |y| - (|x| + |y| - |x - y|)``: the row L1 norms give the distance of rows without common
    dimensions, and each pair of entries in the same dimension subtracts its overlap
    (``2 min(|x|, |y|)`` when the signs agree). The join is chunked to bound memory.
    """
    n, m = a.shape[0], b.shape[0]
    a_rows, a_cols, a_vals = _coo_parts(a)
    b_rows, b_cols, b_vals = _coo_parts(b)
    a_vals, b_vals = a_vals.double(), b_vals.double()
    device = a_vals.device
    a_norm = torch.zeros(n, dtype=torch.float64, device=device).index_add_(0, a_rows, a_vals.abs())
    b_norm = torch.zeros(m, dtype=torch.float64, device=device).index_add_(0, b_rows, b_vals.abs())
    overlap = torch.zeros(n * m, dtype=torch.float64, device=device)
    # b's entries sorted by dimension: those of a's entry e sit at b_order[b_first[e] : b_first[e] + per_a[e]].
    b_sorted, b_order = torch.sort(b_cols, stable=True)  # (argsort(stable=True) is far slower on CPU)
    b_first = torch.searchsorted(b_sorted, a_cols)
    per_a = torch.searchsorted(b_sorted, a_cols, right=True) - b_first  # partners of each a entry
    keep = per_a > 0
    a_rows, a_vals, per_a, b_first = a_rows[keep], a_vals[keep], per_a[keep], b_first[keep]
    if a_rows.numel():
        ends = torch.cumsum(per_a, 0)
        begin = 0
        while begin < a_rows.numel():
            # Take a run of a entries whose partner count fits the pair budget (at least one entry).
            limit = (ends[begin - 1] if begin else 0) + _SPARSE_PAIR_BUDGET
            end = max(int(torch.searchsorted(ends, torch.tensor(limit, device=device), right=True)), begin + 1)
            counts = per_a[begin:end]
            total = int(counts.sum())
            owner = torch.repeat_interleave(torch.arange(begin, end, device=device), counts, output_size=total)
            run_start = torch.cumsum(counts, 0) - counts
            offset = torch.arange(total, device=device) - torch.repeat_interleave(run_start, counts, output_size=total)
            partner = b_order[b_first[owner] + offset]
            x, y = a_vals[owner], b_vals[partner]
            overlap.index_add_(0, a_rows[owner] * m + b_rows[partner], x.abs() + y.abs() - (x - y).abs())
            begin = end
    return (a_norm[:, None] + b_norm[None, :] - overlap.view(n, m)).clamp_(min=0)


# --- late interaction (MaxSim) ------------------------------------------------------------------------------

# Default element budget of one scoring chunk (padded embeddings plus the token-similarity intermediate):
# 100M elements, about 400 MB in float32.
_MAXSIM_CHUNK_ELEMENT_BUDGET = 100_000_000
# Score of a document with no scoreable token: below any real score, yet finite through loss arithmetic.
_EMPTY_DOCUMENT_SCORE = -1e9

MultiVector = list | np.ndarray | Tensor


def _chunk_ranges(
    item_widths: list[int], per_item_token: int, element_budget: int, per_item_fixed: int = 0
) -> list[tuple[int, int]]:
    """Greedily split items into ``(start, end)`` runs whose cost stays within ``element_budget``.

    A run of ``count`` items padded to its widest item costs ``(per_item_token * width + per_item_fixed) *
    count`` elements. A run always holds at least one item, so a single oversized item gets a run of its own.
    """
    ranges: list[tuple[int, int]] = []
    start, width = 0, 0
    for index, item_width in enumerate(item_widths):
        wider = max(width, item_width)
        count = index - start + 1
        if count > 1 and (per_item_token * wider + per_item_fixed) * count > element_budget:
            ranges.append((start, index))
            start, width = index, item_width
        else:
            width = wider
    ranges.append((start, len(item_widths)))
    return ranges


def _as_mask(mask: Tensor | np.ndarray | list | tuple | None, name: str) -> Tensor | None:
    if mask is None or isinstance(mask, Tensor):
        return mask
    if isinstance(mask, np.ndarray):
        return _as_tensor(mask)
    if isinstance(mask, (list, tuple)):
        return torch.nn.utils.rnn.pad_sequence([_as_tensor(m) for m in mask], batch_first=True)
    raise TypeError(f"`{name}` must be a tensor, an ndarray, or a list of per-item masks, not {type(mask).__name__}.")


def _prepare_side(embeddings: MultiVector, mask: Any, name: str) -> tuple[MultiVector, Tensor | None]:
    """Normalize one side: masks become one tensor; a bare ``(tokens, dim)`` item becomes a batch of one."""
    mask = _as_mask(mask, name)
    if isinstance(embeddings, (np.ndarray, Tensor)) and embeddings.ndim == 2:
        embeddings = embeddings[None]
        if mask is not None and mask.ndim == 1:
            mask = mask.unsqueeze(0)
    return embeddings, mask


def _fit_mask_width(mask: Tensor, width: int, name: str, truncate: bool = False) -> Tensor:
    """Check that ``mask`` spans ``width`` tokens (or, with ``truncate``, cut a wider batch mask down to it)."""
    if mask.shape[-1] == width:
        return mask
    if truncate and mask.shape[-1] > width:
        return mask[..., :width]
    raise ValueError(f"`{name}` covers {mask.shape[-1]} tokens, but the padded embeddings have {width}.")


def _side_device(embeddings: MultiVector) -> torch.device | None:
    if isinstance(embeddings, Tensor):
        return embeddings.device
    if isinstance(embeddings, list) and embeddings and isinstance(embeddings[0], Tensor):
        return embeddings[0].device
    return None


def _widths(embeddings: MultiVector) -> list[int]:
    if isinstance(embeddings, list):
        return [len(item) for item in embeddings]
    return [embeddings.shape[1]] * len(embeddings)


def _embedding_dim(embeddings: MultiVector) -> int:
    if not isinstance(embeddings, list):
        return embeddings.shape[-1]
    return next((len(item[0]) for item in embeddings if len(item)), 1)


def _zero_row_mask(padded: Tensor) -> Tensor:
    """``(B, T)`` mask of a padded ``(B, T, D)`` tensor: 0 for all-zero rows (read as padding), 1 otherwise."""
    return padded.any(dim=-1).to(padded.dtype)


def _pad(items: MultiVector, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Pad a list of ``(tokens_i, dim)`` items to ``(B, T, D)`` float; derive a mask when none is given.

    A list gets a length mask; a pre-padded 3-D input gets :func:`_zero_row_mask`. Integer (quantized)
    embeddings are upcast to float32.
    """
    if isinstance(items, list):
        tensors = [_as_tensor(item) for item in items]
        tensors = [t if t.is_floating_point() else t.float() for t in tensors]
        lengths = torch.tensor([t.shape[0] for t in tensors])
        padded = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
        if mask is None:
            positions = torch.arange(padded.shape[1], device=padded.device)
            mask = (positions[None, :] < lengths.to(padded.device)[:, None]).to(padded.dtype)
        return padded, mask
    padded = _as_tensor(items)
    if not padded.is_floating_point():
        padded = padded.float()
    if mask is None and padded.dim() == 3:
        mask = _zero_row_mask(padded)
    return padded, mask


def _pad_chunk(
    items: MultiVector, mask: Tensor | None, start: int, end: int, device: torch.device, name: str
) -> tuple[Tensor, Tensor | None]:
    """Pad items ``start:end`` to their own widest item, on ``device``; the batch mask is cut to match."""
    chunk, chunk_mask = _pad(items[start:end], mask[start:end] if mask is not None else None)
    chunk = chunk.to(device)
    if chunk_mask is not None:
        chunk_mask = _fit_mask_width(chunk_mask.to(device), chunk.shape[1], name, truncate=True)
    return chunk, chunk_mask


def _query_token_counts(a: MultiVector, a_mask: Tensor | None) -> Tensor:
    """Real query tokens per query (the MeanMaxSim divisor), counted the way scoring masks them."""
    if a_mask is not None:
        return a_mask.bool().sum(dim=-1).clamp(min=1)
    if isinstance(a, list):
        return torch.tensor([max(len(item), 1) for item in a])
    return _zero_row_mask(_as_tensor(a)).bool().sum(dim=-1).clamp(min=1)


def _is_compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    check = getattr(compiler, "is_compiling", None)
    return bool(check()) if check is not None else False


def _fill_empty_document_scores(scores: Tensor, empty: Tensor) -> Tensor:
    """Give documents without any unmasked token the finite ``-1e9`` sentinel score.

    The fill is unconditional (no host sync, no data-dependent branch under ``torch.compile``); only the
    warning reads ``empty``, and only for CPU tensors outside compilation (reading it is free there).
    """
    if not _is_compiling() and empty.device.type == "cpu" and bool(empty.any()):
        logger.warning(
            "Encountered documents without any scoreable token during multi-vector similarity scoring, e.g. "
            "because MultiVectorMask (via keep_only_token_ids or skiplist_words) masked out every token, or "
            "because a document embedding has zero token vectors. These documents score about "
            f"{_EMPTY_DOCUMENT_SCORE:.0e} (before any normalization), ranking them below every real document."
        )
    return scores.masked_fill(empty, _EMPTY_DOCUMENT_SCORE)


def _maxsim_score_documents(a: Tensor, b: Tensor, a_mask: Tensor | None, b_mask: Tensor | None) -> Tensor:
    """MaxSim of every query in ``a`` against every document in ``b`` (one chunk), ``(A, B)`` float32."""
    if b.shape[1] == 0:
        empty = torch.ones(a.shape[0], b.shape[0], dtype=torch.bool, device=b.device)
        return _fill_empty_document_scores(torch.zeros(empty.shape, dtype=torch.float32, device=b.device), empty)
    token_scores = torch.einsum("aqd,btd->abqt", a, b)
    if b_mask is not None:
        # Masked document tokens must lose the max even against negative similarities: fill with the minimum.
        token_scores.masked_fill_(~b_mask.bool()[None, :, None, :], torch.finfo(token_scores.dtype).min)
    best = token_scores.max(dim=-1).values.float()
    if a_mask is not None:
        best = best * a_mask[:, None, :]
    scores = best.sum(dim=-1)
    if b_mask is not None:
        scores = _fill_empty_document_scores(scores, ~b_mask.bool().any(dim=-1)[None, :])
    return scores


def _maxsim_score_pairs(a: Tensor, b: Tensor, a_mask: Tensor | None, b_mask: Tensor | None) -> Tensor:
    """MaxSim of each pair ``(a[i], b[i])`` (one chunk), ``(B,)`` float32."""
    if b.shape[1] == 0:
        empty = torch.ones(b.shape[0], dtype=torch.bool, device=b.device)
        return _fill_empty_document_scores(torch.zeros(empty.shape, dtype=torch.float32, device=b.device), empty)
    token_scores = torch.einsum("bqd,btd->bqt", a, b)
    if b_mask is not None:
        token_scores.masked_fill_(~b_mask.bool()[:, None, :], torch.finfo(token_scores.dtype).min)
    best = token_scores.max(dim=-1).values.float()
    if a_mask is not None:
        best = best * a_mask
    scores = best.sum(dim=-1)
    if b_mask is not None:
        scores = _fill_empty_document_scores(scores, ~b_mask.bool().any(dim=-1))
    return scores


def maxsim(
    a: MultiVector,
    b: MultiVector,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """Late-interaction (ColBERT) MaxSim score of every query in ``a`` against every document in ``b``.

    ``score[i, j] = sum over query tokens q of a[i] of max over document tokens t of b[j] of (q . t)``.

    Args:
        a: Queries: a padded ``(A, Tq, D)`` tensor/array, a list of ``(Tq_i, D)`` items (ragged), or a
            single ``(Tq, D)`` item (scored as a batch of one).
        b: Documents, in the same forms.
        a_mask: Query token mask ``(A, Tq)`` (or a list of per-item 1-D masks); masked tokens are left
            out of the sum. Default: item lengths for lists, non-zero rows for padded tensors.
        b_mask: Document token mask ``(B, Tt)``; masked tokens are left out of the max. A document with no
            unmasked token scores ``-1e9`` (with a warning).
        chunk_elements: Element budget of one chunk (padded embeddings plus the token-score
            intermediate); both sides are chunked and padded per chunk. Default 100M elements.
        length_normalize: Divide by the number of real query tokens (MeanMaxSim).
        device: Where to compute, chunk by chunk; scores return on the documents' device either way.

    Returns:
        ``(A, B)`` float32 scores (half-precision inputs are summed in float32), on the documents'
        device (the queries' for NumPy documents).

    Example:
        >>> queries = [torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
        >>> documents = [torch.tensor([[1.0, 0.0], [0.0, 0.5]]), torch.tensor([[0.0, 1.0]])]
        >>> maxsim(queries, documents)
        tensor([[1.5000, 1.0000]])
    """
    a, a_mask = _prepare_side(a, a_mask, "a_mask")
    b, b_mask = _prepare_side(b, b_mask, "b_mask")
    if len(a) == 0 or len(b) == 0:
        return torch.zeros(len(a), len(b), dtype=torch.float32, device=_side_device(b) or _side_device(a))
    counts = _query_token_counts(a, a_mask) if length_normalize else None
    budget = chunk_elements if chunk_elements is not None else _MAXSIM_CHUNK_ELEMENT_BUDGET
    query_widths, document_widths = _widths(a), _widths(b)
    if a_mask is not None:
        a_mask = _fit_mask_width(a_mask, max(query_widths), "a_mask").expand(len(a), -1)
    if b_mask is not None:
        b_mask = _fit_mask_width(b_mask, max(document_widths), "b_mask").expand(len(b), -1)
    result_device = _side_device(b) or _side_device(a) or torch.device("cpu")
    work_device = torch.device(device) if device is not None else result_device

    dim = _embedding_dim(b)
    widest_document = max(document_widths)
    rows = []
    # A query chunk is sized against one padded document; each document chunk then gets what the query
    # chunk leaves of the budget (its padded documents plus the 4-D token-score intermediate).
    query_ranges = _chunk_ranges(query_widths, widest_document + _embedding_dim(a), budget - widest_document * dim)
    for q_start, q_end in query_ranges:
        chunk_a, chunk_a_mask = _pad_chunk(a, a_mask, q_start, q_end, work_device, "a_mask")
        per_token = chunk_a.shape[0] * chunk_a.shape[1] + dim
        pieces = []
        for d_start, d_end in _chunk_ranges(document_widths, per_token, budget - chunk_a.numel()):
            chunk_b, chunk_b_mask = _pad_chunk(b, b_mask, d_start, d_end, work_device, "b_mask")
            pieces.append(_maxsim_score_documents(chunk_a, chunk_b, chunk_a_mask, chunk_b_mask).to(result_device))
        rows.append(pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1))
    scores = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    if counts is not None:
        scores = scores / counts.to(device=scores.device, dtype=scores.dtype)[:, None]
    return scores


def maxsim_pairwise(
    a: MultiVector,
    b: MultiVector,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """MaxSim of each query-document pair ``(a[i], b[i])``: the pairwise form of :func:`maxsim`.

    Takes the same inputs and keywords as :func:`maxsim`; pairs are packed into chunks padded to their own
    widest member, within ``chunk_elements`` (padded queries and documents plus the token-score
    intermediate).

    Returns:
        ``(N,)`` float32 scores on the documents' device.

    Raises:
        ValueError: If ``a`` and ``b`` hold different numbers of items.

    Example:
        >>> maxsim_pairwise([torch.tensor([[1.0, 0.0]])], [torch.tensor([[0.5, 0.0], [2.0, 0.0]])])
        tensor([2.])
    """
    a, a_mask = _prepare_side(a, a_mask, "a_mask")
    b, b_mask = _prepare_side(b, b_mask, "b_mask")
    if len(a) != len(b):
        raise ValueError(
            f"`a` and `b` must hold the same number of items to score as pairs, got {len(a)} and {len(b)}."
        )
    if len(a) == 0:
        return torch.zeros(0, dtype=torch.float32, device=_side_device(b) or _side_device(a))
    counts = _query_token_counts(a, a_mask) if length_normalize else None
    budget = chunk_elements if chunk_elements is not None else _MAXSIM_CHUNK_ELEMENT_BUDGET
    query_widths, document_widths = _widths(a), _widths(b)
    if a_mask is not None:
        a_mask = _fit_mask_width(a_mask, max(query_widths), "a_mask")
    if b_mask is not None:
        b_mask = _fit_mask_width(b_mask, max(document_widths), "b_mask")
    result_device = _side_device(b) or _side_device(a) or torch.device("cpu")
    work_device = torch.device(device) if device is not None else result_device
    widest_query = max(query_widths)
    dim = _embedding_dim(b)
    pieces = []
    for start, end in _chunk_ranges(document_widths, widest_query + dim, budget, per_item_fixed=widest_query * dim):
        chunk_a, chunk_a_mask = _pad_chunk(a, a_mask, start, end, work_device, "a_mask")
        chunk_b, chunk_b_mask = _pad_chunk(b, b_mask, start, end, work_device, "b_mask")
        pieces.append(_maxsim_score_pairs(chunk_a, chunk_b, chunk_a_mask, chunk_b_mask).to(result_device))
    scores = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)
    if counts is not None:
        scores = scores / counts.to(device=scores.device, dtype=scores.dtype)
    return scores


def mean_maxsim(
    a: MultiVector,
    b: MultiVector,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """MeanMaxSim: :func:`maxsim` divided by each query's number of real tokens (same arguments).

    Scores then lie in the per-token similarity range whatever the query length; rankings per query are
    unchanged. ``length_normalize=False`` gives plain :func:`maxsim`.

    Example:
        >>> mean_maxsim([torch.tensor([[1.0, 0.0], [0.0, 1.0]])], [torch.tensor([[1.0, 0.0], [0.0, 0.5]])])
        tensor([[0.7500]])
    """
    return maxsim(a, b, a_mask=a_mask, b_mask=b_mask, chunk_elements=chunk_elements,
                  length_normalize=length_normalize, device=device)


def mean_maxsim_pairwise(
    a: MultiVector,
    b: MultiVector,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """Pairwise MeanMaxSim: :func:`maxsim_pairwise` divided by each query's number of real tokens.

    Example:
        >>> mean_maxsim_pairwise([torch.tensor([[1.0, 0.0], [0.0, 1.0]])], [torch.tensor([[1.0, 0.0]])])
        tensor([0.5000])
    """
    return maxsim_pairwise(a, b, a_mask=a_mask, b_mask=b_mask, chunk_elements=chunk_elements,
                           length_normalize=length_normalize, device=device)


class SimilarityFunction(str, Enum):
    """Names of the supported similarity functions.

    ``COSINE`` ("cosine"), ``DOT_PRODUCT`` ("dot", alias ``DOT``),
    ``EUCLIDEAN`` ("euclidean", negative L2 distance), ``MANHATTAN``
    ("manhattan", negative L1 distance), ``MAXSIM`` ("maxsim", late-interaction
    MaxSim on token embeddings) and ``MEAN_MAXSIM`` ("meanmaxsim", MaxSim divided
    by the query's token count). Constructing a member from an unknown
    name raises ``ValueError`` listing the valid names.

    Example:
        >>> SimilarityFunction("dot") is SimilarityFunction.DOT_PRODUCT
        True
        >>> SimilarityFunction.possible_values()
        ['cosine', 'dot', 'euclidean', 'manhattan', 'maxsim', 'meanmaxsim']
    """

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"
    MAXSIM = "maxsim"
    MEAN_MAXSIM = "meanmaxsim"

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
            The member values, e.g. ``['cosine', 'dot', 'euclidean', 'manhattan', 'maxsim', 'meanmaxsim']``.

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
    SimilarityFunction.MAXSIM: maxsim,
    SimilarityFunction.MEAN_MAXSIM: mean_maxsim,
}
_PAIRWISE_FNS = {
    SimilarityFunction.COSINE: pairwise_cos_sim,
    SimilarityFunction.DOT_PRODUCT: pairwise_dot_score,
    SimilarityFunction.EUCLIDEAN: pairwise_euclidean_sim,
    SimilarityFunction.MANHATTAN: pairwise_manhattan_sim,
    SimilarityFunction.MAXSIM: maxsim_pairwise,
    SimilarityFunction.MEAN_MAXSIM: mean_maxsim_pairwise,
}


# sentence-transformers' private helper names, for code ported against them.
_pad_multi_vector_inputs = _pad
_canonicalize_side = _prepare_side
_embeddings_device = _side_device
_match_layouts = _sparse_both
