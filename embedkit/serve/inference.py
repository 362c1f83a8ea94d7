"""What the batch worker runs: the served models and their token counting.

A batch key is ``(task, prompt_name)`` with task ``"embed"`` (SentenceTransformer: raw float32 embeddings, one
(D,) tensor per text; truncation and normalisation are applied per request afterwards, as ``encode`` does),
``"sparse"`` (SparseEncoder: (indices, values) per text) or ``"rerank"`` (CrossEncoder: the raw score of each
(query, text) pair). Each batch is one call of the model's own ``encode`` / ``predict`` with ``batch_size`` equal to
the batch, so a request gets what that call gives for its inputs.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Hashable
from typing import Any

from embedkit.tokenizer import well_formed


def chat_formatter(model: Any) -> Any:
    """The ``InputFormatter`` of a model whose first module renders inputs through a chat template (the
    ``"message"`` modality), else None.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> chat_formatter(SentenceTransformer(default_model_path())) is None
        True
    """
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return None
    return first.input_formatter if "message" in (getattr(first, "modality_config", None) or {}) else None


class TokenCounter:
    """Token counts (special tokens included, prompt prepended) of inputs as a model's tokenizer sees them.

    Works on its own copy of the tokenizer, so counting never touches the state of the one the worker uses.

    Args:
        tokenizer: an embedkit ``Tokenizer`` (``model.tokenizer``).
        limit: counts are exact up to ``limit + 1`` (longer inputs are counted as ``limit + 1``, enough to refuse
            them) so that a very long text costs little.
        chat: the model's :func:`chat_formatter` when it renders inputs through a chat template: inputs are then
            counted as rendered (the template's tokens included, a prompt as a system message).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> counter = TokenCounter(SentenceTransformer(default_model_path()).tokenizer, limit=256)
        >>> counter.count(["Hello world!", "a " * 1000])
        [5, 257]
        >>> counter.count_short(["Hello world!", ("a question", "an answer")])
        [5, 7]
    """

    def __init__(self, tokenizer: Any, limit: int, chat: Any = None) -> None:
        self.tokenizer = copy.deepcopy(tokenizer)
        self.limit = limit
        self.chat = chat
        self._lock = threading.Lock()

    def count(self, inputs: list[Any], prompt: str | None = None) -> list[int]:
        """Counts of any inputs, however long (a very long text is cut before it is tokenized)."""
        with self._lock:
            rendered = self._rendered(inputs, prompt)
            if rendered is not None:
                ids = self.tokenizer.encode_ids(rendered, max_length=self.limit + 1, add_special_tokens=False)
            else:
                ids = self.tokenizer.encode_ids(_prompted(inputs, prompt), max_length=self.limit + 1)
            return [len(row) for row in ids]

    def count_short(self, inputs: list[Any], prompt: str | None = None) -> list[int]:
        """Counts of short inputs, one at a time: no thread pool (``encode_batch``'s costs more than a short text).
        Not to be mixed with :meth:`count` on one counter (each sets the tokenizer's truncation its way)."""
        backend = self.tokenizer.backend
        backend.no_truncation()
        rendered = self._rendered(inputs, prompt)
        if rendered is not None:
            return [min(len(backend.encode(text, add_special_tokens=False).ids), self.limit + 1) for text in rendered]
        texts = well_formed(_prompted(inputs, prompt))
        return [min(len(backend.encode(*x if isinstance(x, tuple) else (x,)).ids), self.limit + 1) for x in texts]

    def _rendered(self, inputs: list[Any], prompt: str | None) -> list[str] | None:
        """The inputs as the chat template renders them, or None without a chat template (or when the template
        fails: the model's own call then reports why)."""
        if self.chat is None:
            return None
        try:
            conversations = self.chat.conversations(inputs)
            if prompt:
                conversations = self.chat.prepend_prompt_to_messages(conversations, prompt)
            return well_formed([self.tokenizer.apply_chat_template(c, tokenize=False) for c in conversations])
        except Exception:  # counted plainly; the model's call raises the same error with its message
            return None


def _prompted(inputs: list[Any], prompt: str | None) -> list[Any]:
    """``inputs`` with ``prompt`` before each text (before the first text of a pair)."""
    if not prompt:
        return inputs
    return [prompt + x if isinstance(x, str) else (prompt + x[0], x[1]) for x in inputs]


class ModelRunner:
    """The models one server serves and the batch function its worker calls.

    Args:
        embedder: a SentenceTransformer (or None); ``sparse``: a SparseEncoder; ``reranker``: a CrossEncoder.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> runner = ModelRunner(SentenceTransformer(default_model_path()))
        >>> [tuple(e.shape) for e in runner.run_batch(("embed", None), ["a", "bc"])]
        [(384,), (384,)]
    """

    def __init__(self, embedder: Any = None, sparse: Any = None, reranker: Any = None) -> None:
        self.embedder, self.sparse, self.reranker = embedder, sparse, reranker

    def run_batch(self, key: Hashable, inputs: list[Any]) -> list[Any]:
        """One forward pass over ``inputs``; one result per input (see the module docstring)."""
        import torch

        task, prompt_name = key  # type: ignore[misc]
        size = len(inputs)
        if task == "embed":
            emb = self.embedder.encode(inputs, prompt_name=prompt_name, batch_size=size, convert_to_tensor=True,
                                       show_progress_bar=False)
            return list(emb.float().cpu())
        if task == "sparse":
            emb = self.sparse.encode(inputs, prompt_name=prompt_name, batch_size=size, convert_to_tensor=True,
                                     convert_to_sparse_tensor=False, show_progress_bar=False)
            out = []
            for row in emb.float().cpu():
                indices = torch.nonzero(row, as_tuple=True)[0]
                out.append((indices.tolist(), row[indices].tolist()))
            return out
        if task == "rerank":
            scores = self.reranker.predict(inputs, batch_size=size, activation_fn=torch.nn.Identity(),
                                           convert_to_tensor=True, show_progress_bar=False)
            return scores.float().cpu().reshape(size, -1)[:, 0].tolist()
        raise ValueError(f"unknown task {task!r}")

    def start_chunk_workers(self) -> int:
        """Start the engine's chunk threads (:class:`~embedkit.encoders.engine.text_chunks.ChunkWorkers`) now, on
        this thread, rather than during a first batch; returns how many there are.

        Starting them sets torch's thread count for new threads to 1 for a moment, so a batch worker that began to
        use torch in that moment would run all its batches on one thread. Started before the batch workers, they
        cannot.
        """
        import torch

        from embedkit.encoders.engine import DEFAULT_OPTIONS
        from embedkit.encoders.engine.text_chunks import CHUNK_WORKERS, OPENMP

        if DEFAULT_OPTIONS.text_chunks and OPENMP and torch.get_num_threads() > 1:  # as the engine splits calls
            CHUNK_WORKERS.start(torch.get_num_threads())
        return CHUNK_WORKERS.threads

    def warm_up(self) -> int:
        """Build now the oneDNN kernels that serving would build bit by bit (see
        :meth:`~embedkit.encoders.engine.InferenceEngine.warm_up`), for each encoder of each served model; puts the
        models in eval mode (the server only runs inference); returns how many row counts ran, over all encoders."""
        from torch import nn

        from embedkit.encoders.engine import warm_up

        done = 0
        for model in (self.embedder, self.sparse, self.reranker):
            if isinstance(model, nn.Module):
                done += warm_up(model.eval())
        return done
