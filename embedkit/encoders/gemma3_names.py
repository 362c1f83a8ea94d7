"""Weight-name tables between Hugging Face Gemma 3 text checkpoints and embedkit's :mod:`.gemma3`, one literal dict
each way (registered in :mod:`.convert`).

HF names are given after the ``model.`` prefix that ``Gemma3ForCausalLM`` / ``Gemma3TextForSequenceClassification``
checkpoints add (a bare ``Gemma3TextModel``, as EmbeddingGemma ships, has none); per-layer entries hold the layer
index as ``{}``. The projection biases appear only when the config has ``attention_bias``. Head weights are the
decoders' shared ones (:data:`~embedkit.encoders.qwen3_names.QWEN3_HEADS_FROM_HF`: ``lm_head`` left aside, ``score``).
"""

from __future__ import annotations

GEMMA3_FROM_HF = {
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
    "layers.{}.self_attn.q_norm.weight": "layers.{}.attn.q_norm.weight",
    "layers.{}.self_attn.k_norm.weight": "layers.{}.attn.k_norm.weight",
    "layers.{}.post_attention_layernorm.weight": "layers.{}.attn_out_norm.weight",
    "layers.{}.pre_feedforward_layernorm.weight": "layers.{}.mlp_norm.weight",
    "layers.{}.mlp.gate_proj.weight": "layers.{}.mlp.gate.weight",
    "layers.{}.mlp.up_proj.weight": "layers.{}.mlp.up.weight",
    "layers.{}.mlp.down_proj.weight": "layers.{}.mlp.down.weight",
    "layers.{}.post_feedforward_layernorm.weight": "layers.{}.mlp_out_norm.weight",
    "norm.weight": "final_norm.weight",
}

GEMMA3_TO_HF = {
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
    "layers.{}.attn.q_norm.weight": "layers.{}.self_attn.q_norm.weight",
    "layers.{}.attn.k_norm.weight": "layers.{}.self_attn.k_norm.weight",
    "layers.{}.attn_out_norm.weight": "layers.{}.post_attention_layernorm.weight",
    "layers.{}.mlp_norm.weight": "layers.{}.pre_feedforward_layernorm.weight",
    "layers.{}.mlp.gate.weight": "layers.{}.mlp.gate_proj.weight",
    "layers.{}.mlp.up.weight": "layers.{}.mlp.up_proj.weight",
    "layers.{}.mlp.down.weight": "layers.{}.mlp.down_proj.weight",
    "layers.{}.mlp_out_norm.weight": "layers.{}.post_feedforward_layernorm.weight",
    "final_norm.weight": "norm.weight",
}
