"""AnglELoss: CoSENT on the angle-optimised (complex-space) similarity.

References:
    - Li & Li, 2024, "AoE: Angle-optimized Embeddings for Semantic Textual Similarity", ACL 2024,
      doi:10.18653/v1/2024.acl-long.101 (arXiv:2309.12871).
    - sentence-transformers ``sentence_transformer/losses/angle.py`` (v6.2), including the unlabeled
      (anchor, positive, negative...) form added in 5.3.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row
from embedkit.sentence_transformer.losses.cosent import CoSENTLoss
from embedkit.util import pairwise_angle_sim


class AnglELoss(CoSENTLoss):
    """``CoSENTLoss(similarity_fct=pairwise_angle_sim)``; also accepts (anchor, positive, negatives...) rows.

    With more than two columns, every (anchor, column_k) pair becomes a scored pair: label 1 for the positive
    column (or the given label) and ``1 - label`` for the negatives, so the positive must outrank each negative.

    Args:
        model: The SentenceTransformer to train.
        scale: Inverse temperature on the similarities.

    Inputs:
        +-------------------------------------------------+------------------------+
        | Texts                                           | Labels                 |
        +=================================================+========================+
        | (sentence_A, sentence_B) pairs                  | float similarity score |
        +-------------------------------------------------+------------------------+
        | (anchor, positive, negative_1, ..., negative_n) | none (or 1 per row)    |
        +-------------------------------------------------+------------------------+

    Example:
        >>> import torch
        >>> loss = AnglELoss(None)
        >>> a = torch.tensor([[1.0, 0.0, 0.0, 0.0]]); p = a.clone(); n = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([a, p, n], None).item() < 1e-6
        True
    """

    def __init__(self, model: nn.Module | None, scale: float = 20.0) -> None:
        super().__init__(model, scale, similarity_fct=pairwise_angle_sim)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        if len(embeddings) > 2:
            anchors = embeddings[0]  # (B, D)
            n_other = len(embeddings) - 1
            pairs = [anchors.repeat(n_other, 1), torch.cat(embeddings[1:], dim=0)]  # 2 x (n_other*B, D)
            if labels is None:
                labels = torch.ones(anchors.size(0), device=anchors.device)
            labels = check_one_label_per_row(self, anchors.shape[0], labels)
            pair_labels = torch.cat([labels, (1 - labels).repeat(n_other - 1)], dim=0)
            return super().compute_loss_from_embeddings(pairs, pair_labels)
        if labels is None:
            raise ValueError("AnglELoss needs labels for (sentence_A, sentence_B) pairs; got labels=None")
        return super().compute_loss_from_embeddings(embeddings, labels)

    @property
    def citation(self) -> str:
        return """
@inproceedings{li-li-2024-aoe,
    title = "{A}o{E}: Angle-optimized Embeddings for Semantic Textual Similarity",
    author = "Li, Xianming and Li, Jing",
    year = "2024",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.acl-long.101/",
    doi = "10.18653/v1/2024.acl-long.101"
}
"""
