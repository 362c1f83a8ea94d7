"""CSRLoss: Contrastive Sparse Representation = autoencoder reconstruction + a contrastive loss on the sparse code.

For every input column the SparseAutoEncoder writes its reconstructions of the backbone embedding x (B, D):

    L_k   = MSE(x, x_hat_k)                     top-k reconstruction
    L_4k  = MSE(x, x_hat_4k)                    top-4k reconstruction (weighted 1/8)
    L_aux = NMSE(x_hat_aux, x - x_hat_k_pre)    dead latents reconstruct the residual (AuxK, weighted beta)

averaged over columns, plus ``gamma *`` the base loss (SparseMultipleNegativesRankingLoss by default) on the sparse
codes. Returned as a dict so the trainer logs each part.

References:
    - Wen et al., 2025, "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation",
      arXiv:2503.01776.
    - Gao et al., 2024, "Scaling and evaluating sparse autoencoders", arXiv:2406.04093 (AuxK).
    - sentence-transformers ``sparse_encoder/losses/csr.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sparse_encoder.losses.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss

_CITATION = """
@misc{wen2025matryoshkarevisitingsparsecoding,
      title={Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation},
      author={Tiansheng Wen and Yifei Wang and Zequn Zeng and Zhong Peng and Yudi Su and Xinyang Liu and Bo Chen and Hongwei Liu and Stefanie Jegelka and Chenyu You},
      year={2025},
      eprint={2503.01776},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/2503.01776},
}
"""  # noqa: E501


def normalized_mean_squared_error(reconstruction: Tensor, original_input: Tensor) -> Tensor:
    """``MSE(reconstruction, x) / MSE(mean_row(x), x)``; the denominator is 1 when x has no spread.

    Shapes: both (B, D) -> scalar.
    """
    baseline = F.mse_loss(original_input.mean(dim=0)[None, :].broadcast_to(original_input.shape), original_input)
    degenerate = (baseline == 0) | (original_input == original_input[:1]).all()
    baseline = torch.where(degenerate, 1.0, baseline)
    return F.mse_loss(reconstruction, original_input) / baseline


class CSRReconstructionLoss(nn.Module):
    """The SparseAutoEncoder reconstruction terms of CSR; used inside :class:`CSRLoss`.

    Args:
        model: the SparseEncoder (its last module is a SparseAutoEncoder).
        beta: weight of the auxiliary (dead-latent) term.

    Example:
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> out = {"sentence_embedding_backbone": x, "decoded_embedding_k": x, "decoded_embedding_4k": x,
        ...        "decoded_embedding_aux": None, "decoded_embedding_k_pre_bias": x}
        >>> CSRReconstructionLoss(None).compute_loss_from_embeddings([out])["reconstruction_loss_k"].item()
        0.0
    """

    def __init__(self, model: nn.Module | None, beta: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.beta = beta

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError(
            "CSRReconstructionLoss is not intended to be used standalone. Use it within CSRLoss instead."
        )

    def compute_loss_from_embeddings(self, outputs: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The three terms, averaged over the columns' SparseAutoEncoder outputs."""
        total_k, total_4k, total_aux = 0.0, 0.0, 0.0
        for features in outputs:
            x = features["sentence_embedding_backbone"]  # (B, D)
            loss_k = F.mse_loss(x, features["decoded_embedding_k"])
            total_k = total_k + loss_k
            total_4k = total_4k + F.mse_loss(x, features["decoded_embedding_4k"])
            recons_aux = features["decoded_embedding_aux"]
            if recons_aux is not None:
                residual = x - features["decoded_embedding_k_pre_bias"].detach()
                total_aux = total_aux + normalized_mean_squared_error(recons_aux, residual)
            else:
                total_aux = total_aux + torch.zeros_like(loss_k)
        n = len(outputs)
        if n > 0:
            total_k, total_4k, total_aux = total_k / n, total_4k / n, total_aux / n
        return {"reconstruction_loss_k": total_k, "reconstruction_loss_4k": total_4k / 8.0,
                "reconstruction_loss_aux": self.beta * total_aux}

    def get_config_dict(self) -> dict[str, Any]:
        return {"beta": self.beta}


class CSRLoss(nn.Module):
    """CSR training loss: reconstruction terms plus ``gamma`` times a contrastive loss on the sparse codes.

    Args:
        model: a SparseEncoder ending in a SparseAutoEncoder (e.g. Transformer + Pooling + SparseAutoEncoder).
        loss: the base loss on the sparse embeddings (default :class:`SparseMultipleNegativesRankingLoss`).
        beta: weight of the auxiliary reconstruction term.
        gamma: weight of the base loss.

    Inputs:
        Those of ``loss`` (default: (anchor, positive[, negatives...]) without labels).

    Example:
        >>> from embedkit.sparse_encoder import SparseEncoder
        >>> from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit import SentenceTransformer
        >>> dense = SentenceTransformer(default_model_path(), device="cpu")
        >>> model = SparseEncoder(modules=[*dense, SparseAutoEncoder(384, 1536, k=16, k_aux=32)], device="cpu")
        >>> out = CSRLoss(model)([model.preprocess(["a cat", "rain"]), model.preprocess(["kitten", "storm"])])
        >>> sorted(out)
        ['base_loss', 'reconstruction_loss_4k', 'reconstruction_loss_aux', 'reconstruction_loss_k']
    """

    def __init__(self, model: nn.Module, loss: nn.Module | None = None, beta: float = 0.1, gamma: float = 1.0
                 ) -> None:
        super().__init__()
        self.model = model
        self.beta = beta
        self.gamma = gamma
        self.reconstruction_loss = CSRReconstructionLoss(model, beta=beta)
        self.loss = loss if loss is not None else SparseMultipleNegativesRankingLoss(model)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                ) -> dict[str, Tensor]:
        outputs = [self.model(features) for features in sentence_features]
        losses = self.reconstruction_loss.compute_loss_from_embeddings(outputs)
        base = self.loss.compute_loss_from_embeddings([out["sentence_embedding"] for out in outputs], labels)
        if isinstance(base, dict):
            losses.update({key: value * self.gamma for key, value in base.items()})
        else:
            losses["base_loss"] = base * self.gamma
        return losses

    def get_config_dict(self) -> dict[str, Any]:
        return {"beta": self.beta, "gamma": self.gamma, "loss": type(self.loss).__name__}

    @property
    def citation(self) -> str:
        return _CITATION
