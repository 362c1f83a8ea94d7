"""LogitScore: a causal language model's logits at the last position -> a relevance score (CrossEncoders on an LM)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from embedkit.base.modules.module import Module


class LogitScore(Module):
    """``scores`` (B, 1) from ``causal_logits`` (B, K, V) at the last position: the logit of ``true_token_id``, or,
    with ``false_token_id``, the log-odds ``logit[true] - logit[false]`` (e.g. "yes" against "no").

    Its input comes from :class:`~embedkit.base.modules.causal_lm_transformer.CausalLMTransformer`, which pads on the
    left so that the last position is a real token in every row.

    Args:
        true_token_id: vocabulary id of the token meaning "relevant".
        false_token_id: vocabulary id of the token meaning "not relevant"; None scores the true token's logit alone.
        module_input_name: the feature holding the logits.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[[0.0, 2.0, 5.0]], [[1.0, 4.0, 0.5]]])  # (B=2, K=1, V=3)
        >>> LogitScore(true_token_id=2, false_token_id=1)({"causal_logits": logits})["scores"]
        tensor([[ 3.0000],
                [-3.5000]])
    """

    config_keys = ["true_token_id", "false_token_id", "module_input_name"]

    def __init__(self, true_token_id: int, false_token_id: int | None = None,
                 module_input_name: str = "causal_logits") -> None:
        super().__init__()
        self.true_token_id = true_token_id
        self.false_token_id = false_token_id
        self.module_input_name = module_input_name

    def forward(self, features: dict[str, Tensor], **kwargs: Any) -> dict[str, Tensor]:
        logits = features[self.module_input_name][:, -1]  # (B, V)
        scores = logits[:, self.true_token_id]
        if self.false_token_id is not None:
            scores = scores - logits[:, self.false_token_id]
        return {**features, "scores": scores.unsqueeze(1)}  # (B, 1)
