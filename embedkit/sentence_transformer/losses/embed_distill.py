"""EmbedDistillLoss: match the student's embeddings to precomputed teacher embeddings.

References:
    - Kim et al., 2023, "EmbedDistill: A Geometric Knowledge Distillation for Information Retrieval",
      arXiv:2301.12005.
    - sentence-transformers ``sentence_transformer/losses/embed_distill.py`` (v6.2, added in 5.4).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns

VALID_DISTANCE_METRICS = ("mse", "l2", "cosine")


class EmbedDistillLoss(nn.Module):
    """Mean over input columns of a distance between student and teacher embeddings.

    ``"mse"``: mean squared error over all entries; ``"l2"``: mean Euclidean distance per row; ``"cosine"``: mean
    ``1 - cos``. With ``projection_dim`` a trainable ``nn.Linear(student_dim, projection_dim)`` maps the student
    into the teacher's space first (save it with :meth:`save_projection` to reuse it).

    Args:
        model: The student SentenceTransformer.
        distance_metric: ``"mse"``, ``"l2"`` or ``"cosine"`` (default).
        projection_dim: Teacher embedding size when it differs from the student's; None for no projection.

    Inputs:
        +---------------------------------+------------------------------------------------+
        | Texts                           | Labels                                         |
        +=================================+================================================+
        | sentence                        | teacher embedding (B, D_t)                     |
        +---------------------------------+------------------------------------------------+
        | sentence_1, ..., sentence_N     | (B, D_t) shared, or (B, N, D_t) one per column |
        +---------------------------------+------------------------------------------------+

    Example:
        >>> import torch
        >>> loss = EmbedDistillLoss(None, distance_metric="l2")
        >>> student = [torch.tensor([[3.0, 4.0]])]; teacher = [torch.zeros(1, 2)]
        >>> loss.compute_loss_from_embeddings(student, teacher).item()
        5.0
    """

    def __init__(self, model: nn.Module | None, distance_metric: Literal["mse", "l2", "cosine"] = "cosine",
                 projection_dim: int | None = None) -> None:
        super().__init__()
        if distance_metric not in VALID_DISTANCE_METRICS:
            raise ValueError(f"distance_metric must be one of 'mse', 'l2', 'cosine', but got '{distance_metric}'.")
        self.model = model
        self.distance_metric = distance_metric
        self.projection_dim = projection_dim
        self.projection: nn.Linear | None = None
        if projection_dim is not None:
            self.projection = nn.Linear(model.get_embedding_dimension(), projection_dim, device=model.device)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError(f"{type(self).__name__} requires pre-computed teacher embeddings as labels. Compute them "
                             "once with the teacher and add them to the dataset, e.g. with `dataset.map(...)`.")
        embeddings = embed_columns(self.model, sentence_features)
        labels = labels.detach()
        if labels.dim() == 2:  # (B, D_t): the same target for every column
            teacher = [labels for _ in embeddings]
        elif labels.dim() == 3:  # (B, N, D_t): one target per column
            if labels.size(1) != len(embeddings):
                raise ValueError(
                    f"Number of label columns ({labels.size(1)}) does not match number of input text columns "
                    f"({len(embeddings)}). Pass 3D labels of shape (batch_size, {len(embeddings)}, teacher_dim), or 2D "
                    "labels of shape (batch_size, teacher_dim) to use one label for every column."
                )
            teacher = [labels[:, i] for i in range(labels.size(1))]
        else:
            raise ValueError(f"Expected labels to be 2D (batch_size, teacher_dim) or 3D (batch_size, num_columns, "
                             f"teacher_dim); got {labels.dim()}D.")
        return self.compute_loss_from_embeddings(embeddings, teacher)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], teacher_embeddings: list[Tensor]) -> Tensor:
        """Args: student ``embeddings`` and ``teacher_embeddings``, one (B, D) / (B, D_t) pair per column."""
        losses = []
        for student, teacher in zip(embeddings, teacher_embeddings):
            teacher = teacher.to(device=student.device, dtype=student.dtype)
            if self.projection is not None:
                student = self.projection(student)  # (B, D_t)
            if self.distance_metric == "mse":
                losses.append(F.mse_loss(student, teacher))
            elif self.distance_metric == "l2":
                losses.append(torch.norm(student - teacher, dim=-1).mean())
            else:
                losses.append((1 - F.cosine_similarity(student, teacher, dim=-1)).mean())
        return torch.stack(losses).mean()

    def save_projection(self, path: str | os.PathLike) -> None:
        """Write the projection's ``weight``/``bias`` to a safetensors file."""
        from safetensors.torch import save_file

        if self.projection is None:
            raise ValueError("No projection layer to save. Construct EmbedDistillLoss with projection_dim=<int> to "
                             "learn a projection.")
        save_file({k: v.detach().contiguous().cpu() for k, v in self.projection.state_dict().items()}, str(path))

    def load_projection(self, path: str | os.PathLike) -> None:
        """Load a projection written by :meth:`save_projection` (creating the layer if there is none yet)."""
        from safetensors.torch import load_file

        state = load_file(str(path))
        out_features, in_features = state["weight"].shape
        if self.projection is None:
            student_dim = self.model.get_embedding_dimension()
            if in_features != student_dim:
                raise ValueError(f"Saved projection expects student embeddings of dim {in_features}, but the current "
                                 f"student model outputs {student_dim}-dim embeddings.")
            self.projection = nn.Linear(in_features, out_features, device=self.model.device)
            self.projection_dim = out_features
        elif (self.projection.in_features, self.projection.out_features) != (in_features, out_features):
            raise ValueError(f"Saved projection shape ({in_features} -> {out_features}) does not match the configured "
                             f"projection shape ({self.projection.in_features} -> {self.projection.out_features}).")
        self.projection.load_state_dict(state)

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": self.distance_metric, "projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        return """
@article{kim2023embeddistill,
    title={EmbedDistill: A Geometric Knowledge Distillation for Information Retrieval},
    author={Kim, Seungyeon and Rawat, Ankit Singh and Zaheer, Manzil and Jayasumana, Sadeep and Sadhanala, Veeranjaneyulu and Jitkrittum, Wittawat and Menon, Aditya Krishna and Fergus, Rob and Kumar, Sanjiv},
    year={2023},
    eprint={2301.12005},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""  # noqa: E501
