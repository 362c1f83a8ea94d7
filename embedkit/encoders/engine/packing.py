"""Packing: the token-wise layers of a padded batch run on its real tokens only."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class Packing:
    """Where the real (non-padding) tokens of a (B, T) batch sit, to run token-wise layers on them alone.

    Projections, feed-forward and LayerNorm act on each token independently, so running them on the N real tokens
    instead of all B*T positions gives the same values for real tokens and skips the padding's share of the work.

    Each sequence's tokens are contiguous in the packed order. When every sequence's real tokens are its first
    positions (padding on the right, no holes), the sequences come ordered by length, longest first (``groups``),
    so that attention runs on each group of equal-length sequences as it is, with no padding and no mask
    (:func:`~embedkit.encoders.engine.attention.attention`); otherwise they keep the batch order and attention lays
    them out padded again (B, T). On CUDA, :mod:`.varlen` attends within each packed sequence. Padding positions of
    the final output hold zeros (every pooling masks them out).

    Example:
        >>> packing = Packing(torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]]))
        >>> x = torch.arange(9.0).view(3, 3, 1)
        >>> packed = packing.unpad(x)  # (N, 1): the 6 real tokens, longest sequence first
        >>> packed.flatten().tolist(), packing.groups  # (first row, sequences, length) of each length
        ([6.0, 7.0, 8.0, 0.0, 1.0, 3.0], [(0, 1, 3), (3, 1, 2), (5, 1, 1)])
        >>> packing.pad(packed).view(3, 3).tolist()
        [[0.0, 1.0, 0.0], [3.0, 0.0, 0.0], [6.0, 7.0, 8.0]]
        >>> padded = Packing(torch.tensor([[1, 1, 0], [1, 0, 0]]), row_count=lambda n: 4)  # GEMMs run at 4 rows
        >>> padded.unpad(x[:2]).flatten().tolist()
        [0.0, 1.0, 3.0, 0.0]
        >>> Packing(torch.tensor([[0, 1, 1], [1, 1, 0]])).groups is None  # left padding: batch order, padded attention
        True
    """

    def __init__(self, attention_mask: Tensor, row_count: Callable[[int], int] | None = None) -> None:
        self.batch, self.tokens = attention_mask.shape
        self.mask = attention_mask  # (B, T), 1 = real token
        real = attention_mask.ne(0)  # (B, T)
        self.lengths = real.sum(dim=1)  # (B,)
        positions = torch.arange(self.tokens, device=attention_mask.device)
        # (count, length) runs of equal lengths, and the sequences in packed order; None: batch order, padded attention
        self.groups: list[tuple[int, int, int]] | None = None
        self.order: Tensor | None = None  # (B,) the sequence at each packed place
        if bool(real.eq(positions < self.lengths[:, None]).all()):  # each sequence's tokens come first
            self.order = torch.argsort(self.lengths, descending=True, stable=True)
            lengths, counts = torch.unique_consecutive(self.lengths[self.order], return_counts=True)
            self.groups, start = [], 0
            for length, count in zip(lengths.tolist(), counts.tolist()):
                self.groups.append((start, count, length))
                start += count * length
            place = real[self.order].reshape(-1).nonzero().squeeze(1)  # flat positions in the reordered batch
            self.index = self.order[place // self.tokens] * self.tokens + place % self.tokens  # (N,)
        else:
            self.index = real.reshape(-1).nonzero().squeeze(1)  # (N,) flat positions of real tokens, batch-major
        self.real = self.index.numel()  # N
        # Rows of a packed tensor: N, or ``row_count(N)`` >= N, the row count the GEMMs run at (see onednn.py), so
        # that no GEMM copies its input to pad it. Rows past N start at zero, are computed like any row (each row on
        # its own: they change no real token's values) and are never read back.
        self.rows = self.real if row_count is None else row_count(self.real)
        self._starts: tuple[Tensor, int, int] | None = None
        self._group_masks: tuple[Tensor, list[Tensor | None]] | None = None

    def sequence_starts(self) -> tuple[Tensor, int, int]:
        """((B + 1,) int32 offsets where each sequence's tokens start in the packed order, then N; the longest and
        the shortest sequence's length)."""
        if self._starts is None:
            lengths = self.lengths if self.order is None else self.lengths[self.order]  # (B,) in packed order
            offsets = torch.zeros(self.batch + 1, dtype=torch.int32, device=self.mask.device)
            offsets[1:] = lengths.cumsum(0)
            shortest, longest = torch.stack(lengths.aminmax()).tolist()
            self._starts = (offsets, longest, shortest)
        return self._starts

    def group_masks(self, attn_mask: Tensor | None) -> list[Tensor | None]:
        """``attn_mask`` (B or 1, H or 1, T or 1, T), cut to each group's sequences and their ``length`` first
        positions: None where that leaves a boolean mask with nothing masked (a padding mask always). Made once per
        mask, for all the layers."""
        assert self.groups is not None and self.order is not None
        if attn_mask is None:
            return [None] * len(self.groups)
        if self._group_masks is None or self._group_masks[0] is not attn_mask:
            masks: list[Tensor | None] = []
            place = 0
            for _, count, length in self.groups:
                rows = self.order[place:place + count]
                place += count
                mask = attn_mask if attn_mask.shape[0] == 1 else attn_mask.index_select(0, rows)
                mask = mask[..., :length, :length]  # a query dim of 1 stays 1
                masks.append(None if mask.dtype == torch.bool and bool(mask.all()) else mask)
            self._group_masks = (attn_mask, masks)
        return self._group_masks[1]

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
