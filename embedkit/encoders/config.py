"""Encoder hyper-parameters, read explicitly from a Hugging Face ``config.json``.

Only the fields BERT and MPNet need are kept here; other families subclass it with their own fields. Every field is
named after the HF key it comes from, so the mapping in :meth:`EncoderConfig.from_hf_config` is one line per field and
nothing is passed through ``**kwargs``. The original dict is kept on the side so that saving writes back every key we
did not interpret (nothing lost).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Literal

# Sizes above these are refused before anything is allocated: a corrupted or hostile config.json must not make
# us try to build a 10^12-parameter embedding table.
_LIMITS = {
    "vocab_size": 4_000_000,
    "hidden_size": 16_384,
    "num_hidden_layers": 256,
    "num_attention_heads": 512,
    "intermediate_size": 131_072,
    "max_position_embeddings": 1_048_576,
    "type_vocab_size": 1_024,
    "relative_attention_num_buckets": 4_096,
    "embedding_size": 16_384,
}

SUPPORTED_MODEL_TYPES = ("bert", "mpnet", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "albert",
                         "modernbert", "qwen3", "gemma3_text", "gemma2", "llama", "mistral", "qwen2", "eurobert", "t5",
                         "mt5", "deberta-v2", "deberta", "nomic_bert", "gte", "new", "umt5")
# Encoders of encoder-decoders, with relative position buckets and no position table (their ``max_position_embeddings``
# is only the longest input embedkit accepts).
T5_TYPES = ("t5", "mt5", "umt5")
NO_POSITION_LIMIT = 1_048_576
# Families whose positions count from ``pad_token_id + 1`` and skip padding (fairseq style), BERT layer otherwise.
ROBERTA_TYPES = ("roberta", "xlm-roberta", "camembert")  # CamemBERT is RoBERTa
# DistilBERT config.json key -> the EncoderConfig field it fills (the BERT-style names are not in its config.json).
DISTILBERT_KEYS = {
    "dim": "hidden_size",
    "hidden_dim": "intermediate_size",
    "n_layers": "num_hidden_layers",
    "n_heads": "num_attention_heads",
    "activation": "hidden_act",
    "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
}
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish")


def check_pad_token_row(pad: Any, vocab_size: int) -> None:
    """Refuse a ``pad_token_id`` that is not a row of the token embedding (``None``, no padding row, is kept).

    It becomes the embedding's ``padding_idx``: outside ``[-vocab_size, vocab_size)`` torch refuses it with a bare
    AssertionError (transformers too), so it is refused here with the numbers.

    Example:
        >>> check_pad_token_row(3, vocab_size=3)
        Traceback (most recent call last):
        ...
        ValueError: config pad_token_id=3 is not a row of the token embedding (vocab_size=3, ids 0..2)
    """
    if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or not -vocab_size <= pad < vocab_size):
        raise ValueError(f"config pad_token_id={pad!r} is not a row of the token embedding "
                         f"(vocab_size={vocab_size}, ids 0..{vocab_size - 1})")


@dataclass
class EncoderConfig:
    """Shape and regularisation of a BERT, MPNet, RoBERTa / XLM-RoBERTa or DistilBERT encoder.

    Example:
        >>> cfg = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=64)
        >>> cfg.head_dim
        8
    """

    model_type: Literal["bert", "mpnet", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"] = "bert"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    """FFN activation. HF's ``gelu`` is the exact (erf) GELU."""
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    """BERT only: rows of the token-type (segment) embedding. MPNet has none."""
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    relative_attention_num_buckets: int = 32
    """MPNet only: buckets of the relative position bias shared by all layers."""
    sinusoidal_pos_embds: bool = False
    """DistilBERT only: the position table holds fixed sinusoids (loaded from the checkpoint like any table)."""
    embedding_size: int | None = None
    """ELECTRA and ALBERT: width of the embedding tables, projected to ``hidden_size`` (ELECTRA: when it differs;
    None: the same)."""
    hf_config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The config.json this came from, written back (with our fields updated) on save."""

    def __post_init__(self) -> None:
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model_type must be one of {SUPPORTED_MODEL_TYPES}, got {self.model_type!r}")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {SUPPORTED_ACTIVATIONS}, got {self.hidden_act!r}")
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if name == "embedding_size" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > limit:
                raise ValueError(f"config {name}={value!r} is outside the supported range [0, {limit}]")
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"config {name} must be >= 1, got {getattr(self, name)}")
        self._check_head_size()
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"config {name}={value!r} is not a probability in [0, 1)")
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise ValueError(f"config layer_norm_eps={eps!r} must be a number in (0, 1): LayerNorm divides by "
                             "sqrt(variance + eps)")
        self._check_embedding_ids()

    def _check_head_size(self) -> None:
        """The heads split ``hidden_size`` evenly (Qwen3, whose head size is its own field, overrides this)."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )

    def _check_embedding_ids(self) -> None:
        """Refuse ids the BERT-style embeddings cannot index (MPNet ignores both fields; DistilBERT has no types):
        a ``pad_token_id`` outside the table (:func:`check_pad_token_row`), and ``type_vocab_size=0``, which leaves
        no row for token type 0, which every input uses."""
        if self.model_type not in ("bert", *ROBERTA_TYPES, "distilbert", "electra", "albert"):
            return
        if self.model_type in ROBERTA_TYPES and self.pad_token_id is None:
            raise ValueError(f"config pad_token_id=None: a {self.model_type} model counts positions from it")
        check_pad_token_row(self.pad_token_id, self.vocab_size)
        if self.model_type != "distilbert" and self.type_vocab_size < 1:
            raise ValueError(f"config type_vocab_size={self.type_vocab_size}: a BERT model needs at least one "
                             "token-type row (every token has type 0)")

    def parameter_count(self, add_pooler: bool = True) -> int:
        """How many numbers the encoder built from this config holds (without building it): what loading would
        allocate. Checked against the state dicts of real builds in tests/test_bad_input.py.

        Example:
            >>> EncoderConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...               intermediate_size=8, max_position_embeddings=6, type_vocab_size=2).parameter_count()
            272
        """
        h, f = self.hidden_size, self.intermediate_size
        layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h  # q, k, v, o; up; down; two LayerNorms
        e = self.embedding_size or h  # ELECTRA's tables may be narrower, then projected to h
        embeddings = (self.vocab_size + self.max_position_embeddings) * e + 2 * e  # tokens, positions, LayerNorm
        if self.model_type == "mpnet":  # a relative position bias shared by all layers
            embeddings += self.relative_attention_num_buckets * self.num_attention_heads
        else:  # DistilBERT: type_vocab_size is 0
            embeddings += self.type_vocab_size * e
        if e != h:
            embeddings += e * h + h
        has_pooler = add_pooler and self.model_type != "distilbert"
        return embeddings + self.num_hidden_layers * layer + (h * h + h if has_pooler else 0)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_hf_config(cls, hf: dict[str, Any], source: str | None = None) -> EncoderConfig:
        """Build from a HF ``config.json`` dict; unknown model types and out-of-range fields raise a ValueError,
        prefixed with ``source`` (the file or folder it came from) when given."""
        try:
            if not isinstance(hf, dict):
                raise ValueError(f"config.json must hold a JSON object, not {type(hf).__name__}")
            try:
                return cls._from_hf_config(hf)
            except KeyError as exc:
                raise ValueError(f"config.json lacks the required key {exc.args[0]!r}") from None
        except ValueError as exc:
            if source is None:
                raise
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def _from_hf_config(cls, hf: dict[str, Any]) -> EncoderConfig:
        model_type = hf.get("model_type")
        if model_type == "modernbert":  # its own fields: ModernBertConfig, an extension of this class
            from embedkit.encoders.modernbert import ModernBertConfig

            return ModernBertConfig.from_modernbert_config(hf)
        if model_type == "qwen3":  # a decoder used as an encoder: Qwen3Config, an extension of this class
            from embedkit.encoders.qwen3 import Qwen3Config

            return Qwen3Config.from_qwen3_config(hf)
        if model_type == "gemma3_text":  # Gemma 3's text stack: Gemma3Config, an extension of Qwen3Config
            from embedkit.encoders.gemma3 import Gemma3Config

            return Gemma3Config.from_gemma3_config(hf)
        if model_type == "gemma2":  # Gemma 3's stack without q/k norms, with one rotary base and capped scores
            from embedkit.encoders.gemma2 import Gemma2Config

            return Gemma2Config.from_gemma2_config(hf)
        if model_type in ("llama", "mistral", "qwen2", "eurobert"):  # Qwen3's stack without q/k norms
            from embedkit.encoders.llama import LlamaConfig

            return LlamaConfig.from_llama_config(hf)
        if model_type in T5_TYPES:  # the encoder of an encoder-decoder: T5Config, an extension of this class
            from embedkit.encoders.t5 import T5Config

            return T5Config.from_t5_config(hf)
        if model_type == "nomic_bert":  # rotary BERT with SwiGLU: NomicBertConfig, an extension of this class
            from embedkit.encoders.nomic_bert import NomicBertConfig

            return NomicBertConfig.from_nomic_bert_config(hf)
        if model_type in ("gte", "new"):  # rotary BERT with a gated feed-forward: GteConfig, both dialects
            from embedkit.encoders.gte import GteConfig

            return GteConfig.from_gte_config(hf)
        if model_type == "albert":  # narrow embeddings and layers shared across depth: AlbertConfig
            from embedkit.encoders.albert import AlbertConfig

            return AlbertConfig.from_albert_config(hf)
        if model_type in ("deberta-v2", "deberta"):  # disentangled attention: DebertaV2Config, extending this class
            from embedkit.encoders.deberta_v2 import DebertaV2Config

            return DebertaV2Config.from_deberta_v2_config(hf)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"config.json has model_type={model_type!r}; embedkit supports {SUPPORTED_MODEL_TYPES}"
            )
        position_type = hf.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(f"position_embedding_type={position_type!r} is not supported (only 'absolute')")
        if model_type == "distilbert":
            return cls._from_distilbert_config(hf)
        is_bert = model_type in ("bert", *ROBERTA_TYPES, "electra")  # BERT-style embeddings, a token-type table
        return cls(
            model_type=model_type,
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("hidden_size", 768),
            num_hidden_layers=hf.get("num_hidden_layers", 12),
            num_attention_heads=hf.get("num_attention_heads", 12),
            intermediate_size=hf.get("intermediate_size", 3072),
            hidden_act=hf.get("hidden_act", "gelu"),
            hidden_dropout_prob=hf.get("hidden_dropout_prob", 0.1),
            attention_probs_dropout_prob=hf.get("attention_probs_dropout_prob", 0.1),
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 2) if is_bert else 0,
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12 if is_bert else 1e-5),
            pad_token_id=hf.get("pad_token_id", 0 if model_type in ("bert", "electra") else 1),
            relative_attention_num_buckets=0 if is_bert else hf.get("relative_attention_num_buckets", 32),
            embedding_size=hf.get("embedding_size", 128) if model_type == "electra" else None,
            hf_config=copy.deepcopy(hf),
        )

    @classmethod
    def _from_distilbert_config(cls, hf: dict[str, Any]) -> EncoderConfig:
        """DistilBERT's own key names (``dim``, ``hidden_dim``, ``n_layers``, ...; defaults of transformers'
        DistilBertConfig); its LayerNorms always use eps 1e-12 and it has no token types."""
        return cls(
            model_type="distilbert",
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("dim", 768),
            num_hidden_layers=hf.get("n_layers", 6),
            num_attention_heads=hf.get("n_heads", 12),
            intermediate_size=hf.get("hidden_dim", 3072),
            hidden_act=hf.get("activation", "gelu"),
            hidden_dropout_prob=hf.get("dropout", 0.1),
            attention_probs_dropout_prob=hf.get("attention_dropout", 0.1),
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=0,
            layer_norm_eps=1e-12,
            pad_token_id=hf.get("pad_token_id", 0),
            relative_attention_num_buckets=0,
            sinusoidal_pos_embds=bool(hf.get("sinusoidal_pos_embds", False)),
            hf_config=copy.deepcopy(hf),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (deep copies), so ``type(config)(**config.to_dict())`` builds an equal config.

        Example:
            >>> cfg = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=2,
            ...                     num_attention_heads=4, intermediate_size=64)
            >>> EncoderConfig(**cfg.to_dict()) == cfg, cfg.to_dict()["hidden_size"]
            (True, 32)
        """
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    def get_text_config(self) -> EncoderConfig:
        """The text part of the config: the config itself (as for transformers' text-only models)."""
        return self

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict to save: the original keys, with the interpreted fields written over."""
        out = copy.deepcopy(self.hf_config)
        if self.model_type == "distilbert":
            out.update({key: getattr(self, name) for key, name in DISTILBERT_KEYS.items()})
            out.update(model_type="distilbert", vocab_size=self.vocab_size, pad_token_id=self.pad_token_id,
                       max_position_embeddings=self.max_position_embeddings,
                       sinusoidal_pos_embds=self.sinusoidal_pos_embds)
            return out
        out.update(
            model_type=self.model_type,
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
        )
        if self.model_type == "mpnet":
            out["relative_attention_num_buckets"] = self.relative_attention_num_buckets
        else:
            out["type_vocab_size"] = self.type_vocab_size
        if self.model_type == "electra":
            out["embedding_size"] = self.embedding_size
        return out
