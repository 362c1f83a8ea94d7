"""Packing: the token-wise layers of a padded batch run on its real tokens only."""

from __future__ import annotations

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
    """

    def __init__(self, attention_mask: Tensor) -> None:
        self.batch, self.tokens = attention_mask.shape
        self.mask = attention_mask  # (B, T), 1 = real token
        self.index = attention_mask.reshape(-1).nonzero().squeeze(1)  # (N,) flat positions of real tokens
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
        """(B, T, D) -> (N, D)."""
        return x.reshape(self.batch * self.tokens, x.shape[-1]).index_select(0, self.index)

    def pad(self, x: Tensor) -> Tensor:
        """(N, D) -> (B * T, D) with zeros at padding positions."""
        return x.new_zeros(self.batch * self.tokens, x.shape[-1]).index_copy(0, self.index, x)
