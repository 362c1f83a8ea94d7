"""SparseAutoEncoder: a dense sentence embedding (B, D) -> a k-sparse code (B, H) (CSR, Contrastive Sparse
Representation).

    z     = W (x - b_pre) + b_lat          pre-activation latents, (B, H); W is (H, D)
    z_k   = relu(topk_k(z))                the k largest latents of each row, the rest 0  -> sentence_embedding
    x_hat = W^T z_k + b_pre                tied decoder (the encoder weight, transposed)

In training (outside ``torch.inference_mode``) the module also writes what :class:`CSRReconstructionLoss` needs:
the reconstructions from the top-k and top-4k latents and an auxiliary top-``k_aux`` reconstruction from "dead"
latents (latents not active for more than ``dead_threshold`` training forwards, tracked in the
``stats_last_nonzero`` buffer) of the residual ``x - x_hat``.

References:
    - Wen et al., 2025, "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation",
      arXiv:2503.01776.
    - Gao et al., 2024, "Scaling and evaluating sparse autoencoders" (top-k SAE, AuxK loss), arXiv:2406.04093.
    - sentence-transformers ``sparse_encoder/modules/sparse_auto_encoder.py`` (v6.2), whose config keys and weight
      names this module reads and writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.base.modules.module import Module, read_json_file, write_json_file
from embedkit.encoders.loading import load_strict, read_state_dict

# sentence-transformers ties the decoder to the encoder through a submodule, so its checkpoints store the shared
# (H, D) weight once, under the decoder's name.
_SAVED_WEIGHT = "decoder.linear.weight"


class SparseAutoEncoder(Module):
    """Top-k sparse autoencoder on top of a pooled embedding.

    Args:
        input_dim: D, the size of the incoming ``sentence_embedding``.
        hidden_dim: H, the size of the sparse code (the output dimension).
        k: active latents per row (the default for ``max_active_dims``).
        k_aux: latents of the auxiliary (dead-latent) reconstruction; 0 disables it.
        normalize: layer-normalise the input before encoding (and undo it after decoding).
        dead_threshold: a latent counts as dead after this many training forwards without activation.

    Shapes: ``features["sentence_embedding"]`` (B, D) -> (B, H).

    Example:
        >>> sae = SparseAutoEncoder(input_dim=4, hidden_dim=8, k=2, k_aux=4)
        >>> with torch.inference_mode():
        ...     out = sae({"sentence_embedding": torch.randn(3, 4)})["sentence_embedding"]
        >>> tuple(out.shape), bool(((out != 0).sum(dim=1) <= 2).all())
        ((3, 8), True)
    """

    config_keys = ["input_dim", "hidden_dim", "k", "k_aux", "normalize", "dead_threshold"]
    forward_kwargs = {"max_active_dims"}

    def __init__(self, input_dim: int, hidden_dim: int = 512, k: int = 8, k_aux: int = 512, normalize: bool = False,
                 dead_threshold: int = 30) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.k = k
        self.k_aux = k_aux
        self.normalize = normalize
        self.dead_threshold = dead_threshold
        self.pre_bias = nn.Parameter(torch.zeros(input_dim))
        self.encoder = nn.Linear(input_dim, hidden_dim, bias=False)  # decoder = encoder.weight.T (tied)
        self.latent_bias = nn.Parameter(torch.zeros(hidden_dim))
        self.stats_last_nonzero: Tensor
        self.register_buffer("stats_last_nonzero", torch.zeros(hidden_dim, dtype=torch.long))

    # ------------------------------------------------------------------ the pieces
    def _prepare(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Optional layer norm of the input (unbiased std, eps added to the std as in the reference)."""
        if not self.normalize:
            return x, {}
        mu = x.mean(dim=-1, keepdim=True)
        x = x - mu
        std = x.std(dim=-1, keepdim=True)
        return x / (std + 1e-5), {"mu": mu, "std": std}

    def encode_pre_act(self, x: Tensor) -> Tensor:
        """(B, D) -> (B, H) latents before top-k."""
        return F.linear(x - self.pre_bias, self.encoder.weight, self.latent_bias)

    def _decode_linear(self, latents: Tensor) -> Tensor:
        return F.linear(latents, self.encoder.weight.t())  # (B, H) -> (B, D)

    def decode(self, latents: Tensor, info: dict[str, Tensor] | None = None) -> Tensor:
        """(B, H) latents -> (B, D) reconstruction in the input's scale."""
        out = self._decode_linear(latents) + self.pre_bias
        if self.normalize:
            out = out * info["std"] + info["mu"]
        return out

    def top_k(self, x: Tensor, k: int | None = None, compute_aux: bool = True) -> tuple[Tensor, Tensor | None]:
        """(relu of the k largest latents, relu of the k_aux largest dead latents or None), both (B, H)."""
        k = self.k if k is None else k
        top = torch.topk(x, k=k, dim=-1)
        latents_k = F.relu(torch.zeros_like(x).scatter(-1, top.indices, top.values))
        if self.training and torch.is_grad_enabled():  # dead-latent bookkeeping: reset the active ones, age all
            active = torch.zeros_like(self.stats_last_nonzero)
            active.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-5).to(active.dtype).reshape(-1))
            self.stats_last_nonzero *= 1 - active.clamp(max=1)
            self.stats_last_nonzero += 1
        latents_aux = None
        if self.k_aux and compute_aux:
            dead = x * (self.stats_last_nonzero > self.dead_threshold)
            aux = torch.topk(dead, k=self.k_aux)
            latents_aux = F.relu(torch.zeros_like(x).scatter(-1, aux.indices, aux.values))
        return latents_k, latents_aux

    # ------------------------------------------------------------------ forward
    def forward(self, features: dict[str, Any], max_active_dims: int | None = None) -> dict[str, Any]:
        k = max_active_dims if max_active_dims is not None else self.k
        x = features["sentence_embedding"]  # (B, D)
        x_prepared, info = self._prepare(x)
        latents_pre_act = self.encode_pre_act(x_prepared)  # (B, H)
        if torch.is_inference_mode_enabled():  # encode(): the sparse code only
            latents_k, _ = self.top_k(latents_pre_act, k, compute_aux=False)
            return {**features, "sentence_embedding": latents_k}
        latents_k, latents_aux = self.top_k(latents_pre_act, k)
        latents_4k, _ = self.top_k(latents_pre_act, 4 * k)
        recons_k = self.decode(latents_k, info)
        recons_4k = self.decode(latents_4k, info)
        recons_aux = self._decode_linear(latents_aux) + self.pre_bias if latents_aux is not None else None
        decoder_bias = self.pre_bias
        if self.normalize:
            decoder_bias = decoder_bias * info["std"]
            if recons_aux is not None:
                recons_aux = recons_aux * info["std"]
        return {
            **features,
            "sentence_embedding_backbone": x,
            "sentence_embedding_encoded": latents_pre_act,
            "sentence_embedding_encoded_4k": latents_4k,
            "auxiliary_embedding": latents_aux,
            "decoded_embedding_k": recons_k,
            "decoded_embedding_4k": recons_4k,
            "decoded_embedding_aux": recons_aux,
            "decoded_embedding_k_pre_bias": recons_k - decoder_bias,
            "sentence_embedding": latents_k,
        }

    def get_embedding_dimension(self) -> int:
        return self.hidden_dim

    def __repr__(self) -> str:
        return f"SparseAutoEncoder({self.get_config_dict()})"

    # ------------------------------------------------------------------ folder I/O (sentence-transformers layout)
    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_file

        write_json_file(Path(output_path) / self.config_file_name, self.get_config_dict())
        state = {_SAVED_WEIGHT if k == "encoder.weight" else k: v.detach().contiguous().cpu()
                 for k, v in self.state_dict().items()}
        # The metadata entry is how safetensors' load_model (used by sentence-transformers) finds the tied alias.
        save_file(state, str(Path(output_path) / "model.safetensors"),
                  metadata={"format": "pt", "encoder.weight": _SAVED_WEIGHT})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseAutoEncoder:
        config = read_json_file(Path(path) / cls.config_file_name)
        unknown = set(config) - set(cls.config_keys)
        if unknown:
            raise ValueError(f"{Path(path) / cls.config_file_name}: unknown SparseAutoEncoder config keys "
                             f"{sorted(unknown)}; valid: {cls.config_keys}")
        module = cls(**config)
        state, source = read_state_dict(path)
        if _SAVED_WEIGHT in state:
            if "encoder.weight" in state and not torch.equal(state["encoder.weight"], state[_SAVED_WEIGHT]):
                raise ValueError(f"{source}: 'encoder.weight' and {_SAVED_WEIGHT!r} differ, but they are tied")
            state["encoder.weight"] = state.pop(_SAVED_WEIGHT)
        load_strict(module, state, str(source))
        return module
