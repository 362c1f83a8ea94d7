"""A decoder with its next-token head: token ids -> logits over the vocabulary (HF ``*ForCausalLM``).

CrossEncoders built on a causal language model (Qwen3-Reranker, mxbai-rerank-v2) read the logits of two tokens
("yes" / "no") at the last position; sentence-transformers 6.x runs them as ``Transformer(transformer_task=
"text-generation")`` + ``LogitScore``. Only the last ``logits_to_keep`` positions go through the head (transformers'
``logits_to_keep``; 0 keeps every position), since the head is as wide as the vocabulary.

The head is one bias-free Linear ``lm_head``, shared with the token embedding when the config ties them
(``tie_word_embeddings``; the default is the family's, as transformers': true for Gemma 2 and 3, false for the
others). Gemma's ``final_logit_softcapping``, when set (Gemma 2: 30 unless config.json says otherwise), bounds the
logits as ``cap * tanh(logits / cap)``.

Legend: B batch, T tokens, K kept positions, D hidden size, V vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders import build_encoder
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.convert import ek_to_hf, split_hf_state_dict
from embedkit.encoders.engine import InferenceEngine
from embedkit.encoders.loading import check_size_before_building, load_strict, rng_untouched
from embedkit.encoders.token_embeddings import resize_rows

# model_type -> the *ForCausalLM architecture written to config.json, and transformers' tie_word_embeddings default.
CAUSAL_LM_ARCHITECTURES = {"qwen3": "Qwen3ForCausalLM", "gemma3_text": "Gemma3ForCausalLM",
                           "gemma2": "Gemma2ForCausalLM", "llama": "LlamaForCausalLM",
                           "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
TIED_BY_DEFAULT = {"qwen3": False, "gemma3_text": True, "gemma2": True, "llama": False, "mistral": False,
                   "qwen2": False}
# transformers' final_logit_softcapping default where a config.json has no such key (Gemma 2 caps at 30).
SOFTCAP_BY_DEFAULT = {"gemma2": 30.0}
HF_PREFIX = "model."  # the decoder's weights inside a *ForCausalLM checkpoint


def is_causal_lm_config(hf_config: dict[str, Any]) -> bool:
    """Whether a config.json describes a ``*ForCausalLM`` checkpoint (its first architecture).

    Example:
        >>> is_causal_lm_config({"architectures": ["Qwen3ForCausalLM"]}), is_causal_lm_config({})
        (True, False)
    """
    architectures = hf_config.get("architectures") or []
    return bool(architectures) and str(architectures[0]).endswith("ForCausalLM")


class CausalLM(nn.Module):
    """Decoder + ``lm_head``: token ids -> logits (B, K, V) of the last K positions.

    Args:
        config: the decoder's shape (``config.hf_config`` is the config.json written back on save).
        tied: share ``lm_head.weight`` with the token embedding.

    Example:
        >>> from embedkit.encoders.qwen3 import Qwen3Config
        >>> cfg = Qwen3Config(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        ...                   num_key_value_heads=2, head_dim=8, intermediate_size=48)
        >>> lm = CausalLM(cfg, tied=True).eval()
        >>> tuple(lm(torch.tensor([[3, 4, 5]])).shape), tuple(lm(torch.tensor([[3, 4, 5]]), logits_to_keep=0).shape)
        ((1, 1, 50), (1, 3, 50))
    """

    def __init__(self, config: EncoderConfig, tied: bool) -> None:
        super().__init__()
        if config.model_type not in CAUSAL_LM_ARCHITECTURES:
            raise ValueError(f"causal language models of {config.model_type} are not supported (text-generation "
                             f"runs on {', '.join(CAUSAL_LM_ARCHITECTURES)})")
        self.config = config
        self.encoder = build_encoder(config, add_pooler=False)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.tied = tied
        if tied:
            self.lm_head.weight = self.encoder.embed.weight
        self.softcap = config.hf_config.get("final_logit_softcapping", SOFTCAP_BY_DEFAULT.get(config.model_type))

    @classmethod
    def from_hf_state_dict(cls, hf_config: dict[str, Any], state_dict: dict[str, Tensor],
                           source: str = "checkpoint") -> CausalLM:
        """Build from a config.json dict and a ``*ForCausalLM`` state dict, loading strictly.

        Raises:
            ValueError: a weight is missing, unexpected or mis-shaped, an untied checkpoint has no ``lm_head``, or a
                tied one holds an ``lm_head`` that differs from the embedding (the message names the source).
        """
        config = EncoderConfig.from_hf_config(hf_config, source)
        tied = bool(hf_config.get("tie_word_embeddings", TIED_BY_DEFAULT.get(config.model_type, False)))
        encoder_state, head_state = split_hf_state_dict(state_dict, config.model_type, source)
        head = head_state.pop("lm_head.weight", None)
        if head_state:
            raise ValueError(f"{source}: unexpected weights for a causal language model: {sorted(head_state)}")
        check_size_before_building(config, False, encoder_state, source)
        with rng_untouched():  # every weight is loaded: the random state stays as the caller left it
            model = cls(config, tied)
            load_strict(model.encoder, encoder_state, source)
            if tied:
                if head is not None and not torch.equal(head, model.encoder.embed.weight):
                    raise ValueError(f"{source}: tie_word_embeddings is true but lm_head.weight differs from the "
                                     "token embedding")
            elif head is None:
                raise ValueError(f"{source}: missing lm_head.weight (tie_word_embeddings is false)")
            else:
                load_strict(model.lm_head, {"weight": head}, source)
        return model

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm_head.weight.dtype

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, logits_to_keep: int = 1) -> Tensor:
        hidden = InferenceEngine(self.encoder)(input_ids, attention_mask).last_hidden_state  # (B, T, D)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]  # (B, K, D)
        logits = self.lm_head(hidden)  # (B, K, V)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def get_input_embeddings(self) -> nn.Embedding:
        """The decoder's token embedding table."""
        return self.encoder.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Linear:
        """The ``lm_head`` (V, D)."""
        return self.lm_head

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the token embedding table and the ``lm_head`` with it (a tied head shares the resized table)."""
        table = self.encoder.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        if not self.tied:
            resize_rows(self.lm_head.weight, table.num_embeddings, mean_resizing)
        self.lm_head.out_features = table.num_embeddings
        return table

    def hf_state_dict(self) -> dict[str, Tensor]:
        """Weights under transformers' ``*ForCausalLM`` names (``lm_head.weight`` only when untied)."""
        encoder = {k: v.detach().contiguous() for k, v in self.encoder.state_dict().items()}
        out = {HF_PREFIX + k: v for k, v in ek_to_hf(encoder, self.config.model_type).items()}
        if not self.tied:
            out["lm_head.weight"] = self.lm_head.weight.detach().contiguous()
        return out

    def hf_config(self) -> dict[str, Any]:
        """The config.json dict to save: decoder fields, the ``*ForCausalLM`` architecture and the tying."""
        out = self.config.to_hf_config()
        out["architectures"] = [CAUSAL_LM_ARCHITECTURES[self.config.model_type]]
        out["tie_word_embeddings"] = self.tied
        return out
