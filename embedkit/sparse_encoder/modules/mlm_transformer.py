"""MLMTransformer: the SPLADE input module, a Transformer with ``transformer_task="fill-mask"``.

It tokenizes like :class:`~embedkit.base.modules.Transformer` but runs a ``*ForMaskedLM`` model (each family with a
masked-LM head) and writes the MLM logits into ``features["token_embeddings"]`` as a lazy
:class:`~embedkit.encoders.mlm_heads.MLMLogits` (B, T, V): the decoder is applied block by block by
:class:`SpladePooling`, so the full logits tensor is never held.

Folders read (the model root):
- sentence-transformers 5.0-5.3: modules.json type ``sentence_transformers.sparse_encoder.models.MLMTransformer``,
  ``sentence_bert_config.json`` ``{max_seq_length, do_lower_case}``;
- sentence-transformers 5.4+/6.x: type ``sentence_transformers.base.modules.transformer.Transformer`` with
  ``transformer_task: "fill-mask"`` (embedkit's Transformer.load hands those to this class), or the deprecated
  ``sentence_transformers.sparse_encoder.modules.mlm_transformer.MLMTransformer``.
Written: the 5.0-5.3 form (``MLMTransformer`` + classic config), which ST 5.x and ST 6.x (as a fill-mask
Transformer) both load.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.modules.module import read_json_file
from embedkit.base.modules.transformer import Transformer
from embedkit.base.modules.transformer_config import _CONFIG_FILE_NAMES, _KNOWN_CONFIG_KEYS
from embedkit.base.modules.transformer_folder import write_module_folder
from embedkit.encoders.convert import hf_name_with_head
from embedkit.encoders.engine import InferenceEngine
from embedkit.encoders.loading import read_state_dict
from embedkit.encoders.mlm_heads import (
    ARCHITECTURES,
    HF_PREFIX,
    MLM_TO_HF,
    build_masked_lm,
    masked_lm_hf_state_dict,
)

logger = logging.getLogger(__name__)


class MLMTransformer(Transformer):
    """Tokenizer + masked-LM encoder. Writes lazy MLM logits (B, T, V) as ``token_embeddings``.

    Args:
        model_name_or_path: a folder (or Hub id) holding a HF ``BertForMaskedLM`` / ``MPNetForMaskedLM`` checkpoint.
        max_seq_length: truncate inputs to this many tokens (default: the tokenizer's ``model_max_length``,
            capped at ``max_position_embeddings``).
        do_lower_case: lowercase inputs before tokenizing.
        tokenizer_name_or_path: take the tokenizer from another folder.
        cache_folder / revision / token / local_files_only: Hub download options.
        Other keyword arguments are :class:`~embedkit.base.modules.Transformer`'s (``model_kwargs``,
        ``processing_kwargs``, ...). ``Transformer(path, transformer_task="fill-mask")`` builds this class.

    Example:
        A tiny, untrained BertForMaskedLM checkpoint with all-MiniLM-L6-v2's tokenizer, then loaded:

        >>> import json, shutil, tempfile
        >>> from pathlib import Path
        >>> from safetensors.torch import save_file
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.encoders import BertModel, EncoderConfig
        >>> from embedkit.encoders.mlm_heads import MLMHead, masked_lm_hf_state_dict
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        ...     _ = shutil.copy(Path(default_model_path()) / name, folder)
        >>> cfg = EncoderConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                     intermediate_size=16)
        >>> hf_config = {**cfg.to_hf_config(), "architectures": ["BertForMaskedLM"]}
        >>> _ = (folder / "config.json").write_text(json.dumps(hf_config))
        >>> save_file(masked_lm_hf_state_dict(BertModel(cfg), MLMHead(cfg), "bert"), folder / "model.safetensors")
        >>> mlm = MLMTransformer(folder)
        >>> logits = mlm(mlm.preprocess(["the art of the game"]))["token_embeddings"]
        >>> tuple(logits.shape)  # (B, T, V), computed block by block on demand
        (1, 7, 30522)
    """

    save_in_root = True
    task = "fill-mask"

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | os.PathLike | None = None,
        *,
        transformer_task: str = "fill-mask",
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name_or_path, max_seq_length, do_lower_case, tokenizer_name_or_path,
                         transformer_task=transformer_task, **kwargs)

    def _load_model(self, folder: Path, hf_config: dict[str, Any], config_kwargs: dict[str, Any]) -> Any:
        """The encoder of a ``*ForMaskedLM`` checkpoint; its MLM head becomes ``self.mlm_head`` (strict loading).
        A checkpoint of another architecture (a bare encoder, a bi-encoder) gets a new head, with a warning, as
        transformers' ``AutoModelForMaskedLM`` gives it; a ``*ForMaskedLM`` one without head weights raises."""
        state, source = read_state_dict(folder)
        is_masked_lm = any(str(name).endswith("ForMaskedLM") for name in hf_config.get("architectures") or [])
        self.config, encoder, mlm_head = build_masked_lm(hf_config, state, str(source), new_head=not is_masked_lm)
        self.auto_model = encoder  # registered before the head, so parameters() lists the encoder first
        self.mlm_head = mlm_head.eval()
        return encoder

    def _adapter_root(self) -> nn.Module:
        """What LoRA adapters attach to: this module, whose encoder and MLM head are transformers'
        ``*ForMaskedLM`` (names from :meth:`hf_parameter_name`)."""
        return self

    def hf_parameter_name(self, name: str) -> str | None:
        """The ``*ForMaskedLM`` name of parameter ``name`` (``auto_model.layers.0.attn.q.weight`` ->
        ``bert.encoder.layer.0.attention.self.query.weight``; the head's as transformers names it)."""
        model_type = self.config.model_type
        return hf_name_with_head(name, model_type, "auto_model", HF_PREFIX[model_type], "mlm_head",
                                 MLM_TO_HF[model_type])

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        out = InferenceEngine(self.auto_model)(  # the encoder's reference forward unless in inference
            features["input_ids"],
            features.get("attention_mask"),
            features.get("token_type_ids"),
            output_hidden_states=self.output_hidden_states,
        )
        word_embeddings = self.auto_model.embed.tok.weight  # (V, D), the tied decoder
        features = {**features, "token_embeddings": self.mlm_head.logits(out.last_hidden_state, word_embeddings)}
        if out.hidden_states is not None:
            features["all_layer_embeddings"] = out.hidden_states
        return features

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """The ``*ForMaskedLM`` folder (config.json naming the architecture and whether the decoder is tied, the
        encoder and head weights), or the active LoRA adapter instead; the tokenizer and sentence_bert_config.json."""
        def hf_config() -> dict[str, Any]:
            config = self.config.to_hf_config()
            config["architectures"] = [ARCHITECTURES[self.config.model_type]]
            config["tie_word_embeddings"] = self.mlm_head.decoder is None
            return config

        write_module_folder(self, output_path, safe_serialization, hf_config,
                            lambda: masked_lm_hf_state_dict(self.auto_model, self.mlm_head, self.config.model_type))

    @classmethod
    def load(cls, path: str | os.PathLike, **hub_kwargs: Any) -> MLMTransformer:
        """Load from a model root holding either generation of ``sentence_bert_config.json``."""
        path = Path(path)
        config: dict[str, Any] = {}
        for name in _CONFIG_FILE_NAMES:
            if (path / name).is_file():
                config = read_json_file(path / name)
                break
        unknown = set(config) - _KNOWN_CONFIG_KEYS
        if unknown:
            raise ValueError(f"{path}: unknown keys in sentence_bert_config.json: {sorted(unknown)}")
        output_name = config.get("module_output_name", "token_embeddings")
        if output_name != "token_embeddings":
            raise ValueError(f"{path}: module_output_name={output_name!r} is not supported (token_embeddings only)")
        return cls(
            path,
            max_seq_length=config.get("max_seq_length"),
            do_lower_case=config.get("do_lower_case", False),
            transformer_task=config.get("transformer_task", "fill-mask"),
            **hub_kwargs,
        )
