"""The token embedding table of an encoder, as transformers exposes it: get / set it, and resize it after tokens
were added to the tokenizer (``resize_token_embeddings``).

Growing the table keeps every existing row and initializes the new ones (Hewitt 2021, "Initializing new word
embeddings for pretrained language models", as transformers does by default): drawn from a normal distribution with
the old rows' mean and 1e-9 times their covariance, so a new token starts near the average token; the old rows'
mean when that covariance is not positive definite. ``mean_resizing=False`` draws them from N(0, 0.02^2) instead
(``initializer_range``). Shrinking drops the last rows. The table's ``Parameter`` is resized in place, so an
optimizer or an adapter that holds it keeps holding it, and ``config.vocab_size`` follows (it is saved).

Example:
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
    ...                               intermediate_size=32))
    >>> enc.resize_token_embeddings(53).num_embeddings, enc.config.vocab_size
    (53, 53)
    >>> enc.resize_token_embeddings(53, pad_to_multiple_of=8).num_embeddings
    56
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


class TokenEmbeddings:
    """``get_input_embeddings`` / ``set_input_embeddings`` / ``resize_token_embeddings`` for an encoder whose table
    lives at ``input_embeddings_path`` (mixed into the encoder classes)."""

    input_embeddings_path = "embed.tok"

    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding table (an ``nn.Embedding``)."""
        return self.get_submodule(self.input_embeddings_path)  # type: ignore[attr-defined]

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        """Replace the token embedding table (``config.vocab_size`` follows its size)."""
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"the input embeddings must be an nn.Embedding, got {type(value).__name__}")
        parent, _, name = self.input_embeddings_path.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, name, value)  # type: ignore[attr-defined]
        self.config.vocab_size = value.num_embeddings  # type: ignore[attr-defined]

    def get_output_embeddings(self) -> None:
        """None: an encoder has no language-model head (its masked-LM or causal-LM wrapper holds it)."""
        return None

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the token embedding table to ``new_num_tokens`` rows (rounded up to a multiple of
        ``pad_to_multiple_of`` when given) and return it; with neither argument it is returned unchanged."""
        table = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return table
        size = resized_vocabulary(table.num_embeddings, new_num_tokens, pad_to_multiple_of)
        resize_rows(table.weight, size, mean_resizing, getattr(self.config, "initializer_range", 0.02))
        table.num_embeddings = size
        if table.padding_idx is not None and table.padding_idx >= size:
            table.padding_idx = None
        self.config.vocab_size = size  # type: ignore[attr-defined]
        return table


def resized_vocabulary(current: int, new_num_tokens: int | None, pad_to_multiple_of: int | None) -> int:
    """The table size ``resize_token_embeddings(new_num_tokens, pad_to_multiple_of)`` asks for."""
    size = current if new_num_tokens is None else new_num_tokens
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
    if pad_to_multiple_of is not None:
        if not isinstance(pad_to_multiple_of, int) or isinstance(pad_to_multiple_of, bool) or pad_to_multiple_of < 1:
            raise ValueError(f"Asking to pad the embedding matrix to a multiple of `{pad_to_multiple_of}`, which is "
                             "not and integer. Please make sure to pass an integer")
        size = -(-size // pad_to_multiple_of) * pad_to_multiple_of
    return size


def resize_rows(weight: nn.Parameter, size: int, mean_resizing: bool, initializer_range: float = 0.02) -> None:
    """Give ``weight`` (V, D) ``size`` rows in place: keep the first ones, initialize added ones (module docstring)."""
    old = weight.data
    if size == old.shape[0]:
        return
    if size < old.shape[0]:
        weight.data = old[:size].clone()
        return
    added = size - old.shape[0]
    new_rows = (_mean_rows(old, added) if mean_resizing else
                torch.empty(added, old.shape[1], dtype=old.dtype, device=old.device).normal_(0.0, initializer_range))
    weight.data = torch.cat([old, new_rows.to(old.dtype)])
    if weight.grad is not None:  # a gradient of the old shape cannot be added to
        weight.grad = None


def _mean_rows(old: Tensor, count: int) -> Tensor:
    """``count`` rows drawn from N(mean of ``old``'s rows, 1e-9 * their covariance), or the mean itself."""
    rows = old.float()
    mean = rows.mean(0)  # (D,)
    centered = rows - mean
    covariance = 1e-9 * (centered.T @ centered) / rows.shape[0]  # (D, D)
    lower, info = torch.linalg.cholesky_ex(covariance)
    if int(info) != 0:
        logger.warning("The new embeddings are the mean of the old ones: their covariance is not positive definite.")
        return mean.expand(count, -1).clone()
    return mean + torch.randn(count, rows.shape[1], device=rows.device) @ lower.T  # (count, D)
