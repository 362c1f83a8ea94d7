"""CausalLMTransformer: a Transformer with ``transformer_task="text-generation"`` (a decoder and its next-token head).

It tokenizes like :class:`~embedkit.base.modules.Transformer` (texts, or chat messages through the tokenizer's chat
template) with left padding, so that the last position of every row is a real token, and writes the logits of the
last ``logits_to_keep`` positions as ``causal_logits`` (B, K, V). sentence-transformers 6.x builds CrossEncoders on
causal language models (Qwen3-Reranker, mxbai-rerank-v2) from this module and a
:class:`~embedkit.cross_encoder.modules.LogitScore`; ``Transformer(path, transformer_task="text-generation")`` builds
it here.

Its folder is the model root: ``config.json`` with the ``*ForCausalLM`` architecture, the weights under
transformers' names, the tokenizer, and ``sentence_bert_config.json`` naming the task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor

from embedkit.base.modules.transformer import Transformer
from embedkit.encoders.causal_lm import CausalLM
from embedkit.encoders.loading import read_state_dict


class CausalLMTransformer(Transformer):
    """Tokenizer (left padding) + decoder + ``lm_head``. Writes ``causal_logits`` (B, K, V) into the features.

    Args:
        model_name_or_path: a folder (or Hub id) with a ``*ForCausalLM`` checkpoint of a supported decoder (Qwen3,
            Gemma 3, Llama, Mistral, Qwen2).
        Other arguments are :class:`~embedkit.base.modules.Transformer`'s. ``processing_kwargs={"text":
        {"logits_to_keep": K}}`` keeps the logits of the last K positions (default 1; 0 keeps every position).

    Example:
        >>> import json, tempfile
        >>> from safetensors.torch import save_file
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.encoders.causal_lm import CausalLM
        >>> from embedkit.encoders.qwen3 import Qwen3Config
        >>> from embedkit.tokenizer import Tokenizer
        >>> folder = tempfile.mkdtemp()  # a tiny random Qwen3ForCausalLM on MiniLM's vocabulary
        >>> lm = CausalLM(Qwen3Config(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        ...                           num_key_value_heads=2, head_dim=8, intermediate_size=48), tied=True)
        >>> _ = open(f"{folder}/config.json", "w").write(json.dumps(lm.hf_config()))
        >>> save_file(lm.hf_state_dict(), f"{folder}/model.safetensors")
        >>> Tokenizer(default_model_path()).save(folder)
        >>> module = Transformer(folder, transformer_task="text-generation")
        >>> type(module).__name__, module.tokenizer.padding_side
        ('CausalLMTransformer', 'left')
        >>> module(module.preprocess(["a short text", "a somewhat longer text"]))["causal_logits"].shape
        torch.Size([2, 1, 30522])
    """

    task = "text-generation"

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | os.PathLike | None = None,
        *,
        transformer_task: str = "text-generation",
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name_or_path, max_seq_length, do_lower_case, tokenizer_name_or_path,
                         transformer_task=transformer_task, **kwargs)
        self.tokenizer.padding_side = "left"  # the last position is a real token in every row (as ST sets it)

    def _load_model(self, folder: Path, hf_config: dict[str, Any], config_kwargs: dict[str, Any]) -> CausalLM:
        state, source = read_state_dict(folder)
        model = CausalLM.from_hf_state_dict(hf_config, state, str(source))
        self.config = model.config
        return model

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Tokenize as :meth:`Transformer.preprocess` does, and add ``logits_to_keep``.

        Raises:
            ValueError: ``logits_to_keep`` is not a non-negative integer, or a row ends in padding (the padding
                side was changed from ``"left"``; the message says where).
        """
        options = self._merge_processing_kwargs(kwargs.get("processing_kwargs"))
        text = dict(options.get("text") or {})
        keep = text.pop("logits_to_keep", 1)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError("logits_to_keep must be a non-negative integer")
        features = super().preprocess(inputs, prompt, **kwargs)
        if not features:
            return features
        mask = features.get("attention_mask")
        if isinstance(mask, Tensor) and mask.ndim == 2 and not bool(mask[:, -1].all()):
            side = text.get("padding_side") or (options.get("common") or {}).get("padding_side")
            fix = (f"Your ``processing_kwargs`` set the padding side to {side!r}. Remove it or set it to \"left\"."
                   if side not in (None, "left") else
                   'The module sets ``processor.padding_side`` to "left" on load, so it was changed afterwards. '
                   'Restore it with ``processor.padding_side = "left"``.')
            raise ValueError("At least one sample ends in a padding token, but causal models require left padding so "
                             "that the last token position is always a real token. This is needed for efficient "
                             "logit computation (logits_to_keep=1) and for LogitScore. " + fix)
        features["logits_to_keep"] = keep
        return features

    tokenize = preprocess

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Add ``causal_logits`` (B, K, V): the head's logits at the last K positions."""
        logits = self.auto_model(features["input_ids"], features.get("attention_mask"),
                                 int(features.get("logits_to_keep", 1)))
        return {**features, "causal_logits": logits}  # (B, K, V)

    def get_embedding_dimension(self) -> int:
        return self.config.hidden_size

    always_saves_task = True

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        """Write config.json (``*ForCausalLM``), the weights under transformers' names, the tokenizer and
        ``sentence_bert_config.json``."""
        self._save_with_head(output_path, safe_serialization)
