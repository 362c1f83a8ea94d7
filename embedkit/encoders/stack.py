"""The encoder's layer stack: packing, the small-call fast path, and HF-style hidden states.

Example:
    >>> import torch
    >>> from embedkit.encoders import EncoderConfig, MPNetModel
    >>> enc = MPNetModel(EncoderConfig(model_type="mpnet", vocab_size=50, hidden_size=16, num_hidden_layers=1,
    ...                                num_attention_heads=2, intermediate_size=32)).eval()
    >>> mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # (B, T), 0 = padding
    >>> out = run_layers(enc.layers, torch.randn(2, 3, 16), mask[:, None, None, :].bool(), True, mask)
    >>> len(out.hidden_states), tuple(out.last_hidden_state.shape), out.last_hidden_state[1, 2].abs().max().item()
    (2, (2, 3, 16), 0.0)
"""

from __future__ import annotations

from torch import Tensor, nn

from embedkit.encoders.layers import EncoderOutput
from embedkit.encoders.packing import Packing
from embedkit.encoders.small_batch import run_layer, stack_weights


def run_layers(
    layers: nn.ModuleList, x: Tensor, attn_mask: Tensor | None, output_hidden_states: bool,
    attention_mask: Tensor | None = None,
) -> EncoderOutput:
    """Apply ``layers`` in order, optionally collecting every intermediate output as HF does.

    With a padded ``attention_mask`` (B, T), the layers run on the real tokens only (see :class:`Packing`); the
    outputs come back as (B, T, D) with zeros at padding positions. Small inference calls run the same arithmetic
    through :mod:`.small_batch`.
    """
    packing = None
    if attention_mask is not None and not bool(attention_mask.all()):
        packing = Packing(attention_mask)
        x = packing.unpad(x)  # (N, D)

    def full(h: Tensor) -> Tensor:
        return h if packing is None else packing.pad(h).view(packing.batch, packing.tokens, -1)  # (B, T, D)

    hidden_states = [full(x)] if output_hidden_states else None
    small = stack_weights(layers, x)
    for i, layer in enumerate(layers):
        x = layer(x, attn_mask, packing) if small is None else run_layer(small[i], x, attn_mask, packing)
        if hidden_states is not None:
            hidden_states.append(full(x))
    out = hidden_states[-1] if hidden_states is not None else full(x)
    return EncoderOutput(out, tuple(hidden_states) if hidden_states is not None else None)
