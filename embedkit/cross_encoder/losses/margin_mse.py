"""MarginMSELoss for CrossEncoders: regress ``s(q, p) - s(q, n_k)`` onto a teacher's margins.

References:
    - Hofstätter et al., 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
      Distillation", arXiv:2010.02666.
    - sentence-transformers ``cross_encoder/losses/margin_mse.py`` (v6.2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_pairs
from embedkit.cross_encoder.model import CrossEncoder


class MarginMSELoss(nn.Module):
    """``MSE(a(s(q, p)) - a(s(q, n_k)), label_k)`` over the K negative columns, ``a`` the activation.

    Labels are the teacher margins, (B,) for one negative or (B, K); or the teacher's raw scores (B, K + 1) with the
    positive first, turned into margins ``t_p - t_{n_k}``. A list of per-row tensors is stacked first.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        activation_fn: applied to each logit before the margins are taken (default Identity).
        **kwargs: passed to :class:`torch.nn.MSELoss`.

    Inputs:
        +--------------------------------------------------+----------------------------------------------+
        | Texts                                            | Labels                                       |
        +==================================================+==============================================+
        | (query, positive, negative)                      | teacher margin (B,)                          |
        +--------------------------------------------------+----------------------------------------------+
        | (query, positive, negative_1, ..., negative_K)   | margins (B, K) or raw scores (B, K + 1)      |
        +--------------------------------------------------+----------------------------------------------+

    Example:
        >>> import torch
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = MarginMSELoss(model)
        >>> loss([["q1", "q2"], ["good 1", "good 2"], ["bad 1", "bad 2"]], torch.tensor([3.0, 2.0])).backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = nn.Identity(), **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(self, inputs: list[list[str]], labels: Tensor | list[Tensor], prompt: str | None = None,
                task: str | None = None) -> Tensor:
        if len(inputs) < 3:
            raise ValueError(f"MarginMSELoss expects (query, positive, negative_1, ...) columns, got {len(inputs)}")
        anchors, candidates = inputs[0], inputs[1:]
        batch_size, n_neg = len(anchors), len(candidates) - 1
        if isinstance(labels, (list, tuple)):
            labels = torch.stack(list(labels))
        if labels.shape == (batch_size, n_neg + 1):  # raw teacher scores -> margins
            labels = labels[:, :1] - labels[:, 1:]
        if labels.shape == (batch_size,):
            labels = labels.unsqueeze(1)
        if labels.shape != (batch_size, n_neg):
            raise ValueError(f"Labels shape {tuple(labels.shape)} does not match expected shape "
                             f"{(batch_size, n_neg)}. Labels must be the teacher margins (length num_negatives) "
                             f"or the positive and negative scores (length num_negatives + 1).")
        pairs = [(anchor, doc) for column in candidates for anchor, doc in zip(anchors, column)]
        logits = score_pairs(self.model, pairs, prompt, task).view(n_neg + 1, batch_size).T  # (B, 1 + K)
        logits = self.activation_fn(logits)
        margins = logits[:, :1] - logits[:, 1:]  # (B, K)
        return self.loss_fct(margins, labels.detach().to(margins.device).float())

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": fullname(self.activation_fn)}

    @property
    def citation(self) -> str:
        return """
@misc{hofstätter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""
