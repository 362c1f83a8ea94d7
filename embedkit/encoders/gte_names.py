"""Weight-name tables between GTE checkpoints (Alibaba's names, which transformers 5 also writes back on save) and
embedkit's :mod:`.gte`, one literal dict each way (registered in :mod:`.convert`).

Per-layer entries hold the layer index as ``{}``. ``qkv_proj`` is the fused query / key / value projection,
``up_gate_proj`` the feed-forward's fused value and gate halves (value first). A classifier checkpoint prefixes the
encoder with ``gte.`` (transformers) or ``new.`` (Alibaba's original); the masked-LM head (``lm_head.*``) is left
aside by embedding models.
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

# The classifier of *ForSequenceClassification (BERT's: on the pooler output)
GTE_HEADS_FROM_HF = {
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
}
GTE_LEFT_ASIDE_PREFIXES = ("lm_head.",)
