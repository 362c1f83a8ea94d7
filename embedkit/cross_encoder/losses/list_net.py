"""ListNetLoss: cross-entropy between the softmax of the labels and the softmax of the scores, per query.

References:
    - Cao et al., 2007, "Learning to Rank: From Pairwise Approach to Listwise Approach", ICML.
    - sentence-transformers ``cross_encoder/losses/list_net.py`` (v6.2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_lists
from embedkit.cross_encoder.model import CrossEncoder


def list_net_loss(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Mean over queries of ``-sum_j softmax(labels)_j * log_softmax(logits)_j``, padded cells excluded.

    Shapes: ``logits``, ``labels``, ``mask`` (B, N).
    """
    lowest = torch.finfo(logits.dtype).min
    log_probs = torch.log_softmax(logits.masked_fill(~mask, lowest), dim=1)  # (B, N)
    targets = torch.softmax(labels.masked_fill(~mask, float("-inf")), dim=1)  # (B, N), 0 on padding
    return -(targets * log_probs).masked_fill(~mask, 0.0).sum(dim=1).mean()


class ListNetLoss(nn.Module):
    """ListNet (top-one probability) loss for a one-label CrossEncoder over ranked lists of any lengths.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        activation_fn: applied to the logits first (default Identity).
        mini_batch_size: pairs scored per forward pass (default: as many as there are queries); the loss is the
            same for every value.

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Example:
        >>> import torch
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = ListNetLoss(model)
        >>> inputs = [["q1", "q2"], [["d1", "d2", "d3"], ["e1", "e2"]]]
        >>> loss(inputs, [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0])]).backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module | None = nn.Identity(),
                 mini_batch_size: int | None = None) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size

    def forward(self, inputs: list[Any], labels: list[Tensor] | Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits, label_matrix, mask = score_lists(self.model, inputs, labels, self.mini_batch_size,
                                                 self.activation_fn, type(self).__name__, prompt=prompt, task=task)
        return list_net_loss(logits, label_matrix, mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": fullname(self.activation_fn), "mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        return """
@inproceedings{cao2007learning,
    title={Learning to Rank: From Pairwise Approach to Listwise Approach},
    author={Cao, Zhe and Qin, Tao and Liu, Tie-Yan and Tsai, Ming-Feng and Li, Hang},
    booktitle={Proceedings of the 24th international conference on Machine learning},
    pages={129--136},
    year={2007}
}
"""
