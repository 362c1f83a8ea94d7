"""Weight-name tables between Hugging Face T5 / mT5 checkpoints and embedkit's :mod:`.t5`, one literal dict each way
(registered in :mod:`.convert`).

HF names are those of ``T5EncoderModel`` (what sentence-transformers saves); per-layer entries hold the layer index
as ``{}``. The word embedding is ``shared.weight``, which ``encoder.embed_tokens.weight`` ties to (either or both may
be stored). Only layer 0 holds the relative position bias. The feed-forward keeps T5's names: ``wi`` (T5 1.0) or
``wi_0`` / ``wi_1`` (gated: T5 1.1, mT5), and ``wo``.

Left aside: a full ``T5ForConditionalGeneration`` checkpoint's ``decoder.*`` weights and ``lm_head.weight``, as
sentence-transformers loads only the encoder.
"""

from __future__ import annotations

T5_FROM_HF = {
    "shared.weight": "embed.weight",
    "encoder.embed_tokens.weight": "embed.weight",  # tied to shared.weight
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": "rel_bias.weight",
    "encoder.block.{}.layer.0.layer_norm.weight": "layers.{}.attn_norm.weight",
    "encoder.block.{}.layer.0.SelfAttention.q.weight": "layers.{}.attn.q.weight",
    "encoder.block.{}.layer.0.SelfAttention.k.weight": "layers.{}.attn.k.weight",
    "encoder.block.{}.layer.0.SelfAttention.v.weight": "layers.{}.attn.v.weight",
    "encoder.block.{}.layer.0.SelfAttention.o.weight": "layers.{}.attn.o.weight",
    "encoder.block.{}.layer.1.layer_norm.weight": "layers.{}.ffn_norm.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi.weight": "layers.{}.ffn.wi.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi_0.weight": "layers.{}.ffn.wi_0.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi_1.weight": "layers.{}.ffn.wi_1.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wo.weight": "layers.{}.ffn.wo.weight",
    "encoder.final_layer_norm.weight": "final_norm.weight",
}

T5_TO_HF = {
    "embed.weight": "shared.weight",
    "rel_bias.weight": "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    "layers.{}.attn_norm.weight": "encoder.block.{}.layer.0.layer_norm.weight",
    "layers.{}.attn.q.weight": "encoder.block.{}.layer.0.SelfAttention.q.weight",
    "layers.{}.attn.k.weight": "encoder.block.{}.layer.0.SelfAttention.k.weight",
    "layers.{}.attn.v.weight": "encoder.block.{}.layer.0.SelfAttention.v.weight",
    "layers.{}.attn.o.weight": "encoder.block.{}.layer.0.SelfAttention.o.weight",
    "layers.{}.ffn_norm.weight": "encoder.block.{}.layer.1.layer_norm.weight",
    "layers.{}.ffn.wi.weight": "encoder.block.{}.layer.1.DenseReluDense.wi.weight",
    "layers.{}.ffn.wi_0.weight": "encoder.block.{}.layer.1.DenseReluDense.wi_0.weight",
    "layers.{}.ffn.wi_1.weight": "encoder.block.{}.layer.1.DenseReluDense.wi_1.weight",
    "layers.{}.ffn.wo.weight": "encoder.block.{}.layer.1.DenseReluDense.wo.weight",
    "final_norm.weight": "encoder.final_layer_norm.weight",
}

# UMT5: the same names, except that every layer holds its own relative position bias.
UMT5_FROM_HF = {
    "shared.weight": "embed.weight",
    "encoder.embed_tokens.weight": "embed.weight",  # tied to shared.weight
    "encoder.block.{}.layer.0.SelfAttention.relative_attention_bias.weight": "layers.{}.rel_bias.weight",
    "encoder.block.{}.layer.0.layer_norm.weight": "layers.{}.attn_norm.weight",
    "encoder.block.{}.layer.0.SelfAttention.q.weight": "layers.{}.attn.q.weight",
    "encoder.block.{}.layer.0.SelfAttention.k.weight": "layers.{}.attn.k.weight",
    "encoder.block.{}.layer.0.SelfAttention.v.weight": "layers.{}.attn.v.weight",
    "encoder.block.{}.layer.0.SelfAttention.o.weight": "layers.{}.attn.o.weight",
    "encoder.block.{}.layer.1.layer_norm.weight": "layers.{}.ffn_norm.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi.weight": "layers.{}.ffn.wi.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi_0.weight": "layers.{}.ffn.wi_0.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi_1.weight": "layers.{}.ffn.wi_1.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wo.weight": "layers.{}.ffn.wo.weight",
    "encoder.final_layer_norm.weight": "final_norm.weight",
}

UMT5_TO_HF = {
    "embed.weight": "shared.weight",
    "layers.{}.rel_bias.weight": "encoder.block.{}.layer.0.SelfAttention.relative_attention_bias.weight",
    "layers.{}.attn_norm.weight": "encoder.block.{}.layer.0.layer_norm.weight",
    "layers.{}.attn.q.weight": "encoder.block.{}.layer.0.SelfAttention.q.weight",
    "layers.{}.attn.k.weight": "encoder.block.{}.layer.0.SelfAttention.k.weight",
    "layers.{}.attn.v.weight": "encoder.block.{}.layer.0.SelfAttention.v.weight",
    "layers.{}.attn.o.weight": "encoder.block.{}.layer.0.SelfAttention.o.weight",
    "layers.{}.ffn_norm.weight": "encoder.block.{}.layer.1.layer_norm.weight",
    "layers.{}.ffn.wi.weight": "encoder.block.{}.layer.1.DenseReluDense.wi.weight",
    "layers.{}.ffn.wi_0.weight": "encoder.block.{}.layer.1.DenseReluDense.wi_0.weight",
    "layers.{}.ffn.wi_1.weight": "encoder.block.{}.layer.1.DenseReluDense.wi_1.weight",
    "layers.{}.ffn.wo.weight": "encoder.block.{}.layer.1.DenseReluDense.wo.weight",
    "final_norm.weight": "encoder.final_layer_norm.weight",
}

# Head weights, HF name -> embedkit name (as convert.split_hf_state_dict returns them): the language-model head.
T5_HEADS_FROM_HF = {
    "lm_head.weight": "lm_head.weight",  # T5ForConditionalGeneration's, after the decoder: not used for embeddings
}

# Prefixes of weights that belong to a part sentence-transformers does not load (kept under their HF names).
T5_LEFT_ASIDE_PREFIXES = ("decoder.",)
