"""Weight-name tables between NomicBERT checkpoints (Nomic's names, which transformers 5 also writes back on save) and
embedkit's :mod:`.nomic_bert`, one literal dict each way (registered in :mod:`.convert`).

Per-layer entries hold the layer index as ``{}``. ``Wqkv`` is the fused query / key / value projection; ``fc11`` is
the feed-forward's value half, ``fc12`` its gate, ``fc2`` the output.
"""

from __future__ import annotations

NOMIC_BERT_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "emb_ln.weight": "embed.norm.weight",
    "emb_ln.bias": "embed.norm.bias",
    "encoder.layers.{}.attn.Wqkv.weight": "layers.{}.attn.qkv.weight",
    "encoder.layers.{}.attn.out_proj.weight": "layers.{}.attn.o.weight",
    "encoder.layers.{}.norm1.weight": "layers.{}.attn_norm.weight",
    "encoder.layers.{}.norm1.bias": "layers.{}.attn_norm.bias",
    "encoder.layers.{}.mlp.fc11.weight": "layers.{}.ffn.up.weight",
    "encoder.layers.{}.mlp.fc12.weight": "layers.{}.ffn.gate.weight",
    "encoder.layers.{}.mlp.fc2.weight": "layers.{}.ffn.down.weight",
    "encoder.layers.{}.norm2.weight": "layers.{}.ffn_norm.weight",
    "encoder.layers.{}.norm2.bias": "layers.{}.ffn_norm.bias",
}

NOMIC_BERT_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.norm.weight": "emb_ln.weight",
    "embed.norm.bias": "emb_ln.bias",
    "layers.{}.attn.qkv.weight": "encoder.layers.{}.attn.Wqkv.weight",
    "layers.{}.attn.o.weight": "encoder.layers.{}.attn.out_proj.weight",
    "layers.{}.attn_norm.weight": "encoder.layers.{}.norm1.weight",
    "layers.{}.attn_norm.bias": "encoder.layers.{}.norm1.bias",
    "layers.{}.ffn.up.weight": "encoder.layers.{}.mlp.fc11.weight",
    "layers.{}.ffn.gate.weight": "encoder.layers.{}.mlp.fc12.weight",
    "layers.{}.ffn.down.weight": "encoder.layers.{}.mlp.fc2.weight",
    "layers.{}.ffn_norm.weight": "encoder.layers.{}.norm2.weight",
    "layers.{}.ffn_norm.bias": "encoder.layers.{}.norm2.bias",
}
