"""Transformer: the input module. Tokenizes text and runs a hand-written encoder -> ``token_embeddings``.

Its folder is the model root of a sentence-transformers model: HF ``config.json``, ``model.safetensors`` (HF weight
names), tokenizer files, and ``sentence_bert_config.json``. Both generations of that last file are read
(classic ``max_seq_length``/``do_lower_case``; v5.4+ ``transformer_task``/``modality_config``/...). The classic form
is written, because sentence-transformers 5.x and 6.x both read it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from torch import Tensor

from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import Module, read_json_file, write_json_file
from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.convert import ek_to_hf, split_hf_state_dict
from embedkit.encoders.loading import load_strict, read_state_dict
from embedkit.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

TASKS = ("feature-extraction",)
# sentence_bert_config.json file names used by old sentence-transformers releases for other backbones.
_CONFIG_FILE_NAMES = ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
                      "sentence_camembert_config.json", "sentence_albert_config.json",
                      "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json")
# Keys of sentence_bert_config.json we understand. v5.4+ keys are checked for values we can honour.
_KNOWN_CONFIG_KEYS = {"max_seq_length", "do_lower_case", "transformer_task", "modality_config", "module_output_name",
                      "model_args", "tokenizer_args", "config_args", "processing_kwargs", "unpad_inputs"}


def check_text_inputs(inputs: list[Any]) -> None:
    """Raise TypeError naming the first item that is neither a string nor a (string, string) pair."""
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            continue
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            continue
        raise TypeError(f"input {i} has type {type(item).__name__}; expected str or a (str, str) pair")


class Transformer(InputModule):
    """Tokenizer + BERT/MPNet encoder. Writes ``token_embeddings`` (B, T, D) into the features.

    Args:
        model_name_or_path: a local model folder or a Hugging Face Hub id.
        max_seq_length: truncate inputs to this many tokens (default: the tokenizer's ``model_max_length``,
            capped at the model's ``max_position_embeddings``).
        do_lower_case: lowercase inputs before tokenizing.
        tokenizer_name_or_path: take the tokenizer from another folder.
        transformer_task: only ``"feature-extraction"`` here.
        cache_folder / revision / token / local_files_only: Hub download options.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> t = Transformer(default_model_path())
        >>> features = t.preprocess(["hello world"])
        >>> t(features)["token_embeddings"].shape
        torch.Size([1, 4, 384])
    """

    save_in_root = True

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | os.PathLike | None = None,
        *,
        transformer_task: str = "feature-extraction",
        cache_folder: str | None = None,
        revision: str | None = None,
        token: bool | str | None = None,
        local_files_only: bool = False,
    ) -> None:
        super().__init__()
        from embedkit.hub import resolve_model_path

        if transformer_task not in TASKS:
            raise ValueError(f"transformer_task={transformer_task!r} is not supported here; supported: {TASKS}")
        hub_kwargs = dict(cache_folder=cache_folder, revision=revision, token=token, local_files_only=local_files_only)
        folder = resolve_model_path(model_name_or_path, **hub_kwargs)
        self.transformer_task = transformer_task
        self.do_lower_case = do_lower_case
        self.output_hidden_states = False
        """Set True to also emit ``all_layer_embeddings`` (used by layer-wise losses and WeightedLayerPooling)."""

        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"no config.json in {folder}")
        self.config = EncoderConfig.from_hf_config(read_json_file(config_path))
        state, source = read_state_dict(folder)
        encoder_state, head_state = split_hf_state_dict(state, self.config.model_type, str(source))
        if head_state:
            logger.info("%s: ignoring head weights not used for %s: %s", source, transformer_task, sorted(head_state))
        self.auto_model = build_encoder(self.config, add_pooler="pooler.dense.weight" in encoder_state)
        load_strict(self.auto_model, encoder_state, str(source))

        self._attach_tokenizer(folder, tokenizer_name_or_path, do_lower_case, max_seq_length, hub_kwargs)

    def _attach_tokenizer(self, folder: Path, tokenizer_name_or_path: str | None, do_lower_case: bool,
                          max_seq_length: int | None, hub_kwargs: dict[str, Any]) -> None:
        """Load the tokenizer (from ``folder`` or another one), check it fits the embedding, set max_seq_length."""
        from embedkit.hub import resolve_model_path

        tokenizer_folder = folder
        if tokenizer_name_or_path is not None:
            tokenizer_folder = resolve_model_path(tokenizer_name_or_path, **hub_kwargs)
        self.tokenizer = Tokenizer(
            tokenizer_folder, do_lower_case=do_lower_case, return_token_type_ids=self.config.model_type == "bert"
        )
        if self.tokenizer.vocab_size > self.config.vocab_size:
            raise ValueError(
                f"{folder}: the tokenizer has {self.tokenizer.vocab_size} tokens but the model's embedding has only "
                f"{self.config.vocab_size} rows; tokenizer and weights do not belong together"
            )
        if max_seq_length is None:
            max_seq_length = min(self.tokenizer.model_max_length, self.config.max_position_embeddings)
        self.max_seq_length = max_seq_length
        self._prompt_lengths: dict[str, int] = {}

    @property
    def max_seq_length(self) -> int:
        return self.tokenizer.model_max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.tokenizer.model_max_length = int(value)

    def get_embedding_dimension(self) -> int:
        return self.config.hidden_size

    get_word_embedding_dimension = get_embedding_dimension

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        out = self.auto_model(
            features["input_ids"],
            features.get("attention_mask"),
            features.get("token_type_ids"),
            output_hidden_states=self.output_hidden_states,
        )
        features = {**features, "token_embeddings": out.last_hidden_state}  # (B, T, D)
        if out.hidden_states is not None:
            features["all_layer_embeddings"] = out.hidden_states
        return features

    def _prompt_length(self, prompt: str) -> int:
        """Tokens of ``prompt`` alone, including a leading special token but not a trailing one (as ST counts)."""
        if prompt not in self._prompt_lengths:
            ids = self.tokenizer.encode_ids([prompt], max_length=self.max_seq_length)[0]
            length = len(ids) - (1 if ids and ids[-1] in self.tokenizer.all_special_ids else 0)
            self._prompt_lengths[prompt] = length
        return self._prompt_lengths[prompt]

    def preprocess(self, inputs: list[str] | list[tuple[str, str]], prompt: str | None = None, **kwargs: Any
                   ) -> dict[str, Any]:
        """Tokenize a batch. A prompt is prepended to each text (to the first text of a pair).

        Returns ``input_ids``, ``attention_mask`` (B, T), ``token_type_ids`` for BERT, and ``prompt_length``.

        Raises:
            TypeError: an item is not a string or a pair of strings (the message names its index and type).
        """
        inputs = list(inputs)
        check_text_inputs(inputs)
        if prompt:
            inputs = [prompt + x if isinstance(x, str) else (prompt + x[0], x[1]) for x in inputs]
        features: dict[str, Any] = self.tokenizer(inputs, max_length=self.max_seq_length)
        if prompt:
            features["prompt_length"] = self._prompt_length(prompt)
        return features

    tokenize = preprocess

    def get_config_dict(self) -> dict[str, Any]:
        return {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_file

        output_path = Path(output_path)
        output_path.mkdir(parents=True, exist_ok=True)
        hf_config = self.config.to_hf_config()
        (output_path / "config.json").write_text(json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.auto_model.state_dict().items()}
        hf_state = ek_to_hf(state, self.config.model_type)
        if safe_serialization:
            save_file(hf_state, str(output_path / "model.safetensors"), metadata={"format": "pt"})
        else:
            import torch

            torch.save(hf_state, output_path / "pytorch_model.bin")
        self.tokenizer.save(output_path, model_max_length=self.max_seq_length)
        write_json_file(output_path / "sentence_bert_config.json", self.get_config_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, **hub_kwargs: Any) -> Transformer:
        """Load from a model root, reading whichever ``sentence_*_config.json`` generation it has."""
        path = Path(path)
        config: dict[str, Any] = {}
        for name in _CONFIG_FILE_NAMES:
            if (path / name).is_file():
                config = read_json_file(path / name)
                break
        unknown = set(config) - _KNOWN_CONFIG_KEYS
        if unknown:
            raise ValueError(f"{path}: unknown keys in sentence_bert_config.json: {sorted(unknown)}")
        task = config.get("transformer_task", "feature-extraction")
        if task == "fill-mask" and cls is Transformer:  # ST 5.4+ SPLADE backbone: a Transformer with an MLM head
            from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer

            return MLMTransformer.load(path, **hub_kwargs)
        output_name = config.get("module_output_name", "token_embeddings")
        if output_name != "token_embeddings":
            raise ValueError(f"{path}: module_output_name={output_name!r} is not supported (token_embeddings only)")
        return cls(
            path,
            max_seq_length=config.get("max_seq_length"),
            do_lower_case=config.get("do_lower_case", False),
            transformer_task=task,
            **hub_kwargs,
        )


def tokens_to_device(features: dict[str, Any], device: Any) -> dict[str, Any]:
    """Move every tensor in ``features`` to ``device`` (other values are kept as they are)."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
