"""A deterministic bag-of-words embedding "model" for exact evaluator parity tests.

The tiny random fixture models give almost identical embeddings for every text (cosine similarities within 2e-4 of
each other), so 1e-7 float noise between two encoders reorders them and moves correlations, thresholds and rankings
by up to 1e-2. To compare the *evaluators* exactly, tests/generate_eval_fixtures.py runs sentence-transformers'
evaluators on this model and the tests run embedkit's on the same model: both see bit-identical embeddings.

Each lower-cased word gets a fixed Gaussian vector (seeded by its CRC32 and a salt); a text is the sum of its word
vectors (prompt included). It implements the parts of the SentenceTransformer API that evaluators use.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np
import torch

_WORD = re.compile(r"\w+")


class _CardData:
    def set_evaluation_metrics(self, *args: Any, **kwargs: Any) -> None:
        pass


class HashEmbeddingModel:
    """Deterministic text -> float32 vector model with ``encode``, ``encode_query``, ``encode_document``."""

    def __init__(self, dim: int = 64, salt: str = "", similarity_fn_name: str = "cosine",
                 prompts: dict[str, str] | None = None) -> None:
        self.dim = dim
        self.salt = salt
        self.similarity_fn_name = similarity_fn_name
        self.prompts = {"query": "query: ", "document": "passage: "} if prompts is None else prompts
        self.model_card_data = _CardData()
        self.device = torch.device("cpu")
        self._cache: dict[str, np.ndarray] = {}

    def eval(self) -> HashEmbeddingModel:
        return self

    def _word(self, word: str) -> np.ndarray:
        if word not in self._cache:
            seed = zlib.crc32((self.salt + "\x00" + word).encode("utf-8"))
            self._cache[word] = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return self._cache[word]

    def _embed(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        vec[0] = 0.5  # keeps empty texts away from the zero vector
        for word in _WORD.findall(text.lower()):
            vec += self._word(word)
        return vec

    def encode(self, sentences: str | list[str], prompt_name: str | None = None, prompt: str | None = None,
               batch_size: int = 32, show_progress_bar: bool | None = None, convert_to_numpy: bool = True,
               convert_to_tensor: bool = False, precision: str | None = "float32",
               normalize_embeddings: bool = False, truncate_dim: int | None = None, **kwargs: Any) -> Any:
        from embedkit.util import quantize_embeddings

        if prompt is None and prompt_name is not None:
            prompt = self.prompts[prompt_name]
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        emb = np.stack([self._embed((prompt or "") + t) for t in texts]) if texts else np.zeros((0, self.dim),
                                                                                                 np.float32)
        if truncate_dim is not None:
            emb = emb[:, :truncate_dim]
        if normalize_embeddings:
            emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        if precision not in (None, "float32"):
            emb = quantize_embeddings(emb, precision=precision)
        out: Any
        if convert_to_tensor:
            out = torch.from_numpy(np.ascontiguousarray(emb))
        elif convert_to_numpy:
            out = emb
        else:
            out = list(torch.from_numpy(np.ascontiguousarray(emb)))
        return out[0] if single else out

    def encode_query(self, sentences: str | list[str], prompt_name: str | None = None, prompt: str | None = None,
                     **kwargs: Any) -> Any:
        if prompt is None and prompt_name is None and "query" in self.prompts:
            prompt_name = "query"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def encode_document(self, sentences: str | list[str], prompt_name: str | None = None,
                        prompt: str | None = None, **kwargs: Any) -> Any:
        if prompt is None and prompt_name is None and "document" in self.prompts:
            prompt_name = "document"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        from embedkit.util import SimilarityFunction

        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(a, b)
