"""CrossEncoders on a causal language model: reading and writing their folders.

sentence-transformers 6.x scores a (query, document) pair with a causal LM (Qwen3-Reranker, mxbai-rerank-v2) as
``CausalLMTransformer`` (``transformer_task="text-generation"``, the logits at the last position) followed by
:class:`~embedkit.cross_encoder.modules.LogitScore` (the "yes" logit minus the "no" logit). Two folder layouts hold
one:

- a plain transformers ``*ForCausalLM`` folder (no ``modules.json``): the two modules are built, LogitScore on the
  tokenizer's ``yes`` and ``no`` tokens;
- the folder sentence-transformers 6.x (or embedkit) saves: ``modules.json`` naming the root Transformer (its
  ``sentence_bert_config.json`` says ``text-generation``) and ``1_LogitScore/config.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.modules.causal_lm_transformer import CausalLMTransformer
from embedkit.base.modules.module import read_json_file, write_json_file
from embedkit.base.modules.transformer import Transformer
from embedkit.cross_encoder.modules.logit_score import LogitScore
from embedkit.encoders.causal_lm import is_causal_lm_config

TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
LOGIT_SCORE_TYPE = "sentence_transformers.cross_encoder.modules.logit_score.LogitScore"
LOGIT_SCORE_TYPES = (LOGIT_SCORE_TYPE, "sentence_transformers.cross_encoder.modules.LogitScore")


def is_causal_lm_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a CrossEncoder on a causal LM in either layout (see the module docstring).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> is_causal_lm_folder(default_model_path())
        False
    """
    folder = Path(folder)
    modules_path = folder / "modules.json"
    if modules_path.exists():
        modules = read_json_file(modules_path)
        return isinstance(modules, list) and any(isinstance(m, dict) and m.get("type") in LOGIT_SCORE_TYPES
                                                 for m in modules)
    config_path = folder / "config.json"
    return config_path.exists() and is_causal_lm_config(read_json_file(config_path))


def load_causal_lm_modules(folder: Path, processor_kwargs: dict[str, Any], max_length: int | None
                           ) -> list[nn.Module]:
    """The [CausalLMTransformer, LogitScore] pair ``folder`` holds.

    Raises:
        ValueError: a ``modules.json`` that is not [root Transformer with ``text-generation``, LogitScore], or a
            plain folder whose tokenizer has no ``yes`` / ``no`` token (the message says how to build the modules).
    """
    modules_path = folder / "modules.json"
    if not modules_path.exists():
        transformer = CausalLMTransformer(folder, max_length, processor_kwargs=processor_kwargs)
        true_id = transformer.tokenizer.backend.token_to_id("yes")
        false_id = transformer.tokenizer.backend.token_to_id("no")
        if true_id is None or false_id is None:
            raise ValueError("The tokenizer does not have 'yes' and/or 'no' tokens, which are used as the default "
                             "true/false tokens for the LogitScore post-processing module. Please provide custom "
                             "modules with your desired LogitScore configuration, or use a model with a tokenizer "
                             "that supports these tokens.")
        return [transformer, LogitScore(true_token_id=true_id, false_token_id=false_id)]
    entries = read_json_file(modules_path)
    types = [entry.get("type") for entry in entries]
    if len(entries) != 2 or types[0] != TRANSFORMER_TYPE or entries[0].get("path", "") not in ("", ".") \
            or types[1] not in LOGIT_SCORE_TYPES:
        raise ValueError(f"{folder}: a CrossEncoder on a causal language model has modules [root Transformer, "
                         f"LogitScore]; modules.json names {types}")
    transformer = Transformer.load(folder, processor_kwargs=processor_kwargs)
    if not isinstance(transformer, CausalLMTransformer):
        raise ValueError(f"{folder}: the Transformer before LogitScore must have transformer_task='text-generation' "
                         f"(sentence_bert_config.json says {transformer.transformer_task!r})")
    if max_length is not None:
        transformer.max_seq_length = max_length
    score = LogitScore.load(folder / entries[1]["path"])
    return [transformer, score]


def save_causal_lm_modules(modules: list[nn.Module], path: str | os.PathLike, safe_serialization: bool = True
                           ) -> None:
    """Write [CausalLMTransformer, LogitScore] as sentence-transformers 6.x does: the Transformer at the root,
    ``1_LogitScore/config.json``, and ``modules.json``."""
    path = Path(path)
    modules[0].save(path, safe_serialization=safe_serialization)
    (path / "1_LogitScore").mkdir(parents=True, exist_ok=True)
    modules[1].save(path / "1_LogitScore")
    write_json_file(path / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_TYPE},
        {"idx": 1, "name": "1", "path": "1_LogitScore", "type": LOGIT_SCORE_TYPE},
    ])


def is_causal_lm_stack(modules: Any) -> bool:
    """Whether a module stack is [CausalLMTransformer, LogitScore] (the layout :func:`save_causal_lm_modules`
    writes).

    Example:
        >>> is_causal_lm_stack([LogitScore(1, 2)]), is_causal_lm_stack(None)
        (False, False)
    """
    modules = list(modules or [])
    return len(modules) == 2 and isinstance(modules[0], CausalLMTransformer) and isinstance(modules[1], LogitScore)
