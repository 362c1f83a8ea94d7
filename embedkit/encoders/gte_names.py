"""Weight-name tables between GTE checkpoints (Alibaba's names, which transformers 5 also writes back on save) and
embedkit's :mod:`.gte`, one literal dict each way (registered in :mod:`.convert`).

Per-layer entries hold the layer index as ``{}``. ``qkv_proj`` is the fused query / key / value projection,
``up_gate_proj`` the feed-forward's fused value and gate halves (value first). A classifier checkpoint prefixes the
encoder with ``gte.`` (transformers) or ``new.`` (Alibaba's original), as does a masked-LM one.
"""

from __future__ import annotations

GTE_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.layer.{}.attention.qkv_proj.weight": "layers.{}.attn.qkv.weight",
    "encoder.layer.{}.attention.qkv_proj.bias": "layers.{}.attn.qkv.bias",
    "encoder.layer.{}.attention.o_proj.weight": "layers.{}.attn.o.weight",
    "encoder.layer.{}.attention.o_proj.bias": "layers.{}.attn.o.bias",
    "encoder.layer.{}.attn_ln.weight": "layers.{}.attn_norm.weight",
    "encoder.layer.{}.attn_ln.bias": "layers.{}.attn_norm.bias",
    "encoder.layer.{}.mlp.up_gate_proj.weight": "layers.{}.ffn.up_gate.weight",
    "encoder.layer.{}.mlp.down_proj.weight": "layers.{}.ffn.down.weight",
    "encoder.layer.{}.mlp.down_proj.bias": "layers.{}.ffn.down.bias",
    "encoder.layer.{}.mlp_ln.weight": "layers.{}.ffn_norm.weight",
    "encoder.layer.{}.mlp_ln.bias": "layers.{}.ffn_norm.bias",
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

GTE_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "layers.{}.attn.qkv.weight": "encoder.layer.{}.attention.qkv_proj.weight",
    "layers.{}.attn.qkv.bias": "encoder.layer.{}.attention.qkv_proj.bias",
    "layers.{}.attn.o.weight": "encoder.layer.{}.attention.o_proj.weight",
    "layers.{}.attn.o.bias": "encoder.layer.{}.attention.o_proj.bias",
    "layers.{}.attn_norm.weight": "encoder.layer.{}.attn_ln.weight",
    "layers.{}.attn_norm.bias": "encoder.layer.{}.attn_ln.bias",
    "layers.{}.ffn.up_gate.weight": "encoder.layer.{}.mlp.up_gate_proj.weight",
    "layers.{}.ffn.down.weight": "encoder.layer.{}.mlp.down_proj.weight",
    "layers.{}.ffn.down.bias": "encoder.layer.{}.mlp.down_proj.bias",
    "layers.{}.ffn_norm.weight": "encoder.layer.{}.mlp_ln.weight",
    "layers.{}.ffn_norm.bias": "encoder.layer.{}.mlp_ln.bias",
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

# The heads: *ForSequenceClassification's classifier (BERT's: on the pooler output) and *ForMaskedLM's lm_head
# (dense -> GELU -> LayerNorm ``norm`` -> decoder, whose weight is tied to the word embeddings and whose bias is its
# own), under the names :mod:`.mlm_heads` reads.
GTE_HEADS_FROM_HF = {
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
    "lm_head.dense.weight": "mlm.dense.weight",
    "lm_head.dense.bias": "mlm.dense.bias",
    "lm_head.norm.weight": "mlm.norm.weight",
    "lm_head.norm.bias": "mlm.norm.bias",
    "lm_head.decoder.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "lm_head.decoder.bias": "mlm.bias",
}
GTE_MLM_TO_HF = {
    "dense.weight": "lm_head.dense.weight",
    "dense.bias": "lm_head.dense.bias",
    "norm.weight": "lm_head.norm.weight",
    "norm.bias": "lm_head.norm.bias",
    "bias": "lm_head.decoder.bias",
    "decoder.weight": "lm_head.decoder.weight",  # only when not tied to the word embeddings
}
