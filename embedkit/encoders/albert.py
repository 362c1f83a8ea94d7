"""ALBERT (Lan et al. 2020), written out for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/albert/modeling_albert.py`` (AlbertModel). The layers are BERT's post-LN layers
(tanh GELU, ``gelu_new``, by default); ALBERT differs from BERT in two ways:
- the embeddings are BERT's at width ``embedding_size`` (E), always projected to the layers' width D by a Linear
  (``encoder.embedding_hidden_mapping_in``, present even when E equals D);
- parameters are shared across depth: there are ``num_hidden_groups`` groups of ``inner_group_num`` layers each, and
  depth ``i`` (0 .. ``num_hidden_layers`` - 1) runs every layer of group ``int(i / (num_hidden_layers /
  num_hidden_groups))`` in turn. The released checkpoints have one group of one layer, run ``num_hidden_layers``
  times.

Each distinct layer is built and registered once (``groups[g].layers[j]``), so ``state_dict()``, strict loading,
saving, adapters, int8 quantization, ``optimize_for_inference()`` and activation checkpointing see it once; the
``layers`` attribute is the run order (the same module at several depths), which the forward and the inference
engine walk.

Legend: B batch, T tokens, E embedding width, D hidden size.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.electra import ElectraEmbeddings
from embedkit.encoders.layers import EncoderLayer, ParameterPlacement, Pooler
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

MAX_SHARING = 256  # num_hidden_groups and inner_group_num above this are refused (a corrupted config.json)


@dataclass
class AlbertConfig(EncoderConfig):
    """BERT's sizes with ALBERT's narrow embeddings and shared layers (defaults: transformers' ``AlbertConfig``).

    Example:
        >>> cfg = AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3,
        ...                    num_hidden_groups=2, inner_group_num=2, num_attention_heads=4, intermediate_size=64)
        >>> cfg.run_order()  # (group, layer in the group) at each depth, as transformers runs them
        [(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 1)]
    """

    model_type: str = "albert"
    vocab_size: int = 30000
    hidden_size: int = 4096
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    relative_attention_num_buckets: int = 0
    embedding_size: int | None = 128
    num_hidden_groups: int = 1
    """Groups of layers with their own parameters (each depth runs one group)."""
    inner_group_num: int = 1
    """Layers in each group, run in turn at every depth that runs the group."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embedding_size is None or self.embedding_size < 1:
            raise ValueError(f"config embedding_size={self.embedding_size!r} must be >= 1")
        for name in ("num_hidden_groups", "inner_group_num"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SHARING:
                raise ValueError(f"config {name}={value!r} is outside the supported range [1, {MAX_SHARING}]")

    def run_order(self) -> list[tuple[int, int]]:
        """(group, layer within the group) of every layer run, in order: ``num_hidden_layers * inner_group_num``
        entries, depth ``i`` running group ``int(i / (num_hidden_layers / num_hidden_groups))`` (transformers'
        expression, floats included)."""
        L, G = self.num_hidden_layers, self.num_hidden_groups
        return [(int(i / (L / G)), j) for i in range(L) for j in range(self.inner_group_num)]

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config: each distinct layer counted once.

        Example:
            >>> AlbertConfig(vocab_size=10, embedding_size=2, hidden_size=4, num_hidden_layers=12,
            ...              num_attention_heads=2, intermediate_size=8, max_position_embeddings=6).parameter_count()
            244
        """
        E, D, F_ = self.embedding_size, self.hidden_size, self.intermediate_size
        embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * E + 2 * E  # + LayerNorm
        project = E * D + D
        layer = 4 * (D * D + D) + (D * F_ + F_) + (F_ * D + D) + 2 * 2 * D  # q, k, v, o; up; down; two LayerNorms
        layers = self.num_hidden_groups * self.inner_group_num * layer
        return embeddings + project + layers + (D * D + D if add_pooler else 0)

    @classmethod
    def from_albert_config(cls, hf: dict[str, Any]) -> AlbertConfig:
        """Build from an ``albert`` config.json (transformers' AlbertConfig defaults for absent keys)."""
        position_type = hf.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(f"position_embedding_type={position_type!r} is not supported (only 'absolute')")
        return cls(
            vocab_size=hf["vocab_size"],
            embedding_size=hf.get("embedding_size", 128),
            hidden_size=hf.get("hidden_size", 4096),
            num_hidden_layers=hf.get("num_hidden_layers", 12),
            num_hidden_groups=hf.get("num_hidden_groups", 1),
            num_attention_heads=hf.get("num_attention_heads", 64),
            intermediate_size=hf.get("intermediate_size", 16384),
            inner_group_num=hf.get("inner_group_num", 1),
            hidden_act=hf.get("hidden_act", "gelu_new"),
            hidden_dropout_prob=hf.get("hidden_dropout_prob", 0.0),
            attention_probs_dropout_prob=hf.get("attention_probs_dropout_prob", 0.0),
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 2),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
            pad_token_id=hf.get("pad_token_id", 0),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict to save: the original keys, with the interpreted fields written over."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type="albert", vocab_size=self.vocab_size, embedding_size=self.embedding_size,
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_hidden_groups=self.num_hidden_groups, num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, inner_group_num=self.inner_group_num, hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings, type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps, pad_token_id=self.pad_token_id,
        )
        return out


class AlbertEmbeddings(ElectraEmbeddings):
    """ELECTRA's embeddings (BERT's at width E) whose projection to D is always there: (B, T) ids -> (B, T, D)."""

    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__(cfg)
        if self.project is None:  # E == D: ALBERT still has its mapping
            self.project = nn.Linear(cfg.embedding_size, cfg.hidden_size)


class AlbertLayerGroup(TransformersAttributes, nn.Module):
    """One group of ``inner_group_num`` layers with their own parameters (transformers' ``AlbertLayerGroup``)."""

    transformers_attributes = {"albert_layers": "layers"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.inner_group_num))


class AlbertPooler(TransformersAttributes, Pooler):
    """BERT's pooler, whose Linear transformers' ALBERT holds as ``pooler`` itself (``pooler.weight``)."""

    transformers_attributes = {"weight": "dense.weight", "bias": "dense.bias"}
    """transformers' names for these parameters (``transformers_attributes.py``)."""


class AlbertModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                  TransformersAttributes, nn.Module):
    """The ALBERT encoder: embeddings (width E) -> projection to D -> the shared post-LN layers in ALBERT's order
    (-> optional pooler for heads).

    Example:
        >>> import torch
        >>> from embedkit.encoders.albert import AlbertConfig, AlbertModel
        >>> cfg = AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3,
        ...                    num_attention_heads=4, intermediate_size=64)
        >>> enc = AlbertModel(cfg).eval()
        >>> out = enc(torch.tensor([[2, 5, 7, 3]]), torch.ones(1, 4, dtype=torch.long), output_hidden_states=True)
        >>> tuple(out.last_hidden_state.shape), len(out.hidden_states), len(enc.layers), len(enc.groups[0].layers)
        ((1, 4, 32), 4, 3, 1)
        >>> all(layer is enc.groups[0].layers[0] for layer in enc.layers)  # one layer, run three times
        True
    """

    transformers_attributes = {"embeddings": "embed",
                               "encoder": {"embedding_hidden_mapping_in": "embed.project",
                                           "albert_layer_groups": "groups"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: AlbertConfig, add_pooler: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.embed = AlbertEmbeddings(cfg)
        self.groups = nn.ModuleList(AlbertLayerGroup(cfg) for _ in range(cfg.num_hidden_groups))
        self.pooler = AlbertPooler(cfg) if add_pooler else None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "layers":  # nn.Module would register it as a second copy of the layers
            raise AttributeError("ALBERT's layers live in its groups (groups[g].layers[j]); `layers` is their run "
                                 "order")
        super().__setattr__(name, value)

    @property
    def layers(self) -> tuple[nn.Module, ...]:
        """The layers in the order they run (``config.run_order()``): a shared layer appears at each depth it runs.
        Read from ``groups`` on every access, so a layer replaced there is the one that runs."""
        return tuple(self.groups[g].layers[j] for g, j in self.config.run_order())

    def layer_lists(self) -> list[nn.ModuleList]:
        """The lists that hold the layers, each distinct layer once: each group's ``layers`` (a layer replaced there
        stays shared at every depth that runs it)."""
        return [group.layers for group in self.groups]

    # BERT's embedding call, padding mask and forward, walking ``layers`` (the run order): the hidden states are the
    # projected embeddings, then the output of every layer run, as transformers records each AlbertLayer's.
    embed_inputs = BertModel.embed_inputs
    attention_mask = BertModel.attention_mask
    forward = BertModel.forward
