"""Packing: the token-wise layers of a padded batch run on its real tokens only."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class Packing:
    """Where the real (non-padding) tokens of a (B, T) batch sit, to run token-wise layers on them alone.

    Projections, feed-forward and LayerNorm act on each token independently, so running them on the N real tokens
    instead of all B*T positions gives the same values for real tokens and skips the padding's share of the work.
    Attention lays them out padded (B, T) again, except on CUDA where :mod:`.varlen` attends within each sequence of
    the packed tokens. Padding positions of the final output hold zeros (every pooling masks them out).

    Example:
        >>> packing = Packing(torch.tensor([[1, 1, 0], [1, 0, 0]]))
        >>> x = torch.arange(6.0).view(2, 3, 1)
        >>> packed = packing.unpad(x)  # (N, 1): the 3 real tokens
        >>> packed.flatten().tolist(), packing.pad(packed).view(2, 3).tolist()
        ([0.0, 1.0, 3.0], [[0.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
        >>> padded = Packing(torch.tensor([[1, 1, 0], [1, 0, 0]]), row_count=lambda n: 4)  # GEMMs run at 4 rows
        >>> padded.unpad(x).flatten().tolist(), torch.equal(padded.pad(padded.unpad(x)), packing.pad(packed))
        ([0.0, 1.0, 3.0, 0.0], True)
    """

    def __init__(self, attention_mask: Tensor, row_count: Callable[[int], int] | None = None) -> None:
        self.batch, self.tokens = attention_mask.shape
        self.mask = attention_mask  # (B, T), 1 = real token
        self.index = attention_mask.reshape(-1).nonzero().squeeze(1)  # (N,) flat positions of real tokens
        self.real = self.index.numel()  # N
        # Rows of a packed tensor: N, or ``row_count(N)`` >= N, the row count the GEMMs run at (see onednn.py), so
        # that no GEMM copies its input to pad it. Rows past N start at zero, are computed like any row (each row on
        # its own: they change no real token's values) and are never read back.
        self.rows = self.real if row_count is None else row_count(self.real)
        self._starts: tuple[Tensor, int, int] | None = None

    def sequence_starts(self) -> tuple[Tensor, int, int]:
        """((B + 1,) int32 offsets where each sequence's tokens start in the packed order, then N; the longest and
        the shortest sequence's length). Packed tokens keep their batch-major order, so each sequence's tokens are
        contiguous."""
        if self._starts is None:
            lengths = self.mask.ne(0).sum(dim=1)  # (B,)
            offsets = torch.zeros(self.batch + 1, dtype=torch.int32, device=self.mask.device)
            offsets[1:] = lengths.cumsum(0)
            shortest, longest = torch.stack(lengths.aminmax()).tolist()
            self._starts = (offsets, longest, shortest)
        return self._starts

    def unpad(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (rows, D): the N real tokens, then ``rows - N`` rows of zeros."""
        flat = x.reshape(self.batch * self.tokens, x.shape[-1])
        if self.rows == self.real:
            return flat.index_select(0, self.index)
        out = flat.new_zeros(self.rows, flat.shape[1])
        torch.index_select(flat, 0, self.index, out=out[: self.real])
        return out

    def pad(self, x: Tensor) -> Tensor:
        """(rows, D) -> (B * T, D): the real tokens in place, zeros at padding positions."""
        return x.new_zeros(self.batch * self.tokens, x.shape[-1]).index_copy(0, self.index, x[: self.real])
