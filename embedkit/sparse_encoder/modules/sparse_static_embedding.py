"""SparseStaticEmbedding: a bag of tokens weighted per vocabulary entry (e.g. IDF), the inference-free query encoder.

    e_j = w_j   if token j occurs in the text (padding excluded), else 0

Texts are tokenized without special tokens, truncated at ``max_seq_length``. If an earlier module already wrote a
``sentence_embedding``, the result is multiplied with it element-wise (sentence-transformers' behaviour).

Folder (as sentence-transformers writes it, in the model root when it is the first module): ``config.json``
``{"frozen": bool}``, ``model.safetensors`` with one tensor ``weight`` (V,), and the tokenizer files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import read_json_file
from embedkit.base.modules.transformer import check_text_inputs
from embedkit.encoders.loading import load_strict, read_state_dict
from embedkit.model_files import MAX_TOKENIZER_BYTES, read_model_text
from embedkit.tokenizer import Tokenizer


class SparseStaticEmbedding(InputModule):
    """Token presence x static weight -> ``sentence_embedding`` (B, V).

    Args:
        tokenizer: an embedkit :class:`~embedkit.tokenizer.Tokenizer` (or a folder holding one).
        weight: (V,) weight per vocabulary id; None gives ones.
        frozen: keep the weights out of training (``requires_grad=False``).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> folder = default_model_path()  # any folder with a tokenizer.json: all-MiniLM-L6-v2's (30522 tokens)
        >>> idf = SparseStaticEmbedding(folder, weight=torch.full((30522,), 2.0), frozen=True)
        >>> emb = idf(idf.preprocess(["the art of the game"]))["sentence_embedding"]
        >>> emb.shape, float(emb.sum())  # 4 distinct tokens ("the" counts once) x 2.0
        (torch.Size([1, 30522]), 8.0)
    """

    config_keys = ["frozen"]
    save_in_root = True

    def __init__(self, tokenizer: Tokenizer | str | os.PathLike, weight: Tensor | None = None,
                 frozen: bool = False) -> None:
        super().__init__()
        self.tokenizer = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)
        if weight is None:
            weight = torch.ones(self.tokenizer.vocab_size)
        if weight.ndim != 1:
            raise ValueError(f"weight must be 1-D (one value per vocabulary id), got shape {tuple(weight.shape)}")
        self.weight = nn.Parameter(weight.detach().clone().float(), requires_grad=not frozen)
        self.frozen = frozen

    @classmethod
    def from_json(cls, json_path: str | os.PathLike, tokenizer: Tokenizer | str | os.PathLike,
                  frozen: bool = False) -> SparseStaticEmbedding:
        """Build from an ``idf.json`` file mapping token -> weight (tokens missing from the vocabulary raise)."""
        tokenizer = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)
        idf = json.loads(read_model_text(json_path, MAX_TOKENIZER_BYTES))  # a regular file of bounded size
        weight = torch.zeros(tokenizer.vocab_size)
        for token, value in idf.items():
            token_id = tokenizer.backend.token_to_id(token)
            if token_id is None:
                raise ValueError(f"{json_path}: token {token!r} is not in the tokenizer's vocabulary")
            weight[token_id] = float(value)
        return cls(tokenizer, weight=weight, frozen=frozen)

    @property
    def max_seq_length(self) -> int:
        return self.tokenizer.model_max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.tokenizer.model_max_length = int(value)

    def get_embedding_dimension(self) -> int:
        return self.weight.shape[0]

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Tensor]:
        """Tokenize without special tokens, pad to the longest text, truncate at ``max_seq_length``.

        A single string is one text (a batch of one), as a Hugging Face tokenizer treats it."""
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        check_text_inputs(inputs)
        if prompt:
            inputs = [prompt + x for x in inputs]
        backend = self.tokenizer.backend
        self.tokenizer._set_truncation(self.max_seq_length)
        backend.enable_padding(pad_id=self.tokenizer.pad_token_id, pad_token=self.tokenizer.pad_token)
        encodings = backend.encode_batch(inputs, add_special_tokens=False)
        if not encodings:
            empty = torch.zeros(0, 0, dtype=torch.long)
            return {"input_ids": empty, "attention_mask": empty.clone()}
        return {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),  # (B, T)
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),  # (B, T)
        }

    tokenize = preprocess

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        input_ids, attention_mask = features["input_ids"], features["attention_mask"]  # (B, T)
        presence = torch.zeros(input_ids.shape[0], self.weight.shape[0], dtype=torch.long, device=input_ids.device)
        presence.scatter_(1, input_ids, attention_mask.long())  # (B, V): 1 where a real token occurs
        embedding = presence * self.weight  # (B, V)
        if features.get("sentence_embedding") is not None:
            embedding = embedding * features["sentence_embedding"]
        return {**features, "sentence_embedding": embedding}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        output_path = Path(output_path)
        output_path.mkdir(parents=True, exist_ok=True)
        super().save(output_path, safe_serialization=safe_serialization)
        self.tokenizer.save(output_path, model_max_length=self.max_seq_length)

    @classmethod
    def load(cls, path: str | os.PathLike, **hub_kwargs: Any) -> SparseStaticEmbedding:
        path = Path(path)
        config = read_json_file(path / cls.config_file_name) if (path / cls.config_file_name).is_file() else {}
        unknown = set(config) - {"frozen", "path"}
        if unknown:
            raise ValueError(f"{path / cls.config_file_name}: unknown SparseStaticEmbedding config keys "
                             f"{sorted(unknown)}")
        tokenizer = Tokenizer(path)
        if str(config.get("path", "")).endswith(".json"):
            return cls.from_json(path / config["path"], tokenizer, frozen=config.get("frozen", False))
        state, source = read_state_dict(path)
        if "weight" not in state:
            raise ValueError(f"{source}: no 'weight' tensor; found {sorted(state)}")
        module = cls(tokenizer, weight=torch.zeros_like(state["weight"]), frozen=config.get("frozen", False))
        load_strict(module, state, str(source))
        return module

    def __repr__(self) -> str:
        return f"SparseStaticEmbedding({{'frozen': {self.frozen}}}, dim={self.weight.shape[0]})"


