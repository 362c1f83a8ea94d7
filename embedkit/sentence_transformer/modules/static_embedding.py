"""StaticEmbedding: a sentence is the mean of learned per-token vectors (no attention, no positions).

The input module of "static" models (model2vec / ST's static-retrieval models): tokenize without special tokens,
padding or truncation, then ``nn.EmbeddingBag(mode="mean")`` over each text's token ids. Saved in the model root
as ``tokenizer.json`` + ``model.safetensors`` (``embedding.weight``); model2vec folders (``embeddings`` with an
optional vocabulary ``mapping`` and per-token ``weights``) load too.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.modality_types import InputTypeError
from embedkit.base.modules.input_module import InputModule
from embedkit.encoders.loading import read_state_dict
from embedkit.model_files import MAX_TOKENIZER_BYTES, read_model_text


def fold_model2vec_weights(embeddings: Tensor, mapping: Tensor | None = None, weights: Tensor | None = None
                           ) -> Tensor:
    """One row per token id: ``embeddings[mapping[id]] * weights[id]`` (the vector model2vec averages).

    Example:
        >>> fold_model2vec_weights(torch.eye(2), torch.tensor([1, 0, 1]), torch.tensor([1.0, 2.0, 3.0])).tolist()
        [[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]]
    """
    table = embeddings
    if mapping is not None:
        table = table[mapping.long()]  # (V, D)
    if weights is not None:
        dtype = torch.promote_types(table.dtype, torch.float32)
        table = (table.to(dtype) * weights.to(dtype)[:, None]).to(table.dtype)
    return table.contiguous()


class StaticEmbedding(InputModule):
    """Mean of token vectors: texts -> (B, D) with one ``EmbeddingBag`` lookup.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (fast tokenizer); padding is switched off.
        embedding_weights: (V, D) initial vectors, or None with ``embedding_dim`` for a random table.
        embedding_dim: size of a random table.

    Example:
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> tok = Tokenizer(models.WordLevel({"[UNK]": 0, "cat": 1, "dog": 2}, unk_token="[UNK]"))
        >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> static = StaticEmbedding(tok, embedding_weights=torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        >>> static(static.preprocess(["cat dog", "dog"]))["sentence_embedding"].tolist()
        [[0.5, 0.5], [0.0, 1.0]]
    """

    save_in_root = True
    config_keys: list[str] = []

    def __init__(self, tokenizer: Any, embedding_weights: np.ndarray | Tensor | None = None,
                 embedding_dim: int | None = None, **kwargs: Any) -> None:
        super().__init__()
        from tokenizers import Tokenizer as FastTokenizer

        fast = getattr(tokenizer, "_tokenizer", tokenizer)  # transformers' fast tokenizers wrap one
        if not isinstance(fast, FastTokenizer):
            raise ValueError(f"StaticEmbedding needs a fast tokenizers.Tokenizer, got {type(tokenizer).__name__}")
        if embedding_weights is not None:
            weights = torch.as_tensor(np.asarray(embedding_weights) if not isinstance(embedding_weights, Tensor)
                                      else embedding_weights)
            if weights.ndim != 2:
                raise ValueError(f"embedding_weights must be (vocab, dim), got shape {tuple(weights.shape)}")
            self.embedding = nn.EmbeddingBag.from_pretrained(weights, freeze=False, mode="mean")
        elif embedding_dim is not None:
            self.embedding = nn.EmbeddingBag(fast.get_vocab_size(), embedding_dim, mode="mean")
        else:
            raise ValueError("StaticEmbedding needs embedding_weights or embedding_dim")
        if fast.get_vocab_size() > self.embedding.num_embeddings:
            raise ValueError(f"the tokenizer has {fast.get_vocab_size()} tokens but the table only "
                             f"{self.embedding.num_embeddings} rows")
        self.num_embeddings = self.embedding.num_embeddings
        self.embedding_dim = self.embedding.embedding_dim
        fast.no_padding()
        fast.no_truncation()
        self.tokenizer = fast
        self.base_model = kwargs.get("base_model")

    @property
    def max_seq_length(self) -> float:
        return math.inf  # nothing is truncated

    @max_seq_length.setter
    def max_seq_length(self, value: Any) -> None:
        del value  # a bag of tokens has no length limit; kept settable so model-level setters do not fail

    def get_embedding_dimension(self) -> int:
        return self.embedding_dim

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Tensor]:
        """Token ids of all texts back to back (``input_ids``, flat) and where each text starts (``offsets``, (B,))."""
        texts = list(inputs)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise InputTypeError(f"input {bad} has type {type(texts[bad]).__name__}; StaticEmbedding embeds strings")
        if prompt:
            texts = [prompt + t for t in texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        lengths = [len(x) for x in ids]
        offsets = torch.tensor([0] + lengths[:-1], dtype=torch.long).cumsum(0) if ids else torch.zeros(0).long()
        flat = torch.tensor([i for x in ids for i in x], dtype=torch.long)
        return {"input_ids": flat, "offsets": offsets}

    tokenize = preprocess

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        emb = self.embedding(features["input_ids"], features["offsets"])  # (B, D); an empty text gives zeros
        return {**features, "sentence_embedding": emb}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_file

        output_path = Path(output_path)
        output_path.mkdir(parents=True, exist_ok=True)
        state = {"embedding.weight": self.embedding.weight.detach().contiguous().cpu()}
        if safe_serialization:
            save_file(state, str(output_path / "model.safetensors"), metadata={"format": "pt"})
        else:
            torch.save(state, output_path / "pytorch_model.bin")
        self.tokenizer.save(str(output_path / "tokenizer.json"))

    @classmethod
    def load(cls, path: str | os.PathLike, **hub_kwargs: Any) -> StaticEmbedding:
        """Read ST's layout (``embedding.weight``) or model2vec's (``embeddings`` [+ ``mapping``, ``weights``]).

        Raises:
            FileNotFoundError: no ``tokenizer.json`` in ``path``.
            ValueError: the weights file holds neither layout (the message lists its keys).
        """
        from tokenizers import Tokenizer as FastTokenizer

        path = Path(path)
        if not os.path.lexists(path / "tokenizer.json"):
            raise FileNotFoundError(f"{path}: StaticEmbedding needs tokenizer.json")
        state, source = read_state_dict(path)
        not_float = [f"{key}: {state[key].dtype}" for key in ("embedding.weight", "embeddings", "weights")
                     if key in state and not state[key].is_floating_point()]
        if not_float:  # integer vectors would embed as finite garbage
            raise ValueError(f"{source}: cannot load weights: non-float weights for float parameters {not_float}")
        if set(state) == {"embedding.weight"}:
            weights = state["embedding.weight"]
        elif "embeddings" in state and set(state) <= {"embeddings", "mapping", "weights"}:
            weights = fold_model2vec_weights(state["embeddings"], state.get("mapping"), state.get("weights"))
        else:
            raise ValueError(f"{source}: expected 'embedding.weight' (sentence-transformers) or 'embeddings' "
                             f"[+ 'mapping', 'weights'] (model2vec), found {sorted(state)}")
        tokenizer_text = read_model_text(path / "tokenizer.json", MAX_TOKENIZER_BYTES)
        return cls(FastTokenizer.from_str(tokenizer_text), embedding_weights=weights)

    @classmethod
    def from_model2vec(cls, model_id_or_path: str, **hub_kwargs: Any) -> StaticEmbedding:
        """A model2vec model (Hub id such as ``minishlab/potion-base-8M``, or a local folder).

        Example:
            >>> StaticEmbedding.from_model2vec("/no/such/folder")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            FileNotFoundError: no model folder at ...
        """
        from embedkit.hub import resolve_model_path

        folder = resolve_model_path(model_id_or_path, default_organization="minishlab", **hub_kwargs)
        module = cls.load(folder)
        module.base_model = str(model_id_or_path)
        return module

    @classmethod
    def from_distillation(cls, model_name: str, *args: Any, **kwargs: Any) -> StaticEmbedding:
        """Not available: distillation needs the ``model2vec`` package (and transformers), which embedkit avoids."""
        raise NotImplementedError(
            "StaticEmbedding.from_distillation needs model2vec + transformers; distill with model2vec "
            f"(`model2vec.distill.distill({model_name!r})`), save it, then use StaticEmbedding.from_model2vec(folder)")
