"""Weight-name tables between Hugging Face Llama / Mistral / Qwen2 checkpoints and embedkit's :mod:`.llama`, one
literal dict each way (registered in :mod:`.convert`).

HF names are given after the ``model.`` prefix that ``*For*`` checkpoints add (a bare ``*Model`` has none); per-layer
entries hold the layer index as ``{}``. The attention biases appear as the family has them (Llama with
``attention_bias``: all four; Qwen2: query, key, value), the feed-forward biases only with Llama's ``mlp_bias``.
Head weights are the decoders' shared ones (:data:`~embedkit.encoders.qwen3_names.QWEN3_HEADS_FROM_HF`: ``lm_head``
left aside, ``score``).
"""

from __future__ import annotations

LLAMA_FROM_HF = {
    "embed_tokens.weight": "embed.weight",
    "layers.{}.input_layernorm.weight": "layers.{}.attn_norm.weight",
    "layers.{}.self_attn.q_proj.weight": "layers.{}.attn.q.weight",
    "layers.{}.self_attn.q_proj.bias": "layers.{}.attn.q.bias",
    "layers.{}.self_attn.k_proj.weight": "layers.{}.attn.k.weight",
    "layers.{}.self_attn.k_proj.bias": "layers.{}.attn.k.bias",
    "layers.{}.self_attn.v_proj.weight": "layers.{}.attn.v.weight",
    "layers.{}.self_attn.v_proj.bias": "layers.{}.attn.v.bias",
    "layers.{}.self_attn.o_proj.weight": "layers.{}.attn.o.weight",
    "layers.{}.self_attn.o_proj.bias": "layers.{}.attn.o.bias",
    "layers.{}.post_attention_layernorm.weight": "layers.{}.mlp_norm.weight",
    "layers.{}.mlp.gate_proj.weight": "layers.{}.mlp.gate.weight",
    "layers.{}.mlp.gate_proj.bias": "layers.{}.mlp.gate.bias",
    "layers.{}.mlp.up_proj.weight": "layers.{}.mlp.up.weight",
    "layers.{}.mlp.up_proj.bias": "layers.{}.mlp.up.bias",
    "layers.{}.mlp.down_proj.weight": "layers.{}.mlp.down.weight",
    "layers.{}.mlp.down_proj.bias": "layers.{}.mlp.down.bias",
    "norm.weight": "final_norm.weight",
}

LLAMA_TO_HF = {
    "embed.weight": "embed_tokens.weight",
    "layers.{}.attn_norm.weight": "layers.{}.input_layernorm.weight",
    "layers.{}.attn.q.weight": "layers.{}.self_attn.q_proj.weight",
    "layers.{}.attn.q.bias": "layers.{}.self_attn.q_proj.bias",
    "layers.{}.attn.k.weight": "layers.{}.self_attn.k_proj.weight",
    "layers.{}.attn.k.bias": "layers.{}.self_attn.k_proj.bias",
    "layers.{}.attn.v.weight": "layers.{}.self_attn.v_proj.weight",
    "layers.{}.attn.v.bias": "layers.{}.self_attn.v_proj.bias",
    "layers.{}.attn.o.weight": "layers.{}.self_attn.o_proj.weight",
    "layers.{}.attn.o.bias": "layers.{}.self_attn.o_proj.bias",
    "layers.{}.mlp_norm.weight": "layers.{}.post_attention_layernorm.weight",
    "layers.{}.mlp.gate.weight": "layers.{}.mlp.gate_proj.weight",
    "layers.{}.mlp.gate.bias": "layers.{}.mlp.gate_proj.bias",
    "layers.{}.mlp.up.weight": "layers.{}.mlp.up_proj.weight",
    "layers.{}.mlp.up.bias": "layers.{}.mlp.up_proj.bias",
    "layers.{}.mlp.down.weight": "layers.{}.mlp.down_proj.weight",
    "layers.{}.mlp.down.bias": "layers.{}.mlp.down_proj.bias",
    "final_norm.weight": "norm.weight",
}

# EuroBERT's heads (``*ForSequenceClassification``: ``dense`` then ``classifier`` on the pooled or every token;
# ``*ForMaskedLM``: ``lm_head``, left aside by embedding models), HF name -> embedkit name.
EUROBERT_HEADS_FROM_HF = {
    "dense.weight": "classifier.dense.weight",
    "dense.bias": "classifier.dense.bias",
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
}
EUROBERT_CLASSIFIER_TO_HF = {
    "dense.weight": "dense.weight",
    "dense.bias": "dense.bias",
    "out.weight": "classifier.weight",
    "out.bias": "classifier.bias",
}
EUROBERT_LEFT_ASIDE_PREFIXES = ("lm_head.",)
