"""WordEmbeddings: a word-level input module (word tokenizer + embedding table) -> ``token_embeddings``.

The legacy (sentence-transformers 5.x ``models.WordEmbeddings``) way to build models from GloVe/word2vec-style
vectors, usually followed by Pooling, CNN or LSTM. Folder: ``wordembedding_config.json`` (``tokenizer_class``,
``update_embeddings``, ``max_seq_length``), the tokenizer's JSON file and ``model.safetensors``
(``emb_layer.weight``), as sentence-transformers writes them.
"""

from __future__ import annotations

import gzip
import logging
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from embedkit.base.modules.input_module import InputModule
from embedkit.sentence_transformer.modules.tokenizer import (
    WhitespaceTokenizer,
    WordTokenizer,
)
from embedkit.util.misc import import_module_class

logger = logging.getLogger(__name__)


def tokenizer_class_name(tokenizer: WordTokenizer) -> str:
    """The class path sentence-transformers writes for a word tokenizer (its classic 5.x path for embedkit's)."""
    cls = type(tokenizer)
    if cls.__module__.startswith("embedkit.sentence_transformer.modules.tokenizer"):
        return f"sentence_transformers.models.tokenizer.{cls.__name__}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


class WordEmbeddings(InputModule):
    """Look up one embedding per word: ``input_ids`` (B, T) -> ``token_embeddings`` (B, T, D).

    Args:
        tokenizer: a word tokenizer (e.g. :class:`WhitespaceTokenizer`) whose indices address the rows.
        embedding_weights: (vocab, D) array, tensor or nested list.
        update_embeddings: train the embedding table (frozen by default).
        max_seq_length: words kept per text.

    Example:
        >>> import numpy as np
        >>> from embedkit.sentence_transformer.modules.tokenizer import WhitespaceTokenizer
        >>> emb = WordEmbeddings(WhitespaceTokenizer(["cat", "dog"], stop_words=[]), np.eye(2, dtype=np.float32))
        >>> emb(emb.preprocess(["dog cat", "cat"]))["token_embeddings"].shape
        torch.Size([2, 2, 2])
    """

    config_keys: list[str] = ["tokenizer_class", "update_embeddings", "max_seq_length"]
    config_file_name: str = "wordembedding_config.json"

    def __init__(self, tokenizer: WordTokenizer, embedding_weights: Any, update_embeddings: bool = False,
                 max_seq_length: int = 1000000) -> None:
        super().__init__()
        if not isinstance(tokenizer, WordTokenizer):
            raise ValueError("tokenizer must be a WordTokenizer (e.g. WhitespaceTokenizer); "
                             "embedkit does not wrap Hugging Face tokenizers here")
        weights = torch.as_tensor(np.asarray(embedding_weights) if isinstance(embedding_weights, list)
                                  else embedding_weights)
        num_embeddings, dimension = weights.shape
        self.embeddings_dimension = dimension
        self.emb_layer = nn.Embedding(num_embeddings, dimension)
        self.emb_layer.load_state_dict({"weight": weights.to(self.emb_layer.weight.dtype)})
        self.emb_layer.weight.requires_grad = update_embeddings
        self.tokenizer = tokenizer
        self.update_embeddings = update_embeddings
        self.max_seq_length = max_seq_length

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**features, "token_embeddings": self.emb_layer(features["input_ids"]), "cls_token_embeddings": None}

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Word indices, right-padded with 0: ``input_ids``, ``attention_mask`` (B, T) and ``sentence_lengths`` (B,)."""
        if prompt:
            inputs = self._prepend_prompt(list(inputs), prompt)
        ids = [self.tokenizer.tokenize(text, **kwargs)[: self.max_seq_length] for text in inputs]
        lengths = [len(row) for row in ids]
        width = max([1, *lengths])
        return {
            "input_ids": torch.tensor([row + [0] * (width - len(row)) for row in ids], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * n + [0] * (width - n) for n in lengths], dtype=torch.long),
            "sentence_lengths": torch.tensor(lengths, dtype=torch.long),
        }

    def get_embedding_dimension(self) -> int:
        return self.embeddings_dimension

    def get_config_dict(self) -> dict[str, Any]:
        return {"tokenizer_class": tokenizer_class_name(self.tokenizer), "update_embeddings": self.update_embeddings,
                "max_seq_length": self.max_seq_length}

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        self.tokenizer.save(str(output_path))

    @classmethod
    def load(cls, model_name_or_path: str | os.PathLike, subfolder: str = "", token: bool | str | None = None,
             cache_folder: str | None = None, revision: str | None = None, local_files_only: bool = False,
             **kwargs: Any) -> WordEmbeddings:
        """Load a saved WordEmbeddings folder.

        The config's ``tokenizer_class`` is resolved like a ``modules.json`` type: sentence-transformers and embedkit
        classes directly, anything else only with ``trust_remote_code=True``.
        """
        hub = dict(subfolder=subfolder, token=token, cache_folder=cache_folder, revision=revision,
                   local_files_only=local_files_only)
        config = dict(cls.load_config(model_name_or_path=model_name_or_path, **hub))
        tokenizer_class = import_module_class(
            config.pop("tokenizer_class"), model_name_or_path=str(model_name_or_path),
            trust_remote_code=kwargs.get("trust_remote_code", False), revision=revision, token=token,
            cache_folder=cache_folder, local_files_only=local_files_only,
        )
        tokenizer = tokenizer_class.load(cls.load_dir_path(model_name_or_path=model_name_or_path, **hub))
        weights = cls.load_torch_weights(model_name_or_path=model_name_or_path, **hub)
        return cls(tokenizer=tokenizer, embedding_weights=weights["emb_layer.weight"], **config)

    @classmethod
    def from_text_file(cls, embeddings_file_path: str, update_embeddings: bool = False, item_separator: str = " ",
                       tokenizer: WordTokenizer | None = None, max_vocab_size: int | None = None) -> WordEmbeddings:
        """Build from a GloVe/word2vec text file (``word v1 v2 ...`` per line, ``.gz`` allowed).

        Row 0 is a zero padding vector; a word2vec header line is skipped; lines of the wrong width are skipped.

        Raises:
            FileNotFoundError: the file does not exist (embedkit downloads nothing here).
        """
        if not os.path.exists(embeddings_file_path):
            raise FileNotFoundError(f"Embeddings file not found: {embeddings_file_path}")
        tokenizer = tokenizer if tokenizer is not None else WhitespaceTokenizer()
        vocab: list[str] = []
        vectors: list[np.ndarray] = []
        dimension = None
        opener = gzip.open if embeddings_file_path.endswith(".gz") else open
        with opener(embeddings_file_path, "rt", encoding="utf8") as f:
            for line in f:
                parts = line.rstrip().split(item_separator)
                if not vocab and len(parts) == 2:  # word2vec header: "<count> <dim>"
                    continue
                if dimension is None:
                    dimension = len(parts) - 1
                    vocab.append("PADDING_TOKEN")
                    vectors.append(np.zeros(dimension))
                if len(parts) - 1 != dimension:
                    logger.error("a line of %s has %d values instead of %d; skipped", embeddings_file_path,
                                 len(parts) - 1, dimension)
                    continue
                vocab.append(parts[0])
                vectors.append(np.array([float(x) for x in parts[1:]]))
                if max_vocab_size is not None and 0 < max_vocab_size < len(vocab):
                    break
        tokenizer.set_vocab(vocab)
        return cls(tokenizer=tokenizer, embedding_weights=np.asarray(vectors), update_embeddings=update_embeddings)
