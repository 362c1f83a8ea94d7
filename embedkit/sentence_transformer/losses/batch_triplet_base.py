"""Plumbing shared by the batch-mining triplet losses (``batch_all_triplet``, ``batch_hard_triplet``,
``batch_semi_hard_triplet``, ``batch_hard_soft_margin_triplet``): model and distance-metric storage, ``forward``,
the config dict and the citation. Each loss adds its own hyper-parameters and mining rule.

Reference: Hermans, Beyer & Leibe, 2017, "In Defense of the Triplet Loss for Person Re-Identification",
arXiv:1703.07737.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor, nn

CITATION = """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""


class BatchTripletLossBase(nn.Module):
    """Base of the losses over one column of single sentences with integer class labels.

    Subclasses implement :meth:`compute_loss_from_embeddings` and extend :meth:`get_config_dict` with their
    hyper-parameters.
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric

    @property
    def sentence_embedder(self) -> nn.Module | None:
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        reps = self.model(list(sentence_features)[0])["sentence_embedding"]
        return self.compute_loss_from_embeddings([reps], labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [(B, D)], ``labels`` (B,) class ids. Returns the scalar loss."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": getattr(self.distance_metric, "__name__", str(self.distance_metric))}

    @property
    def citation(self) -> str:
        return CITATION
